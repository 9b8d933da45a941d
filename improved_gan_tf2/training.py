"""Running an experiment: run directories, checkpoints that resume, the originals' log lines, sample grids,
TensorBoard, the final summary, and (ImageNet) distribution strategies. The experiment runner
(:mod:`improved_gan_tf2.experiments`) assembles these; nothing here changes the arithmetic.

A run directory holds ``flags.json``, ``data.json`` (a fingerprint of the data), ``checkpoints/``
(``tf.train.CheckpointManager``; TensorFlow writes each checkpoint under a temporary name and then updates the
``checkpoint`` index atomically, so an interrupted save leaves the previous checkpoint usable; :func:`open_checkpoints`
resumes from the newest one that restores), ``samples/`` (PNG grids), ``logs/`` (TensorBoard), ``history.csv``,
``.lock`` (held by the process running there) and, at the end, ``summary.json``. A loss or a parameter that becomes
NaN or infinite stops training before anything non-finite is saved (:class:`NonFiniteGuard`,
:class:`EpochCheckpoint`).
"""
import contextlib
import errno
import gc
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2 import environment
from improved_gan_tf2.data.pipeline import evaluation_dataset, semi_supervised_dataset
from improved_gan_tf2.errors import (  # noqa: F401  (defined there, without TensorFlow; used as training.<name>)
    CheckpointError,
    NonFiniteError,
    RunDirectoryError,
    RunLockedError,
    RunMismatchError,
    RunWriteError,
    TrainingInterrupted,
    TrainingStopped,
)
from improved_gan_tf2.plotting import save_grid_png, save_image_grid
from improved_gan_tf2.run_files import damaged, read_epoch_log, read_json, require_file_slot, torn_epoch
from inception_score.model import Progress  # numpy only at import

ORIGINAL_LOG_LINE = (
    "Iteration %d, time = %ds, loss_lab = %.4f, loss_unl = %.4f, train err = %.4f, test err = %.4f"
)
#: The log line of the ImageNet code (``imagenet/train.py``), fields and order unchanged.
IMAGENET_LOG_LINE = (
    "[Batch %(idx)d] time: %(total_time)4.4f, d_loss: %(d_loss).8f, g_loss: %(errG).8f, "
    "d_loss_real: %(errD_real).8f, d_loss_fake: %(errD_fake).8f, d_loss_class: %(errD_class).8f, "
    "sec/batch: %(sec_per_batch)4.4f, sec/this batch: %(sec_this_batch)4.4f"
)
# The sample grids show the same noise every epoch, drawn apart from the training noise.
SAMPLE_SEED = 1234
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


# ---------------------------------------------------------------------- checkpoints: finite values, fallback


def non_finite_variables(root):
    """Names of the floating-point variables reachable from the trackable ``root`` (a ``tf.train.Checkpoint``, a
    model, ...) that hold a NaN or an infinity."""
    bad, seen = [], set()
    for obj in tf.train.TrackableView(root).descendants():
        if not isinstance(obj, (tf.Variable, keras.Variable)) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if not tf.as_dtype(obj.dtype).is_floating:
            continue
        if not bool(tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(obj)))):
            bad.append(getattr(obj, "path", None) or obj.name)
    return bad


def _first_line(error):
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    return text.strip().splitlines()[0][:300] if text.strip() else type(error).__name__


def checkpoint_number(path):
    """The number a checkpoint path ends with (``ckpt-12``: 12), or -1 if it ends with none."""
    match = re.search(r"-(\d+)$", path)
    return int(match.group(1)) if match else -1


