"""A patched copy of the original's ``mnist_svhn_cifar10/``, made from a user's checkout.

Nothing of the original is stored here: each patch names a small snippet that must occur in the user's file
(exactly the expected number of times) and what replaces it. A snippet that is not found means the checkout is
not the release these patches were written for, and :func:`make_patched_copy` stops with a one-line message
naming the file and the snippet. The user's checkout is only read; the copy is written elsewhere.

The patches are Python 3 fixes (integer division, ``cPickle``, ``scipy.misc.imsave``), CPU stand-ins for the
cuDNN layers (``dropins/cudnn_standins.py``, copied next to the scripts), an ``--epochs`` flag, ``type=int`` on
the flags the CIFAR scripts declared without a type, and reading CIFAR batches of any length (the original's
reader assumes 10,000 images per batch file). None of them changes what a training step computes.
"""
import dataclasses
import os
import shutil
from typing import List

from improved_gan_tf2.compare.scripts import ORIGINAL_SUBDIR, SCRIPTS, SUPPORT_FILES, UsageError

DROPINS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dropins")
DROPINS = ("cudnn_standins.py", "py3_compat.py")

#: The instrumentation that step and loop modes add at run time, in the original's process (the copy's files are
#: not changed for it): logged by ``setup`` with the patches.
INSTRUMENTATION = (
    "instrumented at run time by compare step and loop (improved_gan_tf2/compare/harness.py and "
    "instrumentation.py; the copy's files are unchanged for it): MRG_RandomStreams.uniform and .normal return fed "
    "arrays, so that z, every GaussianNoiseLayer and every DropoutLayer draw the numbers of dropins/fed_random.py "
    "that the port is fed too; the compiled functions are wrapped to record parameters, averages and losses"
)


@dataclasses.dataclass(frozen=True)
class Patch:
    file: str       #: file name inside mnist_svhn_cifar10/
    old: str        #: snippet that must occur ``count`` times
    new: str        #: its replacement
    what: str       #: one line: what changes
    why: str        #: one line: why
    count: int = 1


_DNN_IMPORT = "from lasagne.layers import dnn\n"
_DNN_STANDIN = ("import cudnn_standins  # patched: lasagne.layers.dnn, or CPU stand-ins without cuDNN\n"
                "dnn = cudnn_standins.dnn\n")
_CIFAR_SVHN = [n for n in SCRIPTS if "cifar" in n or "svhn" in n]


def _epochs_patches(file, anchor, default):
    return [
        Patch(file, anchor, anchor + f"parser.add_argument('--epochs', type=int, default={default})\n",
              f"add an --epochs flag (default {default})", "run mode trains for a given number of epochs"),
        Patch(file, f"for epoch in range({default}):", "for epoch in range(args.epochs):",
              "loop over args.epochs epochs", "run mode trains for a given number of epochs"),
    ]


def _untyped_flag_patches(file, names):
    out = []
    for name in names:
        old = f"parser.add_argument('--{name}', default="
        out.append(Patch(file, old, f"parser.add_argument('--{name}', type=int, default=",
                         f"--{name} parsed as int",
                         "declared without a type, a value given on the command line is a string"))
    return out


