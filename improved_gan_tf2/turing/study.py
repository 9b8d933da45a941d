"""A study file (TOML): the conditions of a visual Turing test, each a set of generated images against a set of
real ones, loaded and checked in full before anything is served.

```toml
title = "CIFAR-10: real or generated?"        # optional, shown on the page
instructions = "..."                          # optional, shown on the page
inception_model_dir = "/path/to/inception"    # optional: where the Inception graph is (for top_percent)

[[condition]]
name = "cifar_feedback"        # letters, digits, '_', '-', '.'; used in the page's address /c/NAME
generated = "samples.npz"      # uint8 (N, H, W, 3), (N, H, W, 1) or (N, H, W); paths relative to this file
real = "cifar_test.npz"        # same format and the same H, W and channels as the generated images
generated_key = "x"            # optional: the array's name in an .npz holding several
real_key = "x"                 # optional
feedback = true                # tell the annotator after each answer whether it was right
n_generated = 50               # generated images shown to each annotator
n_real = 50                    # real images shown to each annotator
top_percent = 1                # optional: only the top 1 % of the generated images by their own term of the
                               # Inception score, KL(p(y|x) || p(y)) (Salimans et al. 2016, Sec. 4)
```

Every error is a :class:`StudyError` whose message is one line naming the file, the condition and the key.
"""
import dataclasses
import hashlib
import json
import math
import os
import re
import tomllib

import numpy as np

from inception_score.model import (  # numpy only at import: no TensorFlow
    ArrayKeyError, UnreadableArrayError, as_rgb, read_array_file)

TOP_KEYS = {"title", "instructions", "inception_model_dir", "condition"}
CONDITION_KEYS = {"name", "generated", "real", "generated_key", "real_key", "feedback", "n_generated", "n_real",
                  "top_percent"}
REQUIRED_CONDITION_KEYS = ("name", "generated", "real", "feedback", "n_generated", "n_real")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class TuringError(ValueError):
    """A user error (bad study file, database, port, ...) reported as one line, without a traceback."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split()))  # always one line


class StudyError(TuringError):
    """A study file that cannot be served."""


@dataclasses.dataclass
class ImageSet:
    """One image file's array, NHWC uint8 (grayscale as C = 1), with its provenance."""

    path: str
    key: str
    images: np.ndarray
    sha256: str

    @property
    def shape(self):
        return self.images.shape[1:]


@dataclasses.dataclass
class Condition:
    name: str
    feedback: bool
    n_generated: int
    n_real: int
    generated: ImageSet
    real: ImageSet
    top_percent: float = None
    # Indices into generated.images that may be shown: all of them, or (top_percent) the best ones, set by
    # select_top() -- None until then.
    generated_pool: np.ndarray = None

    @property
    def n_total(self):
        return self.n_generated + self.n_real

    @property
    def top_count(self):
        """How many generated images top_percent keeps (at least 1), or all of them."""
        n = len(self.generated.images)
        if self.top_percent is None:
            return n
        return max(1, min(n, math.ceil(n * self.top_percent / 100.0 - 1e-9)))

    def config(self):
        """What identifies this condition's images and design, for the votes database."""
        return {
            "feedback": self.feedback, "n_generated": self.n_generated, "n_real": self.n_real,
            "top_percent": self.top_percent, "generated_sha256": self.generated.sha256,
            "generated_key": self.generated.key, "real_sha256": self.real.sha256, "real_key": self.real.key,
            "image_shape": list(self.generated.shape),
        }


