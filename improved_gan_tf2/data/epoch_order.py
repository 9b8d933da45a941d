"""Per-epoch example order, drawn from the training RNG exactly as the original scripts draw it.

The original, once per epoch (``rng`` being the script's ``np.random.RandomState(args.seed)``)::

    for t in range(reps):                      # reps: n_unl // n_lab (MNIST, Python 2 division)
        inds = rng.permutation(n_lab)          #    or ceil(n_unl / n_lab) (CIFAR-10, SVHN)
        trainx.append(txs[inds]); trainy.append(tys[inds])
    trainx_unl = trainx_unl[rng.permutation(n_unl)]     # cumulative: permutes last epoch's order
    trainx_unl2 = trainx_unl2[rng.permutation(n_unl)]   # only in the feature-matching scripts

and, right after creating ``rng``, draws ``rng.randint(2 ** 15)`` twice (seeds of Theano's and
Lasagne's RNGs) before any of this. :func:`original_rng` reproduces those two draws and
:class:`OriginalEpochOrder` turns the per-epoch draws into indices into the ORIGINAL (unpermuted)
arrays, composing the unlabelled permutations as the original's in-place re-indexing did.

The minibatch-discrimination scripts (CIFAR-10 and SVHN) keep no second unlabelled copy: they draw ONE
unlabelled permutation per epoch (``unlabelled_copies=1``; ``unl2_idx`` is then ``unl_idx``).

The data-dependent initialisation used ``x_permuted[:500]`` (see ``select_labelled``) for MNIST
and, for CIFAR-10 / SVHN, the first 500 labelled examples of epoch 0: ``x_lab[lab_idx[:500]]``.
"""
from __future__ import annotations

from typing import NamedTuple, Tuple, Union

import numpy as np

TILINGS = ("floor", "ceil")
UNLABELLED_COPIES = (1, 2)


class EpochIndices(NamedTuple):
    lab_idx: np.ndarray   #: indices into the labelled set (x_lab, y_lab), length reps * n_lab
    unl_idx: np.ndarray   #: indices into the original unlabelled array, length n_unl
    unl2_idx: np.ndarray  #: indices into the original second unlabelled copy, length n_unl


def original_rng(seed) -> Tuple[np.random.RandomState, int, int]:
    """``RandomState(seed)`` after the original's two ``rng.randint(2 ** 15)`` draws.

    Returns ``(rng, theano_seed, lasagne_seed)``: the first draw seeded Theano's MRG stream, the
    second Lasagne's RandomState; ``rng`` is left where the original's epoch loop starts."""
    rng = np.random.RandomState(seed)
    theano_seed = int(rng.randint(2 ** 15))
    lasagne_seed = int(rng.randint(2 ** 15))
    return rng, theano_seed, lasagne_seed


def labelled_reps(n_lab: int, n_unl: int, tiling: str) -> int:
    """How many permutations of the labelled set one epoch concatenates."""
    if tiling not in TILINGS:
        raise ValueError(f"tiling must be one of {TILINGS} ('floor': MNIST; 'ceil': CIFAR-10, SVHN), got {tiling!r}")
    if n_lab < 1 or n_unl < 1:
        raise ValueError(f"need at least one labelled and one unlabelled example, got n_lab={n_lab}, n_unl={n_unl}")
    reps = n_unl // n_lab if tiling == "floor" else -(-n_unl // n_lab)
    if reps < 1:
        raise ValueError(f"n_lab={n_lab} labelled examples exceed n_unl={n_unl} unlabelled ones: with "
                         f"tiling='floor' an epoch would hold no labelled batch (the original crashed here)")
    return reps