def _try_restore(checkpoint, path):
    """Restore ``path`` into ``checkpoint``; ``None`` if it restored every object with finite values, else why
    not. Whatever TensorFlow raises for a damaged checkpoint (``DataLossError``, ``IndexError`` for a data file cut
    short, ``ValueError``, ...) is a reason; a file this process may not read is a :class:`CheckpointError`."""
    files = glob.glob(glob.escape(path) + ".*")
    if not os.path.isfile(path + ".index"):
        return "its files are missing" if not os.path.exists(path + ".index") else "its .index is not a file"
    for name in files:
        if os.path.isfile(name) and not os.access(name, os.R_OK):
            raise CheckpointError(f"the checkpoint file {name} cannot be read (permission denied); make it readable "
                                  f"(chmod u+r) and run again.")
    status = None
    checkpoint.save_counter  # noqa: B018  (created now, so that it is restored now, not deferred to the next save)
    try:
        status = checkpoint.restore(path)
        status.assert_existing_objects_matched()
    except Exception as error:  # noqa: BLE001  (any failure to read it: this checkpoint does not restore)
        if status is not None:
            status.expect_partial()
        return _first_line(error)
    bad = non_finite_variables(checkpoint)
    if bad:
        return f"it holds non-finite values ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})"
    return None


def checkpoint_files(directory, checkpoint_name="ckpt"):
    """The checkpoints of ``directory``: ``(paths, state, problem)``. ``paths``: the checkpoint prefixes, newest
    first, that the ``checkpoint`` index lists or whose ``.index`` file is there (a save killed after writing its
    files but before recording them, an index damaged or cut short); ``state``: the index (a ``CheckpointState``;
    None when it is missing or unreadable); ``problem``: what is wrong with the index, or None. Changes nothing."""
    index = os.path.join(directory, "checkpoint")
    state, problem = None, None
    if os.path.lexists(index):
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")  # TensorFlow logs a damaged index as two warnings and returns None
        try:
            state = tf.train.get_checkpoint_state(directory)
            problem = None if state is not None else "not a checkpoint index"
        except Exception as error:  # noqa: BLE001  (text_format.ParseError, DecodeError, ...: a damaged index)
            problem = _first_line(error)
        finally:
            logger.setLevel(level)
        if problem is not None:
            problem = f"the checkpoint index {index} is unreadable ({problem})"
    prefix = os.path.join(directory, checkpoint_name)
    on_disk = {os.path.normpath(name[:-len(".index")]) for name in glob.glob(glob.escape(prefix) + "-*.index")}
    listed = set()
    if state is not None:
        listed = {os.path.normpath(p) for p in [*state.all_model_checkpoint_paths, state.model_checkpoint_path] if p}
    if problem is None and on_disk and state is None:
        problem = f"{directory} has checkpoint files but no checkpoint index"
    elif problem is None and state is not None and listed != on_disk:
        problem = f"the checkpoint index {index} does not match the checkpoint files beside it"
    return sorted(listed | on_disk, key=checkpoint_number, reverse=True), state, problem


def restore_newest(checkpoint, paths):
    """Restore into ``checkpoint`` the first of ``paths`` that restores (every object matched, every value
    finite): ``(its path or None, [(path, why not) for each one tried before it])``."""
    restored, skipped = None, []
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # a failed restore leaves objects that warn about unrestored values when collected
    try:
        for path in paths:
            problem = _try_restore(checkpoint, path)
            if problem is None:
                restored = path
                break
            skipped.append((path, problem))
        if skipped:
            gc.collect()
    finally:
        logger.setLevel(level)
    return restored, skipped


def _move_aside(path, target):
    """Rename ``path`` to ``target`` (``target.1``, ``target.2``, ... when that exists): nothing is overwritten."""
    candidate, number = target, 0
    while os.path.lexists(candidate):
        number += 1
        candidate = f"{target}.{number}"
    os.replace(path, candidate)
    return candidate