@dataclasses.dataclass
class Study:
    path: str
    title: str
    instructions: str
    inception_model_dir: str
    conditions: dict  # name -> Condition, in file order

    def needs_inception(self):
        return [c for c in self.conditions.values() if c.top_percent is not None and c.generated_pool is None]


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_image_set(path, key, what):
    """The uint8 NHWC images of a ``.npz`` (or ``.npy``) file; ``what`` prefixes every error message."""
    if not os.path.exists(path):
        raise StudyError("%s: %s: no such file; give an existing .npz file of uint8 images" % (what, path))
    if os.path.isdir(path):
        raise StudyError("%s: %s is a directory; give a .npz file of uint8 images" % (what, path))
    lower = path.lower()
    if not lower.endswith((".npz", ".npy")):
        raise StudyError("%s: %s: expected a .npz (or .npy) file of uint8 images" % (what, path))
    if lower.endswith(".npy") and key is not None:
        raise StudyError("%s: %s is a .npy file, which has no named arrays; remove the key setting" % (what, path))
    try:
        array, key = read_array_file(path, key)
    except ArrayKeyError as e:
        if e.key is not None:
            raise StudyError("%s: %s has no array named '%s' (it has: %s)"
                             % (what, path, e.key, ", ".join(e.keys) or "none"))
        raise StudyError("%s: %s holds %s arrays (%s): choose one with %s_key"
                         % (what, path, len(e.keys) or "no", ", ".join(e.keys), what.split()[-1]))
    except UnreadableArrayError as e:
        raise StudyError("%s: %s: cannot read the array: it %s; restore the file from a copy or write it again"
                         % (what, path, e.reason))
    if key is None:  # a .npy file
        key = ""
    if array.dtype != np.uint8:
        hint = ""
        if np.issubdtype(array.dtype, np.floating):
            hint = "; images in [-1, 1] map to 0..255 with ((x + 1) * 127.5).round().astype(np.uint8)"
        raise StudyError("%s: %s: expected uint8 pixels in 0..255, got %s%s" % (what, path, array.dtype, hint))
    if array.ndim == 3:
        array = array[..., None]  # (N, H, W) grayscale, e.g. MNIST
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        hint = ""
        if array.ndim == 4 and array.shape[1] in (1, 3):
            hint = " (this looks like NCHW: save images.transpose(0, 2, 3, 1))"
        raise StudyError("%s: %s: expected images of shape (N, H, W, 3), (N, H, W, 1) or (N, H, W), got %s%s"
                         % (what, path, array.shape, hint))
    if 0 in array.shape:
        raise StudyError("%s: %s: no images (shape %s)" % (what, path, array.shape))
    return ImageSet(path=path, key=key, images=array, sha256=_sha256(path))


def _check_type(value, types, where, description):
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        raise StudyError("%s must be %s, got %r" % (where, description, value))
    return value


def load_study(path):
    """Read and check ``path``; the generated pools of top_percent conditions are left for :func:`select_top`."""
    if os.path.isdir(path):
        raise StudyError("%s is a directory, not a study file; give the study file (make-study writes one)" % path)
    if not os.path.isfile(path):
        raise StudyError("%s: no such study file; give an existing one (make-study writes one)" % path)
    fix = "correct it, or write it again with make-study"
    try:
        with open(path, "rb") as f:
            data = tomllib.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise StudyError("%s: not UTF-8 text (byte %d); %s" % (path, e.start, fix))
    except tomllib.TOMLDecodeError as e:
        raise StudyError("%s: invalid TOML: %s; %s" % (path, e, fix))
    except OSError as e:
        raise StudyError("%s: cannot read the study file (%s); make it readable" % (path, e))
    base = os.path.dirname(os.path.abspath(path))
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise StudyError("%s: unknown key '%s' (known: %s)" % (path, unknown[0], ", ".join(sorted(TOP_KEYS))))
    for key in ("title", "instructions", "inception_model_dir"):
        if key in data:
            _check_type(data[key], (str,), "%s: %s" % (path, key), "a string")
    conditions_data = data.get("condition")
    if not conditions_data:
        raise StudyError("%s: no conditions: add at least one [[condition]] table" % path)
    if not isinstance(conditions_data, list):
        raise StudyError("%s: 'condition' must be an array of tables ([[condition]])" % path)
    files = {}  # (path, key) -> ImageSet, each file read once
    conditions = {}
    for i, c in enumerate(conditions_data):
        where = "%s: condition %d" % (path, i + 1)
        if not isinstance(c, dict):
            raise StudyError("%s must be a table" % where)
        if isinstance(c.get("name"), str):
            where = "%s: condition '%s'" % (path, c["name"])
        unknown = sorted(set(c) - CONDITION_KEYS)
        if unknown:
            raise StudyError("%s: unknown key '%s' (known: %s)"
                             % (where, unknown[0], ", ".join(sorted(CONDITION_KEYS))))
        for key in REQUIRED_CONDITION_KEYS:
            if key not in c:
                raise StudyError("%s: missing key '%s'" % (where, key))
        name = _check_type(c["name"], (str,), where + ": name", "a string")
        if not NAME_RE.match(name):
            raise StudyError("%s: name must be 1 to 64 letters, digits, '_', '-' or '.'" % where)
        if name in conditions:
            raise StudyError("%s: a condition of this name comes earlier in the file" % where)
        feedback = _check_type(c["feedback"], (bool,), where + ": feedback", "true or false")
        counts = {}
        for key in ("n_generated", "n_real"):
            counts[key] = _check_type(c[key], (int,), "%s: %s" % (where, key), "a positive integer")
            if counts[key] < 1:
                raise StudyError("%s: %s must be a positive integer, got %d" % (where, key, counts[key]))
        top = c.get("top_percent")
        if top is not None:
            top = float(_check_type(top, (int, float), where + ": top_percent", "a number in (0, 100]"))
            if not 0 < top <= 100:
                raise StudyError("%s: top_percent must be in (0, 100], got %g" % (where, top))
        sets = {}
        for kind in ("generated", "real"):
            file = _check_type(c[kind], (str,), "%s: %s" % (where, kind), "a file name")
            key = c.get(kind + "_key")
            if key is not None:
                _check_type(key, (str,), "%s: %s_key" % (where, kind), "a string")
            full = os.path.normpath(os.path.join(base, os.path.expanduser(file)))
            if (full, key) not in files:
                files[(full, key)] = load_image_set(full, key, "%s: %s" % (where, kind))
            sets[kind] = files[(full, key)]
        g, r = sets["generated"], sets["real"]
        if g.shape != r.shape:
            raise StudyError("%s: generated images are %s but real images are %s (H, W, C): they must match, "
                             "or the size alone gives the answer away"
                             % (where, "x".join(map(str, g.shape)), "x".join(map(str, r.shape))))
        cond = Condition(name=name, feedback=feedback, n_generated=counts["n_generated"],
                         n_real=counts["n_real"], generated=g, real=r, top_percent=top)
        if cond.n_real > len(r.images):
            raise StudyError("%s: n_real = %d but %s holds only %d real images"
                             % (where, cond.n_real, r.path, len(r.images)))
        if cond.n_generated > cond.top_count:
            if top is None:
                raise StudyError("%s: n_generated = %d but %s holds only %d generated images"
                                 % (where, cond.n_generated, g.path, len(g.images)))
            raise StudyError("%s: n_generated = %d but top_percent = %g keeps only %d of the %d generated images"
                             % (where, cond.n_generated, top, cond.top_count, len(g.images)))
        if top is None:
            cond.generated_pool = np.arange(len(g.images))
        conditions[name] = cond
    model_dir = data.get("inception_model_dir")
    if model_dir is not None:
        model_dir = os.path.normpath(os.path.join(base, os.path.expanduser(model_dir)))
    return Study(path=path, title=data.get("title", "Real or generated?"), instructions=data.get("instructions"),
                 inception_model_dir=model_dir, conditions=conditions)