def labelled_batch_sizes(n_lab: int, n_unl: int, batch_size: int, tiling: str) -> np.ndarray:
    """How many labelled rows each of an epoch's ``n_unl // batch_size`` batches gets.

    An epoch concatenates ``reps`` permutations of the labelled set (:func:`labelled_reps`), ``reps * n_lab``
    rows, and batch ``t`` takes rows ``t * batch_size`` to ``(t + 1) * batch_size`` of them, as the original's
    ``trainx[t*args.batch_size:(t+1)*args.batch_size]`` does. With ``tiling='floor'`` the rows can run out before
    the last batch: its labelled batch is then short, or empty."""
    rows = labelled_reps(n_lab, n_unl, tiling) * n_lab
    starts = np.arange(n_unl // batch_size, dtype=np.int64) * batch_size
    return np.clip(rows - starts, 0, batch_size)


def tiling_problem(n_lab: int, n_unl: int, batch_size: int, tiling: str):
    """Why an epoch of this tiling cannot be trained, or ``None`` when it can.

    It cannot when the labelled set exceeds the unlabelled one under floor tiling (the original crashed), or
    when a batch would get no labelled row: the original's ``mean`` over that empty batch is a mean over
    nothing. A short (non-empty) last labelled batch is fine: its means are over the rows it has."""
    if tiling == "floor" and n_lab > n_unl:
        return (f"{n_lab} labelled examples exceed the {n_unl} unlabelled ones, so floor({n_unl} / {n_lab}) = 0 "
                f"copies of the labelled set would make an epoch")
    sizes = labelled_batch_sizes(n_lab, n_unl, batch_size, tiling)
    empty = np.flatnonzero(sizes == 0)
    if len(empty):
        reps = labelled_reps(n_lab, n_unl, tiling)
        return (f"floor({n_unl} / {n_lab}) = {reps} copies of the {n_lab} labelled examples make {reps * n_lab} "
                f"labelled rows per epoch, but an epoch has {len(sizes)} batches of {batch_size}: "
                f"{'batch' if len(empty) == 1 else 'batches'} {_ranges(empty)} would get no labelled example "
                f"(its mean would be over nothing)")
    return None


def _ranges(indices) -> str:
    first, last = int(indices[0]), int(indices[-1])
    return str(first) if first == last else f"{first}-{last}"


def _check_copies(unlabelled_copies) -> int:
    if unlabelled_copies not in UNLABELLED_COPIES:
        raise ValueError(f"unlabelled_copies must be 1 (minibatch-discrimination scripts) or 2 (feature-matching "
                         f"scripts), got {unlabelled_copies!r}")
    return int(unlabelled_copies)


def epoch_indices(rng: np.random.RandomState, n_lab: int, n_unl: int, tiling: str,
                  unlabelled_copies: int = 2) -> EpochIndices:
    """One epoch's draws from ``rng``, in the original's order: ``reps`` permutations of
    ``n_lab`` concatenated, then ``rng.permutation(n_unl)`` twice (once with
    ``unlabelled_copies=1``, as the minibatch-discrimination scripts; ``p_unl2`` is then ``p_unl``).

    The unlabelled permutations are returned as drawn, i.e. relative to the previous
    epoch's order; :class:`OriginalEpochOrder` composes them into absolute indices."""
    copies = _check_copies(unlabelled_copies)
    reps = labelled_reps(n_lab, n_unl, tiling)
    lab = np.concatenate([rng.permutation(n_lab) for _ in range(reps)])
    p_unl = rng.permutation(n_unl)
    p_unl2 = rng.permutation(n_unl) if copies == 2 else p_unl
    return EpochIndices(lab, p_unl, p_unl2)


class OriginalEpochOrder:
    """Stateful epoch order reproducing the original's.

    ``seed_or_rng``: an int seed (the script's ``--seed``; the two Theano/Lasagne draws are
    consumed first, see :func:`original_rng`, and their values kept as ``theano_seed`` and
    ``lasagne_seed``), or a ``RandomState`` used as is (shared, not copied).

    ``next_epoch()`` returns :class:`EpochIndices` whose ``unl_idx``/``unl2_idx`` index the
    ORIGINAL unlabelled arrays: ``x_unl[unl_idx]`` equals the original's ``trainx_unl`` of
    that epoch. ``get_state()``/``set_state()`` save and restore everything (RNG state,
    accumulated orders, epoch count) so that a resumed run continues the same sequence; the state
    is a flat dict of NumPy values, storable with ``np.savez``.

    ``unlabelled_copies``: 2 (the feature-matching scripts: a second, independent unlabelled order feeds
    the generator) or 1 (the minibatch-discrimination scripts: one unlabelled permutation per epoch;
    ``unl2_idx`` equals ``unl_idx``).
    """

    def __init__(self, seed_or_rng: Union[int, np.random.RandomState], n_lab: int, n_unl: int,
                 tiling: str = "floor", unlabelled_copies: int = 2):
        self.n_lab, self.n_unl, self.tiling = int(n_lab), int(n_unl), tiling
        self.unlabelled_copies = _check_copies(unlabelled_copies)
        self.reps = labelled_reps(self.n_lab, self.n_unl, tiling)
        if isinstance(seed_or_rng, np.random.RandomState):
            self.rng = seed_or_rng
            self.theano_seed = self.lasagne_seed = None
        else:
            self.rng, self.theano_seed, self.lasagne_seed = original_rng(seed_or_rng)
        self.epoch = 0
        self._unl = np.arange(self.n_unl)
        self._unl2 = np.arange(self.n_unl)

    def next_epoch(self) -> EpochIndices:
        lab, p_unl, p_unl2 = epoch_indices(self.rng, self.n_lab, self.n_unl, self.tiling, self.unlabelled_copies)
        self._unl = self._unl[p_unl]
        self._unl2 = self._unl2[p_unl2]
        self.epoch += 1
        return EpochIndices(lab, self._unl.copy(), self._unl2.copy())

    def get_state(self) -> dict:
        name, keys, pos, has_gauss, cached = self.rng.get_state()
        return {
            "epoch": np.int64(self.epoch),
            "n_lab": np.int64(self.n_lab),
            "n_unl": np.int64(self.n_unl),
            "tiling": np.str_(self.tiling),
            "unlabelled_copies": np.int64(self.unlabelled_copies),
            "rng_name": np.str_(name),
            "rng_keys": np.array(keys, dtype=np.uint32),
            "rng_pos": np.int64(pos),
            "rng_has_gauss": np.int64(has_gauss),
            "rng_cached_gaussian": np.float64(cached),
            "unl_order": self._unl.copy(),
            "unl2_order": self._unl2.copy(),
        }

    def set_state(self, state) -> None:
        """Restores a :meth:`get_state` dict (or an ``np.load``-ed .npz of one)."""
        n_lab, n_unl, tiling = int(state["n_lab"]), int(state["n_unl"]), str(state["tiling"])
        if (n_lab, n_unl, tiling) != (self.n_lab, self.n_unl, self.tiling):
            raise ValueError(f"state is for n_lab={n_lab}, n_unl={n_unl}, tiling={tiling!r}; this order has "
                             f"n_lab={self.n_lab}, n_unl={self.n_unl}, tiling={self.tiling!r}")
        try:
            copies = int(state["unlabelled_copies"])
        except KeyError:  # states saved before the option existed
            copies = 2
        if copies != self.unlabelled_copies:
            raise ValueError(f"state is for unlabelled_copies={copies}; this order has {self.unlabelled_copies}")
        unl, unl2 = np.asarray(state["unl_order"]), np.asarray(state["unl2_order"])
        if unl.shape != (n_unl,) or unl2.shape != (n_unl,):
            raise ValueError("state's unl_order / unl2_order do not have n_unl entries")
        self.rng.set_state((str(state["rng_name"]), np.asarray(state["rng_keys"], dtype=np.uint32),
                            int(state["rng_pos"]), int(state["rng_has_gauss"]),
                            float(state["rng_cached_gaussian"])))
        self._unl, self._unl2 = unl.astype(np.int64), unl2.astype(np.int64)
        self.epoch = int(state["epoch"])
