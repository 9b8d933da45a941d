"""Faults for the fault matrix (``test_fault_matrix.py``) and the write-fault tests (``test_write_faults.py``):
the damages a file can suffer, snapshots of a directory to tell what a command changed, and a command run in this
process as its command line runs it (the exit status and the one error line its ``cli.run`` or ``turing`` main
would give, or the traceback it would print)."""
import contextlib
import dataclasses
import hashlib
import io
import os
import random
import shutil
import stat
import sys
import traceback


def _read(path):
    with open(path, "rb") as stream:
        return stream.read()


def _write(path, data):
    with open(path, "wb") as stream:
        stream.write(data)


def _cut(keep):
    def damage(path):
        data = _read(path)
        _write(path, data[:keep(len(data))])
    return damage


def _flip(at):
    def damage(path):
        data = bytearray(_read(path))
        data[at(len(data))] ^= 0xFF
        _write(path, bytes(data))
    return damage


def _random_bytes(path):
    size = len(_read(path))
    _write(path, random.Random(f"{os.path.basename(path)}:{size}").randbytes(size))


def _directory(path):
    os.remove(path)
    os.mkdir(path)


def _unreadable(path):
    os.chmod(path, 0)


#: Every damage of the matrix, by name: a function of the file's path that damages it in place.
DAMAGES = {
    "deleted": os.remove,
    "empty": _cut(lambda size: 0),
    "cut_to_8_bytes": _cut(lambda size: min(8, size - 1)),
    "cut_in_half": _cut(lambda size: size // 2),
    "last_byte_missing": _cut(lambda size: size - 1),
    "flipped_first_byte": _flip(lambda size: 0),
    "flipped_middle_byte": _flip(lambda size: size // 2),
    "flipped_last_byte": _flip(lambda size: size - 1),
    "random_bytes": _random_bytes,
    "a_directory": _directory,
    "unreadable": _unreadable,
}


def permissions_enforced(directory):
    """Whether this process is refused a file it may not read (not as root, where ``chmod 000`` blocks nothing)."""
    probe = os.path.join(directory, ".permission_probe")
    _write(probe, b"x")
    os.chmod(probe, 0)
    try:
        _read(probe)
        return False
    except PermissionError:
        return True
    finally:
        os.chmod(probe, stat.S_IRUSR | stat.S_IWUSR)
        os.remove(probe)


def damage(path, name):
    """Apply the damage ``name`` of :data:`DAMAGES` to ``path`` (every file of a list)."""
    for one in [path] if isinstance(path, str) else path:
        DAMAGES[name](one)


def undo_permissions(directory):
    """Make every file under ``directory`` readable again (so that pytest can remove it)."""
    for folder, folders, files in os.walk(directory):
        for name in folders + files:
            try:
                os.chmod(os.path.join(folder, name), 0o755 if name in folders else 0o644)
            except OSError:
                pass


def snapshot(directory):
    """``{relative path: sha256}`` of every file under ``directory`` (unreadable ones: None)."""
    found = {}
    for folder, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(folder, name)
            try:
                found[os.path.relpath(path, directory)] = hashlib.sha256(_read(path)).hexdigest()
            except OSError:
                found[os.path.relpath(path, directory)] = None
    return found


def copy_tree(source, target):
    shutil.copytree(source, target, symlinks=True)
    return target


@dataclasses.dataclass
class Outcome:
    """What a command did: its exit ``status`` (None: it ended with a traceback), its output and ``result``."""

    status: object
    stdout: str
    stderr: str
    result: object = None

    @property
    def error_lines(self):
        return [line for line in self.stderr.splitlines() if line.strip()]

    def describe(self):
        return f"status {self.status}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"


def run_in_process(function, *args, **kwargs):
    """``function(*args, **kwargs)`` with the error handling of the project's command lines
    (:func:`improved_gan_tf2.cli.run`): an input error (``cli.INPUT_ERRORS``) is ``error: <message>`` and status 2,
    a stopped training its own line and status, a ``SystemExit`` its code; any other exception is a traceback
    (status None). A function that returns an ``int`` (the ``turing`` main) gives that status."""
    from improved_gan_tf2 import cli
    from improved_gan_tf2.errors import TrainingStopped

    stdout, stderr = io.StringIO(), io.StringIO()
    status, result = 0, None
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            result = function(*args, **kwargs)
            if isinstance(result, int) and not isinstance(result, bool):
                status = result
        except cli.INPUT_ERRORS as error:
            print(f"error: {error}", file=sys.stderr)
            status = 2
        except TrainingStopped as error:
            print(f"{error.prefix}{error}", file=sys.stderr)
            status = error.exit_status
        except SystemExit as error:
            status = error.code
        except Exception:  # what the command line would show as a traceback
            traceback.print_exc(file=sys.stderr)
            status = None
    return Outcome(status, stdout.getvalue(), stderr.getvalue(), result)


class HookedFile:
    """A file object whose writes go to ``on_write(stream, text)`` instead (a write hook)."""

    def __init__(self, stream, on_write):
        self.stream = stream
        self.on_write = on_write

    def write(self, text):
        return self.on_write(self.stream, text)

    def __getattr__(self, attribute):
        return getattr(self.stream, attribute)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.stream.__exit__(*exc)

    def __iter__(self):
        return iter(self.stream)


def hooked_open(real_open, names, on_write, on_open=None):
    """An ``open`` (to patch over ``builtins.open``) under which the files of basename ``names`` opened to write or
    append call ``on_open()`` (when given) and write through ``on_write(stream, text)``."""

    def opener(file, mode="r", *args, **kwargs):
        if os.path.basename(str(file)) in names and any(flag in mode for flag in "wa"):
            if on_open is not None:
                on_open()
            return HookedFile(real_open(file, mode, *args, **kwargs), on_write)
        return real_open(file, mode, *args, **kwargs)

    return opener
