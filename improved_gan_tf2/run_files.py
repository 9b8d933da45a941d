"""Reading back what a run wrote, defensively: the JSON files (``flags.json``, ``data.json``, ``summary.json``,
``evaluation.json``) and the per-epoch CSV logs (``history.csv``, ``epoch_times.csv``). A file that is a directory,
cannot be read or is not what it should be gives one :class:`RunDirectoryError` naming the file, what is wrong and
what to do; nothing here writes. Without TensorFlow, so that the report can use it.
"""
import dataclasses
import json
import os
from typing import List, Optional, Tuple

from improved_gan_tf2.errors import RunDirectoryError


#: What to do about a damaged or missing ``flags.json`` (evaluate, export and report read it).
FLAGS_FIX = "put back the run's flags.json (summary.json holds a copy under \"flags\" once a run has finished)"


def not_a_run_directory(run_dir):
    """The message for a directory without ``flags.json`` where a run directory was asked for."""
    return (f"{run_dir} is not a run directory: it has no flags.json; give the --out_dir of a training run, or put "
            f"back its flags.json if it was one.")


def _reason(error):
    return getattr(error, "strerror", None) or str(error).splitlines()[0][:200] or type(error).__name__


def read_bytes(path, what, fix):
    """The bytes of ``path`` (``what`` it is, for the message), or None when there is no such file; a directory or
    a file that cannot be read is a :class:`RunDirectoryError` ending with ``fix``."""
    if os.path.isdir(path):
        raise RunDirectoryError(f"{path} is a directory, not {what}; {fix}.")
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise RunDirectoryError(f"{path} cannot be read ({_reason(error)}); make it readable (chmod u+r), or "
                                f"{fix}.") from None


def damaged(path, problem, fix):
    """The error of a file that is not what it should be: ``<path> is damaged (<problem>); <fix>.``"""
    return RunDirectoryError(f"{path} is damaged ({problem}); {fix}.")


def read_json(path, what, fix, kind=dict):
    """The JSON value of ``path`` (a ``kind``: an object by default), or None when there is no such file; anything
    else (a directory, unreadable, not JSON, another kind of value) is a :class:`RunDirectoryError`."""
    data = read_bytes(path, what, fix)
    if data is None:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise damaged(path, "not UTF-8 text", fix) from None
    except ValueError as error:
        raise damaged(path, f"not JSON: {error}" if data.strip() else "empty", fix) from None
    if not isinstance(value, kind):
        raise damaged(path, f"a JSON {type(value).__name__}, not {'an object' if kind is dict else kind.__name__}",
                      fix)
    return value


def require_file_slot(path, what):
    """Refuse, before any work, a directory where a command will write the file ``path`` (``what`` it holds)."""
    if os.path.isdir(path):
        raise RunDirectoryError(f"{path} is a directory, not a file ({what}); move it aside and run again.")


@dataclasses.dataclass
class EpochLog:
    """A per-epoch CSV log as read: its header's fields, its complete rows ``(line number, epoch, fields, text)``
    and, when the file does not end with a line end, its last line (a write cut short) and that line's number."""

    header: List[str]
    header_line: str
    rows: List[Tuple[int, int, List[str], str]]
    torn: Optional[str] = None
    torn_line: int = 0

    def column(self, name):
        """The values of column ``name`` as floats, row by row."""
        index = self.header.index(name)
        return [float(fields[index]) for _, _, fields, _ in self.rows]


def read_epoch_log(path, fix, header_start="epoch,"):
    """``history.csv`` or ``epoch_times.csv`` (what ``keras.callbacks.CSVLogger`` and the epoch timer append): None
    when there is no such file or it is empty; else the header and every complete row, each checked: as many fields
    as the header, an epoch number, numbers elsewhere. A bad line is a :class:`RunDirectoryError` naming the file and
    the line and ending with ``fix``; the last line, when it has no line end, is returned apart (``torn``), unchecked,
    for the caller to judge (a row cut short by a kill, or a damaged file)."""
    data = read_bytes(path, "a per-epoch log (CSV)", fix)
    if not data:
        return None
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    last = lines.pop()  # "" when the file ends with a line end
    if not lines:
        raise damaged(path, f"its only line, {last[:40]!r}, is cut short (no line end)", fix)
    header = lines[0].rstrip("\r")
    if not header.startswith(header_start):
        raise damaged(path, f"its first line is not the header {header_start!r}...", fix)
    names = header.split(",")
    rows = []
    for number, line in enumerate(lines[1:], 2):
        row = line.rstrip("\r")
        fields = row.split(",")
        problem = None
        if len(fields) != len(names):
            problem = f"{len(fields)} fields, the header has {len(names)}"
        else:
            try:
                epoch = int(fields[0])
                if epoch < 0:
                    raise ValueError(epoch)
                for value in fields[1:]:
                    float(value)
            except ValueError:
                problem = "not a row of numbers"
        if problem is not None:
            raise damaged(path, f"line {number}, {row[:40]!r}, is not a row of an epoch: {problem}", fix)
        rows.append((number, epoch, fields, line + "\n"))
    return EpochLog(names, lines[0] + "\n", rows, last or None, len(lines) + 1 if last else 0)


def torn_epoch(log):
    """The epoch of the torn last line of ``log`` when its epoch field is complete (a comma follows it), else None."""
    if log is None or log.torn is None or "," not in log.torn:
        return None
    try:
        return int(log.torn.split(",", 1)[0])
    except ValueError:
        return None
