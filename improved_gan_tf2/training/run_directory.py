"""Run directories: the output directory of one run, locked while its process runs, refusing to resume a run made
with other flags or data, and trimming its per-epoch logs to the checkpoint it resumes from."""
import errno
import hashlib
import json
import os
import socket
import sys
import tempfile
import time

import numpy as np

from improved_gan_tf2.errors import RunDirectoryError, RunLockedError, RunMismatchError
from improved_gan_tf2.run_files import damaged, read_epoch_log, read_json, require_file_slot, torn_epoch
from improved_gan_tf2.training.checkpoints import epoch_checkpoint, open_checkpoints


# Flags that may change between an interrupted run and its resumption.
RESUMABLE_FLAG_CHANGES = frozenset({"epochs", "out_dir", "data_dir", "jit_compile"})


#: The key of ``flags.json`` that names the run's experiment (the original script's name).
EXPERIMENT_KEY = "experiment"


def write_json_atomic(path, value):
    """Write ``value`` as JSON to ``path`` through a temporary file and a rename."""
    temporary = f"{path}.tmp"
    try:
        with open(temporary, "w") as stream:
            json.dump(value, stream, indent=2, sort_keys=True, default=_json_default)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        if os.path.isfile(temporary):  # a full disk leaves no half-written file behind (the old one is intact)
            os.remove(temporary)
        raise


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


#: The lock file of a run directory (an OS lock, released when its process ends, even by SIGKILL).
LOCK_NAME = ".lock"
#: What the run was trained on: a SHA-256 of the data arrays, their shapes and their source.
DATA_NAME = "data.json"

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


def data_fingerprint(arrays, source=""):
    """A fingerprint of a run's data: SHA-256 over the names, shapes, dtypes and bytes of ``arrays`` (a dict of
    NumPy arrays), with the shapes and ``source`` for messages."""
    digest = hashlib.sha256()
    shapes = {}
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        shapes[name] = [list(array.shape), str(array.dtype)]
        digest.update(f"{name}:{array.shape}:{array.dtype};".encode())
        digest.update(memoryview(array).cast("B"))
    return {"sha256": digest.hexdigest(), "arrays": shapes, "source": str(source)}