def toml_value(value):
    """``value`` (bool, int, float or string) as a TOML value; a string as a JSON string, a valid TOML basic
    string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def write_study_file(path, conditions, comment=None, **top):
    """Write a study file :func:`load_study` reads: ``# comment``, the top-level keys ``top``, then one
    ``[[condition]]`` table per dict of ``conditions``, keys in the given order; keys whose value is None are left
    out (the optional ones)."""
    lines = ["# " + comment] if comment else []
    lines += ["%s = %s" % (k, toml_value(v)) for k, v in top.items() if v is not None]
    for cond in conditions:
        lines += ["", "[[condition]]"] + ["%s = %s" % (k, toml_value(v)) for k, v in cond.items() if v is not None]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def top_indices(kl_terms, count):
    """Indices, in ascending order, of the ``count`` largest terms (among equal terms the lower index wins)."""
    order = np.argsort(-np.asarray(kl_terms, np.float64), kind="stable")
    return np.sort(order[:count])


def select_top(study, cached=None, batch_size=100, verbose=False):
    """Fill ``generated_pool`` of the top_percent conditions from the images' KL terms (one Inception run per
    generated file). ``cached``: condition name -> pool already computed for the same file and settings.
    Raises :class:`StudyError` (one line) when the Inception graph cannot be had."""
    cached = cached or {}
    terms = {}
    for cond in study.needs_inception():
        if cond.name in cached:
            cond.generated_pool = np.asarray(cached[cond.name], np.int64)
            continue
        g = cond.generated
        if (g.path, g.key) not in terms:
            from inception_score import model

            try:
                terms[(g.path, g.key)] = model.get_kl_terms(as_rgb(g.images), batch_size=batch_size,
                                                            model_dir=study.inception_model_dir, verbose=verbose)
            except (OSError, ValueError) as e:  # graph missing or unreadable
                raise StudyError("condition '%s': top_percent needs the Inception graph: %s" % (cond.name, e))
        cond.generated_pool = top_indices(terms[(g.path, g.key)], cond.top_count)
    return study
