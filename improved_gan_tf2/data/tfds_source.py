"""Reading a data set that TensorFlow Datasets has already prepared on disk, never downloading.

``tensorflow_datasets`` is imported lazily (only when a tfds source is actually tried).
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import numpy as np

#: Where tfds keeps prepared data when no directory is given (``TFDS_DATA_DIR`` overrides it).
def default_tfds_dir() -> str:
    return os.environ.get("TFDS_DATA_DIR", os.path.join(os.path.expanduser("~"), "tensorflow_datasets"))


def find_prepared(name: str, data_dir: Optional[str]) -> Tuple[Optional[object], list]:
    """Returns ``(builder, tried)``: the first tfds builder for ``name`` whose data is prepared in
    ``data_dir`` or, failing that, in tfds's default directory; ``None`` if neither has it.
    ``tried`` lists the directories looked at (with a reason when tfds itself is unusable).
    Nothing is downloaded or created.
    """
    tried = []
    try:
        import tensorflow_datasets as tfds  # noqa: WPS433 (lazy: heavy import)
    except Exception as exc:  # pragma: no cover - tfds is a dependency, but be explicit
        return None, [f"tensorflow_datasets could not be imported ({exc.__class__.__name__}: {exc})"]
    candidates = []
    if data_dir is not None:
        candidates.append(os.path.abspath(os.fspath(data_dir)))
    default = os.path.abspath(default_tfds_dir())
    if default not in candidates:
        candidates.append(default)
    for directory in candidates:
        if not os.path.isdir(os.path.join(directory, name)):
            tried.append(os.path.join(directory, name) + " (no prepared tfds data)")
            continue
        try:
            builder = tfds.builder(name, data_dir=directory)
            prepared = builder.is_prepared()
        except Exception as exc:  # a broken or foreign directory: report, keep looking
            tried.append(f"{os.path.join(directory, name)} (tfds could not open it: {exc})")
            continue
        if prepared:
            return builder, tried
        tried.append(os.path.join(directory, name) + " (not prepared)")
    return None, tried


def _order_by_id(ids: np.ndarray) -> np.ndarray:
    """tfds shuffles records when it prepares a data set; CIFAR-10 and SVHN (svhn_cropped >= 3.1)
    keep each record's position in the source files as an ``id`` like ``b"train_00042"``.
    Sorting by that number restores the source files' order (the order the original code saw)."""
    numbers = np.array([int(bytes(i).decode("ascii").rsplit("_", 1)[-1]) for i in ids], dtype=np.int64)
    return np.argsort(numbers, kind="stable")


def read_split(builder, split: str) -> Dict[str, np.ndarray]:
    """The whole split as NumPy arrays: ``image`` (uint8, NHWC), ``label``, and ``id`` if present."""
    import tensorflow_datasets as tfds

    ds = builder.as_dataset(split=split, batch_size=-1, shuffle_files=False)
    return {k: np.asarray(v) for k, v in tfds.as_numpy(ds).items()}


def load_prepared_splits(builder, splits=("train", "test")) -> Dict[str, Tuple[np.ndarray, np.ndarray, bool]]:
    """``{split: (images uint8, labels int64, restored_order)}``; ``restored_order`` tells whether
    the source files' order could be restored from the records' ids."""
    out = {}
    for split in splits:
        rec = read_split(builder, split)
        images, labels = np.asarray(rec["image"]), np.asarray(rec["label"]).astype(np.int64)
        restored = False
        if "id" in rec:
            order = _order_by_id(rec["id"])
            images, labels, restored = images[order], labels[order], True
        out[split] = (images, labels, restored)
    return out
