"""Choice of the labelled subset, exactly as the original scripts make it.

Which images a given ``seed_data`` picks depends only on ``np.random.RandomState(seed_data)``'s
first ``permutation`` call and on the data's order, so the same seed picks the same images from
the same data as the original.
"""
from __future__ import annotations

import operator
import os
from typing import NamedTuple, Union

import numpy as np

SeedOrRng = Union[int, np.random.RandomState]


class LabelledSubset(NamedTuple):
    x_lab: np.ndarray        #: the labelled examples, class 0's first, then class 1's, ...
    y_lab: np.ndarray        #: their labels
    permutation: np.ndarray  #: ``RandomState(seed_data).permutation(n)``
    x_permuted: np.ndarray   #: ``x[permutation]`` (MNIST's data-dependent init uses ``x_permuted[:500]``)
    y_permuted: np.ndarray   #: ``y[permutation]``
    indices: np.ndarray      #: the labelled examples' indices into the unpermuted arrays: ``x_lab = x[indices]``


class CustomLabelledSubset(NamedTuple):
    x_lab: np.ndarray
    y_lab: np.ndarray        #: the NOISY (custom) labels of the chosen examples
    permutation: np.ndarray  #: what the original saves as ``perm.npy``
    x_permuted: np.ndarray
    y_permuted: np.ndarray   #: noisy labels, permuted
    indices: np.ndarray      #: indices into the unpermuted arrays: ``x_lab = x[indices]``

    @property
    def used_inds(self):
        """:attr:`indices` under the original's name (it saves them as ``used_inds_<count>.npy``)."""
        return self.indices


def _data_rng(seed_data: SeedOrRng) -> np.random.RandomState:
    if isinstance(seed_data, np.random.RandomState):
        return seed_data
    return np.random.RandomState(seed_data)


def _check_count(count) -> int:
    try:
        count = operator.index(count)
    except TypeError:
        raise ValueError(f"count must be an integer number of labelled examples per class, got {count!r}") from None
    if count < 1:
        raise ValueError(f"count must be at least 1 labelled example per class, got {count}")
    return count


def _too_few(count: int, class_sizes, what: str) -> None:
    for j, n_j in enumerate(class_sizes):
        if n_j < count:
            raise ValueError(
                f"count={count} labelled examples per class requested, but class {j} has only {n_j} "
                f"{what}; the largest allowed count is {min(class_sizes)}")


def select_labelled(x, y, count, seed_data: SeedOrRng, num_classes: int = 10) -> LabelledSubset:
    """The original's labelled subset (train_{mnist,cifar,svhn}_feature_matching.py).

    ``inds = RandomState(seed_data).permutation(len(x))``; x and y are permuted with it; then for
    each class j = 0..num_classes-1 the first ``count`` examples of class j (in permuted order)
    are taken, and the classes are concatenated in order.
    """
    count = _check_count(count)
    x, y = np.asarray(x), np.asarray(y)
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x has {n} examples but y has {len(y)} labels")
    inds = _data_rng(seed_data).permutation(n)
    x_perm = x[inds]
    y_perm = y[inds]
    positions = [np.flatnonzero(y_perm == j) for j in range(num_classes)]
    _too_few(count, [len(p) for p in positions], "examples")
    chosen = np.concatenate([p[:count] for p in positions])
    return LabelledSubset(x_perm[chosen], y_perm[chosen], inds, x_perm, y_perm, inds[chosen])


def select_labelled_custom(x, noisy_labels, true_labels, count, seed_data: SeedOrRng, balance: bool = True,
                           num_classes: int = 10, permute_true_labels: bool = False) -> CustomLabelledSubset:
    """The original's labelled subset for custom (e.g. privately noised) labels
    (train_mnist_fm_custom_labels.py).

    ``inds = RandomState(seed_data).permutation(len(x))``; x and the noisy labels are permuted.
    With ``balance`` (the original's default), for each class j the first ``count`` positions
    where ``true_labels == j`` are taken from the permuted x and noisy labels; the targets are the
    NOISY labels. Faithfully to the original, the mask comes from the UNPERMUTED true labels
    while it indexes the permuted arrays, so the chosen examples' true classes are in general not
    balanced; ``used_inds = inds[mask][:count]`` records exactly which examples were used.
    ``permute_true_labels=True`` permutes the true labels too (a truly class-balanced choice;
    not what the original did). Without ``balance``: the first ``count * num_classes`` examples
    after the permutation.
    """
    count = _check_count(count)
    x = np.asarray(x)
    noisy = np.asarray(noisy_labels)
    true = np.asarray(true_labels)
    n = len(x)
    if len(noisy) != n or len(true) != n:
        raise ValueError(f"x has {n} examples but {len(noisy)} noisy labels and {len(true)} true labels")
    inds = _data_rng(seed_data).permutation(n)
    x_perm = x[inds]
    y_perm = noisy[inds]
    if balance:
        mask_labels = true[inds] if permute_true_labels else true
        positions = [np.flatnonzero(mask_labels == j) for j in range(num_classes)]
        _too_few(count, [len(p) for p in positions], "examples by the true labels")
        chosen = np.concatenate([p[:count] for p in positions])
    else:
        total = count * num_classes
        if total > n:
            raise ValueError(f"count={count} x {num_classes} classes = {total} labelled examples requested, but "
                             f"there are only {n}; the largest allowed count is {n // num_classes}")
        chosen = np.arange(total)
    return CustomLabelledSubset(x_perm[chosen], y_perm[chosen], inds, x_perm, y_perm, inds[chosen])


def custom_labels_split(mnist: dict, noisy_labels, n_train: int = 8000) -> dict:
    """The data layout of train_mnist_fm_custom_labels.py: the first ``n_train`` MNIST TEST
    images are the training set (with the custom labels ``noisy_labels[:n_train]``, an array or a
    path to a ``.npy``), the rest of the test set is the test set.

    Returns ``dict(x_train, y_train, y_train_true, x_test, y_test)``; labels int32.
    """
    if isinstance(noisy_labels, (str, os.PathLike)):
        noisy_labels = np.load(noisy_labels, allow_pickle=False)
    noisy_labels = np.asarray(noisy_labels).reshape(-1)
    if len(noisy_labels) < n_train:
        raise ValueError(f"{len(noisy_labels)} custom labels given; at least n_train={n_train} are needed")
    x_test, y_test = mnist["x_test"], np.asarray(mnist["y_test"])
    if len(x_test) <= n_train:
        raise ValueError(f"the test set has {len(x_test)} examples; more than n_train={n_train} are needed")
    return {
        "x_train": x_test[:n_train],
        "y_train": noisy_labels[:n_train].astype(np.int32),
        "y_train_true": y_test[:n_train].astype(np.int32),
        "x_test": x_test[n_train:],
        "y_test": y_test[n_train:].astype(np.int32),
    }
