"""Every original script as a declarative record in one registry, keyed by the original script's name, and the
one runner that trains, builds or prepares any of them.

>>> from improved_gan_tf2 import experiments
>>> experiment = experiments.get_experiment("train_mnist_feature_matching")
>>> flags = dict(experiment.default_flags(), dataset="mnist_sample", epochs=1, out_dir="/tmp/run")
>>> summary = experiments.run(experiment, flags)  # what the script does

Records: :mod:`.mnist` (two MNIST scripts), :mod:`.cifar_svhn` (four CIFAR-10/SVHN scripts), :mod:`.imagenet`.
"""
from improved_gan_tf2.experiments import cifar_svhn, imagenet, mnist  # noqa: F401  (they register the records)
from improved_gan_tf2.experiments.registry import (
    EXPERIMENTS,
    ImageNetExperiment,
    SemiSupervisedExperiment,
    get_experiment,
)
from improved_gan_tf2.experiments.runner import build_model, prepare_data, run, run_flags

__all__ = [
    "EXPERIMENTS",
    "ImageNetExperiment",
    "SemiSupervisedExperiment",
    "build_model",
    "get_experiment",
    "prepare_data",
    "run",
    "run_flags",
]
