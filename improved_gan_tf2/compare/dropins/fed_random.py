"""The random numbers the comparison feeds to both sides: generator noise z, Gaussian-noise normals and dropout
uniforms, the same arrays for the original (Theano) and for the port (TensorFlow).

Written for improved-gan-tf2's comparison tool; pure NumPy (it runs in the original's environment, NumPy < 1.24,
and in the port's), it imports nothing of either side.

Every array is a function of a seed and a key (the iteration, the phase of the iteration, the layer and the passes
of one call), drawn from a Philox stream whose key is a hash of both: the two processes compute the same arrays
independently, in any order, for any number of steps. Uniforms are odd multiples of ``2**-24`` in (0, 1): exact in
float32 and float64 alike (so that both precisions see the same numbers), never 0 or 1, and never equal to a
dropout rate of the form ``k / 2**23`` (0.5, 0.25, ...), so that ``u >= rate`` (the port) and ``1 - u < 1 - rate``
(the original's ``uniform < retain_prob``, fed ``1 - u``) keep the same units.

Calls. Each network pass of the port is one call of each random layer; a call covers one or more of the
original's passes, concatenated along the batch in the port's order (:func:`calls`): the port's joint
discriminator pass ``[x_lab; x_unl; generated]`` is one call of each layer, the original makes three. The
arrays are drawn per call in the port's layout (NHWC for images) and split by rows for the original (and
transposed to NCHW).
"""
import hashlib

import numpy as np

#: The passes of one training iteration, by phase: the init pass, the discriminator step, a generator step.
INIT, LAB, UNL, FAKE, REAL = "init", "lab", "unl", "fake", "real"
Z_DIM = 100


def calls(phase, joint_discriminator_pass, feature_matching):
    """The calls of each random layer of the discriminator in one phase, in the port's order: a list of pass
    tuples. ``phase``: ``"init"``, ``"disc"`` or ``"gen"`` (any generator step)."""
    if phase == "init":
        return [(INIT,)]
    if phase == "disc":
        return [(LAB, UNL, FAKE)] if joint_discriminator_pass else [(LAB,), (UNL,), (FAKE,)]
    if phase == "gen":
        return [(REAL,), (FAKE,)] if feature_matching else [(FAKE,)]
    raise ValueError(f"unknown phase {phase!r}")


def phase_kind(phase):
    """``"init"``, ``"disc"`` or ``"gen"`` for a phase name (``"gen"`` covers ``"gen0"``, ``"gen1"``, ...)."""
    return "gen" if phase.startswith("gen") else phase


def _philox(seed, key):
    digest = hashlib.sha256(("%d|%s" % (int(seed), key)).encode("utf-8")).digest()
    words = np.frombuffer(digest[:16], dtype="<u8").astype(np.uint64)
    return np.random.Philox(key=words)


def uniforms(seed, key, shape):
    """Uniforms in (0, 1), odd multiples of 2**-24, float64, of ``shape``: the same numbers for the same ``seed``
    and ``key`` (a string) in every process and NumPy version (raw 64-bit Philox output, bits 41-63)."""
    shape = tuple(int(s) for s in shape)
    count = int(np.prod(shape)) if shape else 1
    raw = _philox(seed, key).random_raw(count).astype(np.uint64)
    top = (raw >> np.uint64(41)).astype(np.float64)
    return ((2.0 * top + 1.0) * 2.0 ** -24).reshape(shape)


def box_muller(pairs, count):
    """Standard normals from uniforms of shape ``(2, ceil(count / 2))`` as the port's ``box_muller_normal``
    computes them: ``r = sqrt(-2 ln(1 - u0))``, ``a = 2 pi u1``, ``r cos a`` then ``r sin a``, the first
    ``count``."""
    pairs = np.asarray(pairs, np.float64)
    radius = np.sqrt(np.log1p(-pairs[0]) * -2.0)
    angle = (2.0 * np.pi) * pairs[1]
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:count]


def call_key(where, layer, passes):
    """The key of one call: ``where`` (``"init"`` or ``"<iteration>/<phase>"``), the layer's ordinal among the
    discriminator's random layers, and the passes the call covers."""
    return "%s/layer%d/%s" % (where, int(layer), "+".join(passes))


def noise_uniforms(seed, where, layer, passes, rows, features):
    """The uniforms the port's Gaussian-noise layer draws for one call: shape ``(2, ceil(n / 2))`` with
    ``n = sum(rows) * prod(features)`` (``features`` in the port's layout)."""
    count = int(sum(rows)) * int(np.prod(features))
    return uniforms(seed, call_key(where, layer, passes), (2, (count + 1) // 2))


def noise_normals(seed, where, layer, passes, rows, features):
    """The standard normals of one call, shape ``(sum(rows),) + features`` (port layout): the Box-Muller of
    :func:`noise_uniforms`."""
    count = int(sum(rows)) * int(np.prod(features))
    pairs = noise_uniforms(seed, where, layer, passes, rows, features)
    return box_muller(pairs, count).reshape((int(sum(rows)),) + tuple(features))


def dropout_uniforms(seed, where, layer, passes, rows, features):
    """The uniforms of one call of a dropout layer, shape ``(sum(rows),) + features`` (port layout); the port
    keeps a unit where ``u >= rate``."""
    return uniforms(seed, call_key(where, layer, passes), (int(sum(rows)),) + tuple(features))


def z(seed, where, rows, dim=Z_DIM):
    """The generator noise of one call, uniform in (0, 1), shape ``(rows, dim)``."""
    return uniforms(seed, "%s/z" % where, (int(rows), int(dim)))


def split_rows(array, passes, rows, wanted):
    """The rows of pass ``wanted`` in ``array`` (the passes concatenated in order, ``rows`` each)."""
    start = 0
    for name, count in zip(passes, rows):
        if name == wanted:
            return array[start:start + int(count)]
        start += int(count)
    raise KeyError("pass %r is not among %r" % (wanted, passes))


def to_original_layout(array):
    """Port layout to the original's: NHWC to NCHW for 4-D arrays, anything else unchanged."""
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2)) if array.ndim == 4 else array


def port_features(original_features):
    """The port's per-example shape for the original's: ``(C, H, W)`` becomes ``(H, W, C)``."""
    original_features = tuple(int(s) for s in original_features)
    if len(original_features) == 3:
        c, h, w = original_features
        return (h, w, c)
    return original_features