def open_checkpoints(checkpoint, directory, max_to_keep, checkpoint_name="ckpt", print_fn=print, before_changes=None):
    """Restore the newest checkpoint of ``directory`` that restores, and return ``(manager, its path or None)``.

    Leftovers of a save that was killed (``<name>-N_temp/``) are removed. The checkpoints tried are those the
    ``checkpoint`` index lists and those whose files are there (:func:`checkpoint_files`). A checkpoint that does
    not restore (a damaged or cut-short file, missing files, an object that does not match) or holds a NaN or an
    infinity is skipped, with a note saying which and why, and the next older one is tried; skipped checkpoints are
    moved to ``skipped/`` (never over another file). An unreadable ``checkpoint`` index is moved aside (to
    ``checkpoint.unreadable``); an index that is unreadable or does not match the files, or a checkpoint skipped,
    and the index is rewritten for the one restored, so the manager carries on from it. If there are checkpoints
    but none restores, :class:`CheckpointError` says why (nothing is changed then); a checkpoint file this process
    may not read stops it too. ``before_changes(restored path or None)``, when given, runs before anything is
    moved or rewritten: an error it raises leaves the checkpoints as they were."""
    prefix = os.path.join(directory, checkpoint_name)
    for leftover in glob.glob(glob.escape(prefix) + "-*_temp"):
        if os.path.isdir(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
            print_fn(f"note: removed {leftover}, left by a save that was interrupted")
    paths, state, state_problem = checkpoint_files(directory, checkpoint_name)
    restored, skipped = restore_newest(checkpoint, paths)
    if paths and restored is None:
        details = "; ".join(f"{os.path.basename(p)}: {problem}" for p, problem in skipped)
        raise CheckpointError(f"no checkpoint in {directory} restores ({details}); if the code changed since they "
                              f"were written, use that version, else pass another --out_dir.")
    if before_changes is not None:
        before_changes(restored)
    index = os.path.join(directory, "checkpoint")
    if state_problem:
        print_fn(f"note: {state_problem}; " + ("rebuilt from the checkpoint files" if paths else "moved aside"))
        if state is None and os.path.lexists(index):
            _move_aside(index, index + ".unreadable")
    for path, problem in skipped:
        aside = os.path.join(directory, "skipped")
        print_fn(f"note: skipped checkpoint {path} ({problem}); moved to {aside}")
        os.makedirs(aside, exist_ok=True)
        for name in glob.glob(glob.escape(path) + ".*"):
            _move_aside(name, os.path.join(aside, os.path.basename(name)))
    if restored is not None and (skipped or state_problem):
        timestamps = {}
        if state is not None:
            timestamps = {os.path.normpath(p): t for p, t in zip(state.all_model_checkpoint_paths,
                                                                 state.all_model_checkpoint_timestamps)}
        kept = sorted((p for p in paths if checkpoint_number(p) <= checkpoint_number(restored)
                       and os.path.isfile(p + ".index")), key=checkpoint_number)
        _write_checkpoint_index(directory, restored, kept,
                                [timestamps.get(p) or os.path.getmtime(p + ".index") for p in kept],
                                state.last_preserved_timestamp if state is not None else 0.0)
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep,
                                         checkpoint_name=checkpoint_name)
    return manager, restored


def _write_checkpoint_index(directory, latest, paths, timestamps, last_preserved_timestamp):
    """Write the ``checkpoint`` index (a ``CheckpointState`` text proto, paths relative to ``directory``) through a
    temporary file and a rename, as ``CheckpointManager`` does."""
    lines = [f"model_checkpoint_path: {json.dumps(os.path.basename(latest))}"]
    lines += [f"all_model_checkpoint_paths: {json.dumps(os.path.basename(p))}" for p in paths]
    lines += [f"all_model_checkpoint_timestamps: {float(t)!r}" for t in timestamps]
    lines.append(f"last_preserved_timestamp: {float(last_preserved_timestamp)!r}")
    path = os.path.join(directory, "checkpoint")
    with open(path + ".tmp", "w") as stream:
        stream.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


class OriginalEpochLog(keras.callbacks.Callback):
    """Prints the original scripts' per-epoch line (time covers training and testing, as there) and, with
    ``times_path``, appends ``epoch,seconds`` to that CSV (a resumed run may repeat an epoch: its last row counts)."""

    def __init__(self, print_fn=print, times_path=None):
        super().__init__()
        self.print_fn = print_fn
        self.times_path = times_path

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.time() - self._begin
        self.print_fn(ORIGINAL_LOG_LINE % (
            epoch, seconds, logs.get("loss_lab", np.nan), logs.get("loss_unl", np.nan),
            logs.get("train_err", np.nan), logs.get("val_test_err", np.nan),
        ))
        sys.stdout.flush()
        if self.times_path is not None:
            new = not os.path.exists(self.times_path)
            with open(self.times_path, "a") as stream:
                stream.write(("epoch,seconds\n" if new else "") + f"{epoch},{seconds:.3f}\n")


