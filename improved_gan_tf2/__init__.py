"""improved_gan_tf2: the techniques of Salimans et al., "Improved Techniques for Training GANs" (2016),
as TensorFlow 2 / Keras 3 parts that compute what the original release ``openai/improved-gan`` computes.

Modules: ``layers`` (weight norm, minibatch discrimination, virtual batch norm, ...), ``init``
(data-dependent initialization), ``losses``, ``optimizers`` (the original Adam, parameter averages), ``data``,
``plotting``, ``networks``, ``models``, ``training``, and ``experiments`` (each original script as a record in
one registry, and the runner).

The optimizers and the two models are exported here, and importing the package registers them (and the layers)
for Keras serialization, so a ``.keras`` file that uses them loads after ``import improved_gan_tf2`` alone.
"""
from improved_gan_tf2.init import data_dependent_init
from improved_gan_tf2.models.imagenet import ImageNetGAN
from improved_gan_tf2.models.semi_supervised import SemiSupervisedGAN
from improved_gan_tf2.optimizers import HistoricalAverage, OriginalAdam, ParameterAverage, tf1_adam

__version__ = "0.1.0"
__all__ = [
    "data_dependent_init",
    "OriginalAdam",
    "ParameterAverage",
    "HistoricalAverage",
    "tf1_adam",
    "SemiSupervisedGAN",
    "ImageNetGAN",
    "__version__",
]
