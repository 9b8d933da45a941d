"""improved_gan_tf2: the techniques of Salimans et al., "Improved Techniques for Training GANs" (2016),
as TensorFlow 2 / Keras 3 parts that compute what the original release ``openai/improved-gan`` computes.

Modules: ``layers`` (weight norm, minibatch discrimination, virtual batch norm, ...), ``init``
(data-dependent initialization, the reference pass for inference), ``losses``, ``optimizers`` (the original Adam,
parameter averages), ``data``, ``plotting``, ``networks``, ``models``, ``training``, and ``experiments`` (each
original script as a record in one registry, and the runner).

The layers, the optimizers and the two models are exported here, and importing the package registers all of them
for Keras serialization, so a ``.keras`` file that uses them loads after ``import improved_gan_tf2`` alone:

>>> import improved_gan_tf2
>>> from improved_gan_tf2 import WeightNormDense, MinibatchDiscrimination, VirtualBatchNorm, OriginalAdam
"""
from improved_gan_tf2.init import data_dependent_init, store_inference_state
from improved_gan_tf2.layers import *  # noqa: F401,F403  (the names of layers.__all__)
from improved_gan_tf2.layers import __all__ as _layer_names
from improved_gan_tf2.models.imagenet import ImageNetGAN
from improved_gan_tf2.models.semi_supervised import SemiSupervisedGAN
from improved_gan_tf2.optimizers import HistoricalAverage, OriginalAdam, ParameterAverage, tf1_adam

__version__ = "0.1.0"
__all__ = [
    "data_dependent_init",
    "store_inference_state",
    *_layer_names,
    "OriginalAdam",
    "ParameterAverage",
    "HistoricalAverage",
    "tf1_adam",
    "SemiSupervisedGAN",
    "ImageNetGAN",
    "__version__",
]