class EpochProgress(keras.callbacks.Callback):
    """On a terminal, the progress within the epoch on one line (``Epoch 5/300  12/40 [====>     ]``, an
    :class:`inception_score.model.Progress` bar), erased at the epoch's end, so that the original's line
    (:class:`OriginalEpochLog`, which comes after this callback) is all an epoch leaves on the screen. Writes
    nothing to a file or a pipe."""

    def __init__(self, steps_per_epoch, epochs, stream=None):
        super().__init__()
        self.steps_per_epoch, self.epochs, self.stream = steps_per_epoch, epochs, stream
        self.progress = None

    def on_epoch_begin(self, epoch, logs=None):
        self.progress = Progress(self.steps_per_epoch, "batch", self.stream,
                                 prefix=f"Epoch {epoch + 1}/{self.epochs}  ", plain=False)

    def on_train_batch_end(self, batch, logs=None):
        self.progress.update(batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.clear()

    def clear(self):
        """Erase the progress line (also when training stops within an epoch, before its message)."""
        if self.progress is not None:
            self.progress.close(keep=False)


class HistoryLog(keras.callbacks.CSVLogger):
    """``history.csv``: ``keras.callbacks.CSVLogger`` appending to the run's file, whose columns stay those of its
    header when it has one (a run resumed by a newer version, whose model logs more, keeps its file's columns)."""

    def __init__(self, path):
        super().__init__(path, append=True)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if os.path.exists(self.filename):
            with open(self.filename, newline="") as stream:
                header = stream.readline().strip()
            if header:
                self.keys = [key for key in header.split(self.sep) if key != "epoch"]


class EpochLearningRate(keras.callbacks.Callback):
    """Sets the learning rate of each optimizer to ``schedule(epoch)`` at the start of every epoch."""

    def __init__(self, schedule, optimizers):
        super().__init__()
        self.schedule = schedule
        self.optimizers = list(optimizers)

    def on_epoch_begin(self, epoch, logs=None):
        for optimizer in self.optimizers:
            optimizer.learning_rate.assign(float(self.schedule(epoch)))


class SampleGrid(keras.callbacks.Callback):
    """Writes a grid of generated samples each epoch: ``samples/epoch_NNNN.png``, ``samples/latest.png`` (at a
    whole-number upscale, :func:`~improved_gan_tf2.plotting.save_grid_png`) and a TensorBoard image (at its size). ``make_grid`` turns the sampled batch (NumPy) into one image in ``value_range``."""

    def __init__(self, sample_fn, make_grid, samples_dir, log_dir=None, value_range=(0.0, 1.0)):
        super().__init__()
        self.sample_fn = sample_fn
        self.make_grid = make_grid
        self.samples_dir = samples_dir
        self.value_range = value_range
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "samples")) if log_dir else None

    def on_epoch_end(self, epoch, logs=None):
        grid = self.make_grid(np.asarray(self.sample_fn()))
        save_grid_png(os.path.join(self.samples_dir, f"epoch_{epoch:04d}.png"), grid, self.value_range)
        save_grid_png(os.path.join(self.samples_dir, "latest.png"), grid, self.value_range)
        if self.writer is not None:
            low, high = self.value_range
            image = np.clip((grid - low) / (high - low), 0, 1)
            image = image[None, :, :, None] if image.ndim == 2 else image[None]
            with self.writer.as_default():
                tf.summary.image("samples", image, step=epoch)
            self.writer.flush()


