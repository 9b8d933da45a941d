"""Checkpoints that resume: restoring the newest one that restores with finite values (older ones as fallback,
damaged ones moved aside), refusing to save non-finite values, and the semi-supervised and ImageNet checkpoints
(the latter named as the original ``Saver``'s, ``imagenet/train.py``)."""
import gc
import glob
import json
import os
import re
import shutil

import keras
import tensorflow as tf

from improved_gan_tf2.errors import CheckpointError, NonFiniteError


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


def _checkpoint_advice(manager):
    """What a stopped run leaves: its last checkpoint (resumable) or none."""
    latest = manager.latest_checkpoint if manager is not None else None
    if latest:
        return (f"the last checkpoint, {latest}, is intact and finite: the same command resumes from it (and, the "
                f"run being deterministic, diverges again), so change the flags (e.g. a lower --learning_rate) in a "
                f"new --out_dir")
    return "no checkpoint was written: run again with other flags (e.g. a lower --learning_rate)"


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


def epoch_checkpoint(**objects):
    """A semi-supervised run's ``tf.train.Checkpoint``: ``objects`` plus an ``epoch`` counter (returned as the
    second value)."""
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    return tf.train.Checkpoint(epoch=epoch, **objects), epoch


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
