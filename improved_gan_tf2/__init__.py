"""improved_gan_tf2: the techniques of Salimans et al., "Improved Techniques for Training GANs" (2016),
as TensorFlow 2 / Keras 3 parts that compute what the original release ``openai/improved-gan`` computes.

Modules: ``layers`` (weight norm, minibatch discrimination, virtual batch norm, ...), ``init``
(data-dependent initialization), ``losses``, ``optimizers`` (the original Adam, parameter averages), ``data``,
``plotting``, ``networks``, ``models``, ``training``, and ``experiments`` (each original script as a record in
one registry, and the runner).
"""
__version__ = "0.1.0"
__all__ = ["data_dependent_init", "__version__"]


def __getattr__(name):
    # imported on first use, so that ``improved_gan_tf2.startup`` can run before anything imports TensorFlow
    if name == "data_dependent_init":
        from improved_gan_tf2.init import data_dependent_init

        return data_dependent_init
    raise AttributeError(f"module 'improved_gan_tf2' has no attribute {name!r}")