def _checkpoint_advice(manager):
    """What a stopped run leaves: its last checkpoint (resumable) or none."""
    latest = manager.latest_checkpoint if manager is not None else None
    if latest:
        return (f"the last checkpoint, {latest}, is intact and finite: the same command resumes from it (and, the "
                f"run being deterministic, diverges again), so change the flags (e.g. a lower --learning_rate) in a "
                f"new --out_dir")
    return "no checkpoint was written: run again with other flags (e.g. a lower --learning_rate)"


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first batch whose logged values (the losses) are NaN or infinite, before anything of
    that epoch is saved: raises :class:`NonFiniteError` naming the epoch, the iteration and the values.

    ``where(epoch, batch)`` describes the position (default: ``epoch E, iteration I of N``); ``manager`` is the
    checkpoint manager whose last checkpoint the message names."""

    def __init__(self, manager=None, steps_per_epoch=None, where=None):
        super().__init__()
        self.manager = manager
        self.steps_per_epoch = steps_per_epoch
        self.where = where
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = {}
        for name, value in (logs or {}).items():
            try:
                finite = bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))
            except (TypeError, ValueError):
                continue
            if not finite:
                bad[name] = value
        if bad:
            if self.where is not None:
                where = self.where(self.epoch, batch)
            else:
                of = f" of {self.steps_per_epoch}" if self.steps_per_epoch else ""
                where = f"epoch {self.epoch}, iteration {batch}{of}"
            values = ", ".join(f"{name} = {_format_value(value)}" for name, value in sorted(bad.items()))
            raise NonFiniteError(f"training diverged at {where}: {values}; stopped before saving anything of it. "
                                 f"{_capitalized(_checkpoint_advice(self.manager))}.")


def _format_value(value):
    array = np.asarray(value, dtype=np.float64)
    return str(float(array)) if array.ndim == 0 else np.array2string(array, threshold=4)


def _capitalized(text):
    return text[:1].upper() + text[1:]


def _refuse_non_finite(manager, when, not_saved, count_more=False):
    """Raise :class:`NonFiniteError` if a variable of ``manager``'s checkpoint holds a NaN or an infinity: "training
    diverged <when>: <the first three names> hold NaN or infinite values, so <not_saved>." and what the run leaves
    (``count_more``: "and N more" after the three names)."""
    bad = non_finite_variables(manager.checkpoint)
    if bad:
        names = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if count_more and len(bad) > 3 else "")
        raise NonFiniteError(f"training diverged {when}: {names} hold NaN or infinite values, so {not_saved}. "
                             f"{_capitalized(_checkpoint_advice(manager))}.")


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves ``manager``'s checkpoint after every epoch, numbered by the epochs completed, unless a variable of it
    holds a NaN or an infinity: then raises :class:`NonFiniteError` and the last checkpoint stays the latest."""

    def __init__(self, manager, epoch_variable):
        super().__init__()
        self.manager = manager
        self.epoch_variable = epoch_variable

    def on_epoch_end(self, epoch, logs=None):
        _refuse_non_finite(self.manager, f"in epoch {epoch}", f"epoch {epoch} was not saved", count_more=True)
        self.epoch_variable.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)


def epoch_checkpoint(**objects):
    """A semi-supervised run's ``tf.train.Checkpoint``: ``objects`` plus an ``epoch`` counter (returned as the
    second value)."""
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    return tf.train.Checkpoint(epoch=epoch, **objects), epoch


def semi_supervised_checkpoint_objects(gan):
    """What a semi-supervised run's checkpoints hold besides the epoch counter, by name: both networks, both
    optimizers, the parameter average, the random generators' states and the objects of
    ``gan.checkpoint_objects()`` (when the model has that method)."""
    return dict(
        generator=gan.generator,
        discriminator=gan.discriminator,
        discriminator_optimizer=gan.discriminator_optimizer,
        generator_optimizer=gan.generator_optimizer,
        parameter_average=gan.parameter_average,
        random_states=gan.random_states(),
        **(gan.checkpoint_objects() if hasattr(gan, "checkpoint_objects") else {}),
    )


