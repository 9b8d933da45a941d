"""Errors raised by the data loaders.

Both carry a complete, human-readable message: which file (or files) the loader looked for or
read, what it expected to find, and where the data can be obtained.
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence


class DataNotFoundError(FileNotFoundError):
    """A data set's files are not where the loader looks for them (and no fallback source exists)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # FileNotFoundError's own __str__ is fine for one arg; keep it explicit.
        return self.message


class DataFormatError(ValueError):
    """A data file exists but is not in the expected format (bad header, truncated, wrong shape...)."""

    def __init__(self, path, problem: str, expected: str | None = None, source: str | None = None):
        self.path = os.fspath(path) if path is not None else None
        self.problem = problem
        parts = []
        if self.path is not None:
            parts.append(f"{self.path}: {problem}")
        else:
            parts.append(problem)
        if expected:
            parts.append(f"Expected: {expected}")
        if source:
            parts.append(f"Get a correct copy from: {source}")
        self.message = ". ".join(p.rstrip(".") for p in parts) + "."
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def describe_dir(data_dir) -> str:
    """Absolute form of a directory for messages."""
    return os.path.abspath(os.fspath(data_dir))


def not_found_message(dataset: str, options: Sequence[str], tried: Iterable[str] = ()) -> str:
    """Builds a DataNotFoundError message: one numbered line per way of providing the data."""
    lines = [f"Could not find the {dataset} data set. Provide it in one of these ways:"]
    for i, option in enumerate(options, 1):
        lines.append(f"  {i}. {option}")
    tried = list(tried)
    if tried:
        lines.append("Looked for:")
        lines.extend(f"  - {t}" for t in tried)
    return "\n".join(lines)