def all_patches() -> List[Patch]:
    """Every patch, in the order they are applied."""
    patches = [
        Patch("nn.py", _DNN_IMPORT, _DNN_STANDIN, "lasagne.layers.dnn through cudnn_standins",
              "lasagne.layers.dnn does not import without a GPU with cuDNN"),
        Patch("nn.py", "lasagne.layers.dnn.as_tuple(", "lasagne.utils.as_tuple(",
              "Deconv2DLayer takes as_tuple from lasagne.utils",
              "the same function, reachable without cuDNN", count=2),
        Patch("cifar10_data.py", "import cPickle\n", "import pickle\n", "import pickle instead of cPickle",
              "Python 3 has no cPickle"),
        Patch("cifar10_data.py", "d = cPickle.load(fo)", "d = pickle.load(fo, encoding='latin1')",
              "unpickle with encoding='latin1'", "Python 3 reading the Python 2 pickles of CIFAR-10"),
        Patch("cifar10_data.py", "reshape((10000,3,32,32))", "reshape((-1,3,32,32))",
              "batch files of any length", "small CIFAR-format test sets (the real batches hold 10,000 images)"),
    ]
    for mnist in ("train_mnist_feature_matching.py", "train_mnist_fm_custom_labels.py"):
        patches.append(Patch(mnist, "range(trainx_unl.shape[0]/txs.shape[0])",
                             "range(trainx_unl.shape[0]//txs.shape[0])", "tile the labelled set with //",
                             "Python 3's / gives a float, which range() rejects"))
    patches += _epochs_patches("train_mnist_feature_matching.py",
                               "parser.add_argument('--count', type=int, default=10)\n", 300)
    for name in _CIFAR_SVHN:
        file = name + ".py"
        patches.append(Patch(file, _DNN_IMPORT, _DNN_STANDIN, "lasagne.layers.dnn through cudnn_standins",
                             "lasagne.layers.dnn does not import without a GPU with cuDNN"))
        if "cifar" in name:
            anchor = "parser.add_argument('--data_dir', type=str, default='/home/tim/data/cifar-10-python')\n"
            patches += _epochs_patches(file, anchor, 1200)
        else:
            anchor = "parser.add_argument('--data_dir', type=str, default='/home/tim/data')\n"
            patches += _epochs_patches(file, anchor, 900)
            patches.append(Patch(file, "import scipy.misc\n",
                                 "import scipy.misc\nimport py3_compat\nscipy.misc.imsave = py3_compat.imsave\n",
                                 "scipy.misc.imsave from py3_compat", "SciPy 1.2 removed scipy.misc.imsave"))
    patches.append(Patch("train_cifar_minibatch_discrimination.py", "import cPickle\n", "import pickle as cPickle\n",
                         "import pickle as cPickle", "Python 3 has no cPickle (the script does not use it)"))
    patches += _untyped_flag_patches("train_cifar_feature_matching.py", ("seed", "seed_data", "count", "batch_size"))
    patches += _untyped_flag_patches("train_cifar_minibatch_discrimination.py", ("seed", "batch_size"))
    return patches


def original_script_dir(original_dir) -> str:
    """``original_dir/mnist_svhn_cifar10`` (or ``original_dir`` itself if it holds the scripts), checked to hold
    every file the comparison uses; else a :class:`UsageError` naming the first missing file."""
    original_dir = os.path.abspath(os.path.expanduser(os.fspath(original_dir)))
    if not os.path.isdir(original_dir):
        raise UsageError(f"--original_dir={original_dir} is not a directory (a checkout of openai/improved-gan)")
    candidates = [os.path.join(original_dir, ORIGINAL_SUBDIR), original_dir]
    folder = next((c for c in candidates if os.path.isfile(os.path.join(c, "nn.py"))), candidates[0])
    for name in SUPPORT_FILES + tuple(s.file for s in SCRIPTS.values()):
        if not os.path.isfile(os.path.join(folder, name)):
            raise UsageError(f"--original_dir={original_dir} is not a checkout of openai/improved-gan: "
                             f"{os.path.join(folder, name)} is missing")
    return folder


def apply_patches(text: str, patches: List[Patch], where: str) -> str:
    for patch in patches:
        found = text.count(patch.old)
        if found != patch.count:
            snippet = patch.old.strip().replace("\n", "\\n")
            raise UsageError(f"{where}: expected the snippet {snippet!r} {patch.count} time(s), found it {found} "
                             f"time(s); this checkout differs from the release the patches were written for")
        text = text.replace(patch.old, patch.new)
    return text


def make_patched_copy(original_dir, dest_dir, log=print) -> List[Patch]:
    """Copy the original's ``mnist_svhn_cifar10/`` files to ``dest_dir`` with every patch applied (all patches
    are checked before anything is written), plus the drop-in modules. Logs one line per patch. Returns the
    patches applied."""
    source = original_script_dir(original_dir)
    dest_dir = os.path.abspath(dest_dir)
    if os.path.realpath(dest_dir).startswith(os.path.realpath(source) + os.sep) or \
            os.path.realpath(dest_dir) == os.path.realpath(source):
        raise UsageError(f"the patched copy {dest_dir} must lie outside the checkout {source}")
    patches = all_patches()
    names = sorted(set(SUPPORT_FILES + tuple(s.file for s in SCRIPTS.values())))
    patched = {}
    for name in names:
        with open(os.path.join(source, name), encoding="utf-8") as stream:
            text = stream.read()
        patched[name] = apply_patches(text, [p for p in patches if p.file == name], os.path.join(source, name))
    os.makedirs(dest_dir, exist_ok=True)
    for name, text in patched.items():
        with open(os.path.join(dest_dir, name), "w", encoding="utf-8") as stream:
            stream.write(text)
    for name in DROPINS:
        shutil.copyfile(os.path.join(DROPINS_DIR, name), os.path.join(dest_dir, name))
    for patch in patches:
        times = f" ({patch.count} places)" if patch.count > 1 else ""
        log(f"patched {patch.file}: {patch.what}{times} -- {patch.why}")
    log(f"added {', '.join(DROPINS)} (written for this tool) to {dest_dir}")
    log(INSTRUMENTATION)
    return patches