def fit_semi_supervised(gan, run, *, x_lab, y_lab, x_unl, x_test, y_test, x_init, epoch_order, batch_size,
                        epochs, learning_rate_schedule, make_grid, value_range=(0.0, 1.0), evaluation_tail="drop",
                        callbacks=()):
    """Train ``gan`` (a compiled ``SemiSupervisedGAN``) as the original loop does, resuming ``run`` if it has a
    checkpoint; returns the summary it writes to ``run.summary_path``.

    Fresh runs start with the data-dependent init on ``x_init``. Each epoch: the learning rate of
    ``learning_rate_schedule(epoch)``, the batches of ``epoch_order``, the test error of the averaged
    parameters, the original's log line (the one line an epoch prints; on a terminal the progress within the
    epoch is shown on that line until it is printed), a sample grid, TensorBoard scalars and a checkpoint.
    ``evaluation_tail``: how the test set is batched (``evaluation_dataset``'s ``tail``): ``"drop"`` for MNIST and
    CIFAR-10, the SVHN scripts' overlapping last batch otherwise. The objects of ``gan.checkpoint_objects()``
    (when the model has that method) are checkpointed with the rest. ``callbacks``: more Keras callbacks, run
    after the run's own.
    """
    manager, epoch_variable, restored = run.open_checkpoints(**semi_supervised_checkpoint_objects(gan))
    with _write_failures(manager):  # a full disk: one line, the run resumable
        start_epoch = int(epoch_variable.numpy()) if restored else 0
        run.trim_logs(start_epoch)
        if not run.started:  # flags.json and data.json once the checkpoints and the logs are known to be usable
            run.start()
        if start_epoch == 0:
            gan.initialize(x_init, batch_size)
        elif start_epoch < epochs:
            print(f"Resuming {run.path} after epoch {start_epoch - 1} (checkpoint {restored})")
        else:
            trained = "1 epoch (epoch 0" if start_epoch == 1 else f"{start_epoch} epochs (epochs 0-{start_epoch - 1}"
            print(f"The run in {run.path} is done: it has trained {trained}, checkpoint {restored}) and "
                  f"--epochs={epochs} asks for no more; measuring its test error again. A larger --epochs continues "
                  f"it.")
        train_dataset, steps_per_epoch = semi_supervised_dataset(
            x_lab, y_lab, x_unl, batch_size, epoch_order, start_epoch=start_epoch
        )
        test_dataset, test_count = evaluation_dataset(x_test, y_test, batch_size, tail=evaluation_tail)
        environment_info = environment.describe()
        write_environment(run.log_dir, environment_info, start_epoch)
        progress = EpochProgress(steps_per_epoch, epochs)
        if start_epoch < epochs:
            try:
                history = gan.fit(
                    train_dataset,
                    epochs=epochs,
                    initial_epoch=start_epoch,
                    steps_per_epoch=steps_per_epoch,
                    validation_data=test_dataset,
                    shuffle=False,  # the dataset already follows the original's order
                    verbose=0,  # the original's line and EpochProgress instead of Keras's two lines an epoch
                    callbacks=[
                        # first: a NaN batch stops before anything is saved
                        NonFiniteGuard(manager, steps_per_epoch),
                        EpochLearningRate(learning_rate_schedule,
                                          [gan.discriminator_optimizer, gan.generator_optimizer]),
                        # the epoch's history row before its checkpoint: a row cut short by a kill is of an epoch
                        # not saved, which the resumed run drops and trains again
                        HistoryLog(run.history_path),
                        EpochCheckpoint(manager, epoch_variable),  # refuses to save non-finite values
                        keras.callbacks.TensorBoard(run.log_dir, write_graph=False),
                        SampleGrid(lambda: gan.sample(batch_size, seed=SAMPLE_SEED), make_grid, run.samples_dir,
                                   run.log_dir, value_range),
                        progress,
                        # last: once an epoch's line is printed, everything of that epoch is saved
                        OriginalEpochLog(times_path=run.times_path),
                        *callbacks,
                    ],
                )
            except KeyboardInterrupt:
                raise TrainingInterrupted(_interrupted_message(manager)) from None
            finally:
                progress.clear()
            final = {name: history.history[f"val_{name}"][-1] for name in ("test_err", "test_err_raw")}
        else:  # a finished run, resumed: measure its test error again
            final = gan.evaluate(test_dataset, return_dict=True, verbose=0)
        summary = {
            "flags": run.flags,
            "epochs_completed": int(epoch_variable.numpy()) if manager.latest_checkpoint else 0,
            "test_examples": test_count,
            "test_err": float(final["test_err"]),
            "test_errors": int(round(float(final["test_err"]) * test_count)),
            "test_err_raw": float(final["test_err_raw"]),
            "test_errors_raw": int(round(float(final["test_err_raw"]) * test_count)),
            "checkpoint": manager.latest_checkpoint,
            "history": run.history_path,
            "environment": environment_info,  # what computed it: runs differ across CPUs and versions
        }
        run.write_summary(summary)
        done = summary["epochs_completed"]
        print(f"Done: {done} epoch{'' if done == 1 else 's'}, test err = {summary['test_err']:.4f} "
              f"({summary['test_errors']} of {test_count}). Results in {run.path}: summary.json, history.csv, "
              f"samples/, checkpoints/ (the same command resumes), logs/ (tensorboard --logdir {run.log_dir}).")
        return summary


