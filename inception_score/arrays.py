"""Reading image array files (``.npy``/``.npz``, never pickles) and their errors.

Not in ``inception_score/model.py`` of ``openai/improved-gan`` (which takes arrays); used by ``python -m
inception_score`` and the library's MNIST and Turing-study readers.
"""
import zipfile
import zlib

import numpy as np


class ArrayKeyError(Exception):
    """A ``.npz`` file without the array asked for (``key`` given), or holding several and none asked for
    (``key`` None). ``keys``: the names of the arrays it holds."""

    def __init__(self, keys, key):
        super().__init__(key)
        self.keys, self.key = keys, key


class UnreadableArrayError(Exception):
    """A ``.npy``/``.npz`` file that numpy cannot read (truncated, not a zip, pickled objects, ...); ``cause``:
    numpy's (or zipfile's, or zlib's) exception, or None; ``reason``: why, in words (:func:`array_file_problem`)."""

    def __init__(self, cause, reason=None):
        super().__init__(reason or cause)
        self.cause = cause
        self.reason = reason or " ".join(str(cause).split())


#: What numpy raises on a ``.npy``/``.npz`` file it cannot read (a truncated ``.npz``: zipfile.BadZipFile).
ARRAY_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
#: How NumPy files begin: a ``.npy`` header, or the zip archive of an ``.npz`` (an empty one too).
NUMPY_FILE_STARTS = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")


def array_file_problem(path, error=None):
    """Why ``path`` is not a NumPy file of plain arrays, one line, or None when it begins as one and no ``error``
    (numpy's exception on reading it) is given. ``np.load`` reads a file of any other kind as a pickle and, with
    ``allow_pickle=False``, advises allowing pickles, which is never the fix for a file of unknown origin (loading
    a pickle can run code): here it is named for what it is."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(len(NUMPY_FILE_STARTS[0]))
    except OSError as e:
        return "cannot be opened (%s)" % (e.strerror or e)
    if not head:
        return "is empty"
    if not head.startswith(NUMPY_FILE_STARTS):
        return ("is not a NumPy archive of arrays (.npz) or array (.npy): it begins with neither's header (a Git LFS "
                "pointer, a partial download or another kind of file?)")
    if error is None:
        return None
    text = " ".join(str(error).split())
    if "pickle" in text.lower():
        return ("holds Python objects, not plain arrays of numbers: such files are not loaded (unpickling them "
                "could run code); save the arrays themselves")
    return "is damaged or cut short (%s: %s)" % (type(error).__name__, text)


def read_array_file(path, key=None):
    """``(array, key)`` of the ``.npy`` or ``.npz`` file ``path`` (chosen by its suffix; the caller checks that it
    is one of the two), without pickles. In a ``.npz``, ``key`` names the array, and may be left out when there is
    just one; a ``.npy`` ignores ``key`` and gives key None. Raises :class:`ArrayKeyError` or
    :class:`UnreadableArrayError`, for the caller to word."""
    problem = array_file_problem(path)
    if problem:
        raise UnreadableArrayError(None, problem)
    try:
        if path.lower().endswith(".npy"):
            return np.load(path, allow_pickle=False), None
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys())
            if key is not None:
                if key not in keys:
                    raise ArrayKeyError(keys, key)
            elif len(keys) == 1:
                key = keys[0]
            else:
                raise ArrayKeyError(keys, None)
            return data[key], key
    except ARRAY_READ_ERRORS as e:
        raise UnreadableArrayError(e, array_file_problem(path, e)) from e