class RunDirectory:
    """The output directory of one run: locked for the life of the process, refusing to resume a run made with
    different flags or data.

    Creating one checks that ``out_dir`` is (or can be made) a writable directory, takes its lock (another process
    running there is named and refused) and compares ``flags`` with the ``flags.json`` of a run already there;
    nothing is written until :meth:`start`, which writes ``flags.json`` and the data's fingerprint (``data.json``).
    ``flags`` are the script's flag values and, under :data:`EXPERIMENT_KEY`, the experiment's name, so that any
    tool can rebuild the run from its ``flags.json``. :meth:`close` releases the lock (so does the end of the
    process)."""

    def __init__(self, out_dir, flags):
        self.path = os.path.abspath(out_dir)
        self.flags = dict(flags)
        self.checkpoint_dir = os.path.join(self.path, "checkpoints")
        self.samples_dir = os.path.join(self.path, "samples")
        self.log_dir = os.path.join(self.path, "logs")
        self.history_path = os.path.join(self.path, "history.csv")
        self.times_path = os.path.join(self.path, "epoch_times.csv")
        self.summary_path = os.path.join(self.path, "summary.json")
        self._flags_path = os.path.join(self.path, "flags.json")
        self._data_path = os.path.join(self.path, DATA_NAME)
        self._lock_fd = None
        self._lock_created = False
        self._fingerprint = None
        self.started = False
        self._created_directories = _make_directory(self.path)
        try:
            self._lock()
            for path, what in ((self._flags_path, "the run's flags"), (self._data_path, "the data's fingerprint"),
                               (self.history_path, "the run's history"), (self.times_path, "the epochs' times"),
                               (self.summary_path, "the run's summary")):
                require_file_slot(path, what)
            self._check_flags()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ checks

    def _lock(self):
        for _ in range(10):
            if self._try_lock():
                return
        raise RunDirectoryError(f"cannot lock the run directory {self.path}: its lock file keeps being replaced; "
                                f"pass another --out_dir.")

    def _try_lock(self):
        """Take the lock; False if the lock file was removed (by a start that gave up) before it was held."""
        path = os.path.join(self.path, LOCK_NAME)
        if os.path.isdir(path):
            raise RunDirectoryError(f"{path} is a directory, not the run's lock file; remove it (rmdir) and run "
                                    f"again.")
        try:
            with tempfile.TemporaryFile(dir=self.path):
                pass
        except OSError as error:
            raise RunDirectoryError(f"the run directory {self.path} is not writable ({error.strerror}); pass an "
                                    f"--out_dir you can write to.") from None
        try:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                created = True
            except FileExistsError:
                fd = os.open(path, os.O_RDWR)
                created = False
        except OSError as error:
            raise RunDirectoryError(f"the lock file {path} cannot be opened ({error.strerror}); make it readable "
                                    f"and writable (chmod 644) and run again.") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = os.read(fd, 4096).decode(errors="replace").strip()
                os.close(fd)
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunDirectoryError(f"cannot lock the run directory {self.path} ({error.strerror}); pass "
                                            f"another --out_dir.") from None
                raise RunLockedError(
                    f"the run directory {self.path} is in use by another run ({holder or 'process unknown'}); wait "
                    f"for it to end, or stop it, and run this command again to resume, or pass another --out_dir."
                ) from None
            try:
                replaced = os.fstat(fd).st_ino != os.stat(path).st_ino
            except FileNotFoundError:
                replaced = True
            if replaced:  # removed by a refused start between our open and our lock: lock the new file
                os.close(fd)
                return False
        os.ftruncate(fd, 0)
        os.write(fd, (f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                      f"{' '.join(sys.argv)}\n").encode())
        self._lock_fd = fd
        self._lock_created = created
        return True

    def close(self):
        """Release the lock. A run that never started (refused: bad data, other flags, ...) leaves nothing: the
        lock file it created is removed while it is still held (a process that opened it meanwhile sees it replaced
        and locks the new one) and so are the directories it made, when empty. A started run's lock file stays."""
        if self._lock_fd is not None:
            if not self.started and self._lock_created:
                try:
                    os.unlink(os.path.join(self.path, LOCK_NAME))
                except OSError:
                    pass
            os.close(self._lock_fd)
            self._lock_fd = None
        if not self.started:
            for directory in reversed(self._created_directories):
                try:
                    os.rmdir(directory)
                except OSError:  # not empty (or gone): it is not only ours
                    break
            self._created_directories = []

    def has_checkpoints(self):
        """True if ``checkpoints/`` holds a checkpoint or a checkpoint index."""
        try:
            names = os.listdir(self.checkpoint_dir)
        except OSError:
            return False
        return any(name == "checkpoint" or name.endswith(".index") for name in names)

    def _check_flags(self):
        checkpoints = self.has_checkpoints()
        if not os.path.exists(self._flags_path):
            if checkpoints:
                raise RunDirectoryError(
                    f"{self.path} holds checkpoints but no flags.json, so the flags that made them are unknown; put "
                    f"flags.json back (summary.json holds a copy under \"flags\" once a run has finished), or pass "
                    f"another --out_dir.")
            return
        fix = ("the flags that made the checkpoints beside it are unknown: put back a correct flags.json "
               "(summary.json holds a copy under \"flags\" once a run has finished), or pass another --out_dir")
        try:
            stored = read_json(self._flags_path, "the run's flags", fix)
        except RunDirectoryError:
            if not checkpoints:  # nothing to resume: a fresh run replaces it
                return
            raise
        if EXPERIMENT_KEY in self.flags and EXPERIMENT_KEY not in stored:
            # written before flags.json named its experiment: the other flags identify the run
            stored[EXPERIMENT_KEY] = self.flags[EXPERIMENT_KEY]
        changed = sorted(
            key for key in set(stored) | set(self.flags)
            if key not in RESUMABLE_FLAG_CHANGES and stored.get(key) != self.flags.get(key)
        )
        if changed:
            details = ", ".join(f"{k}: {stored.get(k)!r} -> {self.flags.get(k)!r}" for k in changed)
            if not checkpoints:
                print(f"note: {self.path} holds no checkpoint of the run made there with other flags ({details}); "
                      f"starting afresh with these.")
                return
            raise RunMismatchError(
                f"{self.path} holds a run made with other flags ({details}); "
                f"pass a new --out_dir, or the same flags to resume that run."
            )

    def check_data(self, fingerprint):
        """Refuse data other than the run's (``fingerprint``: :func:`data_fingerprint` of the data, checked against
        the one recorded when the run has checkpoints); writes nothing (:meth:`start` records it)."""
        stored = None
        if self.has_checkpoints():
            fix = ("this data cannot be checked against the run's: delete data.json to resume with this data, "
                   "or pass another --out_dir")
            stored = read_json(self._data_path, "the data's fingerprint", fix)
            if stored is not None and not isinstance(stored.get("sha256"), str):
                raise damaged(self._data_path, "no \"sha256\"", fix)
        if stored is not None and stored["sha256"] != fingerprint["sha256"]:
            raise RunMismatchError(
                f"the data differs from the data the run in {self.path} was trained on (then: "
                f"{stored.get('source') or 'unknown source'} {_shapes(stored)}; now: "
                f"{fingerprint['source'] or 'unknown source'} {_shapes(fingerprint)}); pass that data "
                f"(--dataset, --data_dir) to resume the run, or another --out_dir.")
        self._fingerprint = fingerprint

    def start(self, fingerprint=None):
        """:meth:`check_data` (when ``fingerprint`` is given), then write ``flags.json`` and ``data.json`` (the
        fingerprint given here or to :meth:`check_data`)."""
        if fingerprint is not None:
            self.check_data(fingerprint)
        if self._fingerprint is not None:
            write_json_atomic(self._data_path, self._fingerprint)
        write_json_atomic(self._flags_path, self.flags)
        self.started = True

    # ------------------------------------------------------------------ checkpoints, history, summary

    def open_checkpoints(self, max_to_keep=3, print_fn=print, **objects):
        """:func:`open_checkpoints` over ``objects`` plus an ``epoch`` counter: ``(manager, epoch variable, the
        restored checkpoint or None)``. The logs are checked against the checkpoint restored (:meth:`trim_logs`)
        before a damaged checkpoint is moved aside: a damaged log stops the run having changed nothing."""
        checkpoint, epoch = epoch_checkpoint(**objects)

        def check_logs(restored):
            for path, strict in ((self.history_path, True), (self.times_path, False)):
                _log_trimmed(path, int(epoch.numpy()) if restored else 0, strict)

        manager, restored = open_checkpoints(checkpoint, self.checkpoint_dir, max_to_keep, print_fn=print_fn,
                                             before_changes=check_logs)
        return manager, epoch, restored

    def trim_logs(self, epochs_completed, print_fn=print):
        """Make ``history.csv`` and ``epoch_times.csv`` end with the epoch of the checkpoint being resumed: drop the
        rows of later epochs (an interrupted run may have logged an epoch it did not save) and a last row cut short
        by a kill. ``history.csv`` must then hold a row for each epoch from its first to the checkpoint's; a bad
        line or a missing row stops the run, naming the file (:func:`_log_trimmed`)."""
        for path, strict in ((self.history_path, True), (self.times_path, False)):
            text, note = _log_trimmed(path, epochs_completed, strict)
            if note:
                print_fn(note)
            if text is not None:
                _replace_text(path, text)

    def write_summary(self, summary):
        write_json_atomic(self.summary_path, summary)


