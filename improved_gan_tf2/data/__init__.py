"""Data sets (MNIST, CIFAR-10, SVHN) as NumPy arrays, and the original's labelled-subset choice
and epoch order. The training code builds its own ``tf.data`` pipelines from these arrays."""
from .errors import DataFormatError, DataNotFoundError
from .common import LoadedData
from .mnist import DATASETS as MNIST_DATASETS, load_mnist, read_idx, read_mnist_sample, sample_split_indices
from .cifar10 import DATASETS as CIFAR10_DATASETS, load_cifar10, scale_cifar10
from .svhn import DATASETS as SVHN_DATASETS, load_svhn, scale_svhn
from .labelled import (
    CustomLabelledSubset,
    LabelledSubset,
    custom_labels_split,
    select_labelled,
    select_labelled_custom,
)
from .epoch_order import (
    EpochIndices,
    OriginalEpochOrder,
    epoch_indices,
    labelled_batch_sizes,
    labelled_reps,
    original_rng,
    tiling_problem,
)

__all__ = [
    "DataFormatError",
    "DataNotFoundError",
    "LoadedData",
    "MNIST_DATASETS",
    "CIFAR10_DATASETS",
    "SVHN_DATASETS",
    "load_mnist",
    "load_cifar10",
    "load_svhn",
    "read_idx",
    "read_mnist_sample",
    "sample_split_indices",
    "scale_cifar10",
    "scale_svhn",
    "LabelledSubset",
    "CustomLabelledSubset",
    "select_labelled",
    "select_labelled_custom",
    "custom_labels_split",
    "EpochIndices",
    "OriginalEpochOrder",
    "epoch_indices",
    "labelled_batch_sizes",
    "labelled_reps",
    "original_rng",
    "tiling_problem",
]
