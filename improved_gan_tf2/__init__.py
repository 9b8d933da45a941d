"""improved_gan_tf2: the techniques of Salimans et al., "Improved Techniques for Training GANs" (2016),
as TensorFlow 2 / Keras 3 parts that compute what the original release ``openai/improved-gan`` computes.

Modules: ``layers`` (weight norm, minibatch discrimination, virtual batch norm, ...), ``init``
(data-dependent initialization, the reference pass for inference), ``losses``, ``optimizers`` (the original Adam,
parameter averages), ``data``, ``plotting``, ``networks``, ``models``, ``training``, and ``experiments`` (each
original script as a record in one registry, and the runner).

The layers, the optimizers and the two models are exported here, and ``import improved_gan_tf2`` registers all of
the package's Keras objects for deserialization, so a ``.keras`` file that uses them loads after that import alone.
The package itself does not import TensorFlow (its ``turing`` tool runs without it): the registration happens as
soon as Keras is imported (at once if it already is), and on first use of an export.

>>> import improved_gan_tf2
>>> from improved_gan_tf2 import WeightNormDense, MinibatchDiscrimination, VirtualBatchNorm, OriginalAdam
"""
import importlib
import importlib.abc
import importlib.util
import sys

from improved_gan_tf2.init import data_dependent_init, store_inference_state

__version__ = "0.1.0"

#: The names of ``improved_gan_tf2.layers.__all__`` (``tests/test_keras_integration.py`` checks they agree).
_LAYER_NAMES = (
    "WeightNormDense", "MnistWeightNormDense", "L2NormalizedDense", "WeightNormConv2D", "WeightNormConv2DTranspose",
    "Deconv2D", "GaussianNoise", "MinibatchDiscrimination", "GeneratorBatchNorm", "VirtualBatchNorm",
    "PrependReferenceBatch", "DropReferenceBatch", "BatchNormCross", "HalvedMinibatchDiscrimination",
    "box_muller_normal", "pairwise_l1", "INFERENCE_MODES",
)
_EXPORTS = {
    **{name: "improved_gan_tf2.layers" for name in _LAYER_NAMES},
    **{name: "improved_gan_tf2.optimizers" for name in ("OriginalAdam", "ParameterAverage", "HistoricalAverage",
                                                         "tf1_adam")},
    "SemiSupervisedGAN": "improved_gan_tf2.models.semi_supervised",
    "ImageNetGAN": "improved_gan_tf2.models.imagenet",
    "ExportedClassifier": "improved_gan_tf2.models.exported",
    "ExportedGenerator": "improved_gan_tf2.models.exported",
}
#: The modules that define (and so register) the package's Keras objects.
KERAS_MODULES = (
    "improved_gan_tf2.layers",
    "improved_gan_tf2.optimizers",
    "improved_gan_tf2.networks.imagenet",
    "improved_gan_tf2.models.semi_supervised",
    "improved_gan_tf2.models.imagenet",
    "improved_gan_tf2.models.exported",
)

__all__ = ["data_dependent_init", "store_inference_state", *_EXPORTS, "register_keras_objects", "__version__"]


def register_keras_objects():
    """Import the modules that define the package's layers, optimizers and models, which registers them with
    ``keras.saving`` (``import improved_gan_tf2`` arranges this by itself; calling it again does nothing)."""
    for name in KERAS_MODULES:
        importlib.import_module(name)


def __getattr__(name):
    if name in _EXPORTS:
        register_keras_objects()
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'improved_gan_tf2' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


def _initializing(name, executed=None):
    """Whether the module ``name`` is being imported right now (CPython marks its spec while it runs); the module
    ``executed`` counts as imported (its code has just run)."""
    return name != executed and getattr(getattr(sys.modules.get(name), "__spec__", None), "_initializing", False)


def _register_when_ready(executed=None):
    """Register once Keras and TensorFlow are fully imported (``executed``: the one whose code has just run), unless
    a module of this package is being imported (its import imported them: its own classes register themselves, the
    rest on first use of an export)."""
    if "keras" not in sys.modules or _initializing("keras", executed) or _initializing("tensorflow", executed):
        return
    for finder in [f for f in sys.meta_path if isinstance(f, _RegisterAfterKeras)]:
        sys.meta_path.remove(finder)
    if not any(_initializing(name) for name in list(sys.modules) if name.startswith("improved_gan_tf2.")):
        register_keras_objects()


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Finds ``keras`` and ``tensorflow`` with the other finders and wraps their loaders, so that the package's
    Keras objects are registered once both are fully imported (TensorFlow imports Keras while it initializes)."""

    _WATCHED = ("keras", "tensorflow")

    def __init__(self):
        self._finding = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self._WATCHED or self._finding:
            return None
        self._finding = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _register_when_ready(executed=module.__name__)

    def __getattr__(self, name):  # is_package, get_resource_reader, ...: the wrapped loader's
        return getattr(self._loader, name)


if "keras" in sys.modules:
    register_keras_objects()
else:
    sys.meta_path.insert(0, _RegisterAfterKeras())