def _shapes(fingerprint):
    try:
        arrays = fingerprint.get("arrays") or {}
        return "(" + ", ".join(f"{name} {tuple(shape)}" for name, (shape, _) in sorted(arrays.items())) + ")"
    except (AttributeError, TypeError, ValueError):
        return "(shapes unknown)"


def _log_trimmed(path, epochs_completed, strict):
    """``(the new text of the per-epoch log path or None if it stays as it is, a note or None)`` for a run resumed
    after ``epochs_completed`` epochs (see :meth:`RunDirectory.trim_logs`; ``strict``: every row of a saved epoch
    must be there, as in ``history.csv``, whose rows are written before their epoch's checkpoint)."""
    name = os.path.basename(path)
    fix = f"move it aside (the checkpoints are intact; the resumed run starts a new {name}) and run again"
    if epochs_completed == 0:  # nothing saved: the run starts afresh
        return ("" if os.path.exists(path) else None), None
    log = read_epoch_log(path, fix)
    if log is None:
        return None, None
    kept = [row for row in log.rows if row[1] < epochs_completed]
    epoch, note = torn_epoch(log), None
    if log.torn is not None and (epoch is None or epoch < epochs_completed):
        if strict and epoch is not None:
            raise damaged(path, f"line {log.torn_line}, {log.torn[:40]!r}, is cut short", fix)
        note = f"note: the last line of {path} was cut short (a write interrupted); dropped it"
    if strict and kept:
        epochs = [row[1] for row in kept]
        expected = list(range(epochs[0], epochs_completed))
        if epochs != expected:
            missing = sorted(set(expected) - set(epochs))
            problem = (f"it has no row for epoch {missing[0]}, whose checkpoint is saved" if missing else
                       f"its rows are not one per epoch in order ({', '.join(map(str, epochs))})")
            raise damaged(path, problem, fix)
    if len(kept) == len(log.rows) and log.torn is None:
        return None, note
    return log.header_line + "".join(row[3] for row in kept), note


def _replace_text(path, text):
    """Write ``text`` to ``path`` through a temporary file and a rename (line ends as given)."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="") as stream:
        stream.write(text)
    os.replace(temporary, path)


def _make_directory(path):
    """Make ``path`` a directory (with its parents) or raise :class:`RunDirectoryError` saying why it cannot be;
    returns the directories made, outermost first."""
    if os.path.isdir(path):
        return []
    if os.path.lexists(path):
        raise RunDirectoryError(f"--out_dir={path} is a file, not a directory; pass a directory (it is made if it "
                                f"does not exist).")
    parent = os.path.dirname(path)
    while parent and not os.path.lexists(parent) and parent != os.path.dirname(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise RunDirectoryError(f"--out_dir={path} cannot be made: {parent} is a file, not a directory; pass "
                                f"another --out_dir.")
    missing = []
    while not os.path.lexists(path) and path != os.path.dirname(path):
        missing.insert(0, path)
        path = os.path.dirname(path)
    try:
        os.makedirs(missing[-1], exist_ok=True)
    except OSError as error:
        raise RunDirectoryError(f"--out_dir={missing[-1]} cannot be made ({error.strerror}: {error.filename}); "
                                f"pass an --out_dir you can write to.") from None
    return missing