#: What TensorFlow's messages say when a file cannot be written (it raises ``ResourceExhaustedError`` and others).
_WRITE_FAILURES = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Permission denied",
                   "Input/output error")


@contextlib.contextmanager
def _write_failures(manager):
    """Turn a failed write of a run's file (``OSError``; TensorFlow's error for a checkpoint that cannot be written)
    into :class:`RunWriteError`: one line naming the file, what is saved, and what to do."""
    try:
        yield
    except (OSError, tf.errors.OpError) as error:
        if isinstance(error, OSError):
            reason, where = error.strerror or str(error), error.filename
        else:
            reason = next((text for text in _WRITE_FAILURES if text in error.message), None)
            if reason is None:
                raise
            match = re.search(r"(\S+); " + re.escape(reason), error.message)
            where = match.group(1) if match else None
        raise RunWriteError(f"cannot write {where or 'a file of the run'} ({reason}); "
                            f"{_checkpoint_saved(manager)}: free some space (or mend the cause) and run the same "
                            f"command again to resume.") from None


def _checkpoint_saved(manager):
    latest = manager.latest_checkpoint
    return f"the checkpoints up to {latest} are intact" if latest else "no checkpoint was written yet"


def write_environment(log_dir, info, step):
    """The run's :func:`environment.describe` as a TensorBoard text (``environment``, in ``log_dir/train``) at
    ``step`` (the epoch a run starts or resumes at), so that runs shown side by side say what computed them."""
    text = "\n".join(f"- **{key}**: {value}" for key, value in info.items())
    writer = tf.summary.create_file_writer(os.path.join(log_dir, "train"))
    with writer.as_default():
        tf.summary.text("environment", text, step=step)
    writer.close()


def _interrupted_message(manager):
    latest = manager.latest_checkpoint
    if latest is None:
        return "interrupted in the first epoch, before any checkpoint; the same command starts the run again."
    done = checkpoint_number(latest)
    saved = "epoch 0 is" if done == 1 else f"epochs 0-{done - 1} are"
    return (f"interrupted after epoch {done - 1} (during epoch {done}); {saved} saved in {latest}: the same command "
            f"resumes from there.")


# ---------------------------------------------------------------------- ImageNet: strategies, checkpoints by step, log


def _cluster_size(tf_config):
    cluster = tf_config.get("cluster", {})
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def make_strategy(kind="auto"):
    """The distribution strategy: ``"auto"`` is ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names more
    than one worker, else ``MirroredStrategy`` over the visible GPUs (the CPU if there are none);
    ``"mirrored"``, ``"multi_worker"`` and ``"default"`` (no strategy) force one."""
    if kind == "auto":
        tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
        kind = "multi_worker" if _cluster_size(tf_config) > 1 else "mirrored"
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"strategy must be 'auto', 'mirrored', 'multi_worker' or 'default', got {kind!r}.")


def is_chief(strategy):
    """True on the one process that writes logs, samples and checkpoints."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


#: The ImageNet checkpoints' name (the original ``Saver``'s ``DCGAN.model-<step>``).
IMAGENET_CHECKPOINT_NAME = "DCGAN.model"


def imagenet_checkpoint(model):
    """The ``tf.train.Checkpoint`` of an ImageNet model and its two optimizers."""
    # "d_optimizer" / "g_optimizer": the keys of the checkpoints written so far (and the original's d_optim/g_optim)
    return tf.train.Checkpoint(model=model, d_optimizer=model.discriminator_optimizer,
                               g_optimizer=model.generator_optimizer)


def open_imagenet_checkpoints(model, directory, max_to_keep=5, print_fn=print):
    """:func:`open_checkpoints` for an ImageNet model: ``(manager, restored path or None)``, falling back to
    older checkpoints when the newest does not restore."""
    return open_checkpoints(imagenet_checkpoint(model), directory, max_to_keep, IMAGENET_CHECKPOINT_NAME, print_fn)


def save_checkpoint(manager, model):
    """Save ``manager``'s checkpoint numbered by the model's step; returns its path. Raises
    :class:`NonFiniteError`, saving nothing, if a variable holds a NaN or an infinity."""
    step = int(model.step.numpy())
    _refuse_non_finite(manager, f"before step {step}", "no checkpoint was saved")
    return manager.save(checkpoint_number=step)


class ImageNetTrainingMonitor(keras.callbacks.Callback):
    """What ``train.py``'s loop does around the update, as a ``fit`` callback.

    Every ``print_every_secs`` (15) the original's log line (:data:`IMAGENET_LOG_LINE`, same fields and order; the
    losses are the replicas' mean, where the original printed tower 0's) and the running top-1 error, also
    written as TensorBoard scalars; an 8x8 grid of the fixed sample inputs to ``sample_dir/train_<step>.png``
    (and TensorBoard) every 10 batches for the first 300 and then every ``sample_every_secs`` (300); a
    checkpoint every ``checkpoint_every_secs`` (3600). Only the chief writes (``chief=False`` on the others).
    """

    def __init__(self, manager=None, sample_dir=None, log_dir=None, print_every_secs=15.0,
                 sample_every_secs=300.0, checkpoint_every_secs=3600.0, chief=True, print_fn=print):
        super().__init__()
        self.manager = manager
        self.sample_dir = sample_dir
        self.print_every_secs = float(print_every_secs)
        self.sample_every_secs = float(sample_every_secs)
        self.checkpoint_every_secs = float(checkpoint_every_secs)
        self.chief = bool(chief)
        self.print_fn = print_fn
        self.writer = tf.summary.create_file_writer(log_dir) if (log_dir and self.chief) else None
        self.idx = 0
        self.written = []

    def on_train_begin(self, logs=None):
        now = time.time()
        self.start_time = self.print_time = self.sample_time = self.save_time = now

    def on_train_batch_begin(self, batch, logs=None):
        self.batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self.idx += 1
        idx = self.idx
        if not self.chief:
            return
        logs = logs or {}
        step = int(self.model.step.numpy())
        if time.time() - self.print_time > self.print_every_secs:
            self.print_time = time.time()
            values = {k: float(np.mean(np.asarray(v))) for k, v in logs.items()}
            fields = dict(
                idx=idx,
                total_time=self.print_time - self.start_time,
                d_loss=values["d_loss_fake"] + values["d_loss_real"] + values["d_loss_class"],
                errG=values["g_loss"], errD_real=values["d_loss_real"], errD_fake=values["d_loss_fake"],
                errD_class=values["d_loss_class"],
                sec_per_batch=(self.print_time - self.start_time) / (idx + 1.0),
                sec_this_batch=self.print_time - self.batch_start_time,
            )
            self.print_fn(IMAGENET_LOG_LINE % fields)
            self.print_fn("running top-1 error rate[%g]" % values["avg_error_rate"])
            if self.writer is not None:
                with self.writer.as_default(step=step):
                    for name, value in values.items():
                        tf.summary.scalar(name, value)
                    tf.summary.scalar("sec_per_batch", fields["sec_per_batch"])
        if (idx < 300 and idx % 10 == 0) or time.time() - self.sample_time > self.sample_every_secs:
            self.sample_time = time.time()
            self.write_samples(step)
        if self.manager is not None and time.time() - self.save_time > self.checkpoint_every_secs:
            self.save_time = time.time()
            self.written.append(save_checkpoint(self.manager, self.model))

    def write_samples(self, step):
        samples = self.model.sample().numpy()
        if self.sample_dir:
            path = os.path.join(self.sample_dir, "train_%d.png" % step)
            self.written.append(save_image_grid(samples, (8, 8), path))
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.image("G", (samples[:16] + 1.0) / 2.0, max_outputs=16)
            self.writer.flush()
