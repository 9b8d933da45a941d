"""Every file a run writes survives every damage (issue 25): a fault matrix, not chosen cases.

For each file that a run, ``evaluate`` or the visual Turing test writes and a later command reads back (:data:`FILES`)
and each damage of :data:`faults.DAMAGES` (deleted, empty, cut short at three places, a byte flipped at three
places, random bytes of the same length, replaced by a directory, unreadable), every command that reads the file
(:data:`READERS`) runs on a damaged copy of one trained run. Each must either carry on correctly (restore the newest
checkpoint that restores; rebuild what can be rebuilt; report what an undamaged run reports) or stop with one line,
exit status 2, naming the damaged file and what to do, having changed nothing. Never a traceback, and never a good
file changed or lost.

The run is tiny (the CIFAR-10 feature-matching script at 1/16 of its widths on 100 synthetic images: 10 batches an
epoch), trained once per module in a subprocess with the real script, evaluated, and given a study with votes; each
cell copies it and runs the command in this process with its command line's error handling
(:func:`faults.run_in_process`), and ``test_the_command_lines_agree_with_the_matrix`` runs a cell per command
through the real command lines. In the default suite a resume asks for 2 epochs, so that it trains nothing whichever
checkpoint it restores (the test error it measures again must be the one logged for that checkpoint's epoch);
``-m slow`` repeats every resume cell asking for 4 (the epochs trained from the restored checkpoint must print the
undamaged run's lines). Then the faults during writes: a run killed at each point of its writes, a full disk, a
killed Turing-test server. ``docs/troubleshooting.md`` describes the matrix.
"""
import csv
import dataclasses
import json
import os
import re
import shutil
from typing import Tuple

import numpy as np
import pytest

import faults
from helpers import SCRIPTS, run_script

SCRIPT = os.path.join(SCRIPTS, "train_cifar_feature_matching.py")
TINY = ("--batch_size=10", "--count=2", "--width_scale=0.0625")
EXPERIMENT = "train_cifar_feature_matching"
ITERATION = re.compile(r"^Iteration (\d+), time = \d+s, (.*)$", re.M)
EPOCHS = 3  # the trained run: checkpoints ckpt-1, ckpt-2, ckpt-3


# ---------------------------------------------------------------------- the files and who reads them


@dataclasses.dataclass(frozen=True)
class File:
    """A file of the matrix: its path(s) under the world (``run/`` or ``study/``) and the commands that read it."""

    paths: Tuple[str, ...]
    readers: Tuple[str, ...]
    newest_checkpoint: bool = False  #: damaging it may make ckpt-3 unrestorable


FILES = {
    "ckpt-3 data": File(("run/checkpoints/ckpt-3.data-00000-of-00001",), ("resume", "evaluate", "export"), True),
    "ckpt-3 index": File(("run/checkpoints/ckpt-3.index",), ("resume", "evaluate", "export"), True),
    "ckpt-2 data": File(("run/checkpoints/ckpt-2.data-00000-of-00001",), ("resume", "evaluate ckpt-2")),
    "ckpt-2 index": File(("run/checkpoints/ckpt-2.index",), ("resume", "evaluate ckpt-2")),
    "checkpoint state": File(("run/checkpoints/checkpoint",), ("resume", "evaluate", "export")),
    "flags.json": File(("run/flags.json",), ("resume", "evaluate", "report", "export")),
    "data.json": File(("run/data.json",), ("resume",)),
    "history.csv": File(("run/history.csv",), ("resume", "evaluate", "report")),
    "epoch_times.csv": File(("run/epoch_times.csv",), ("resume", "report")),
    "summary.json": File(("run/summary.json",), ("resume", "report")),
    ".lock": File(("run/.lock",), ("resume",)),
    "event files": File(("run/logs/train/", "run/logs/validation/", "run/logs/samples/"), ("resume",)),
    "evaluation.json": File(("run/evaluation.json",), ("evaluate", "report")),
    "evaluation samples": File(("run/evaluation_samples.npz",), ("evaluate", "make-study", "serve")),
    "votes database": File(("study/votes.sqlite",), ("serve", "turing report")),
    "study file": File(("study/study.toml",), ("serve",)),
    "real images": File(("study/real.npz",), ("serve", "make-study")),
}
#: The commands of the matrix (``export`` is ``python -m improved_gan_tf2.export RUN_DIR``, both formats).
READERS = ("resume", "evaluate", "evaluate ckpt-2", "export", "report", "serve", "turing report", "make-study")

CELLS = [(file, damage, reader) for file, spec in FILES.items() for damage in faults.DAMAGES for reader in spec.readers]


def _paths(world_dir, file):
    """The damaged file's paths in a copy of the world (an event-file entry names every event file of its folder)."""
    found = []
    for relative in FILES[file].paths:
        path = os.path.join(world_dir, relative)
        if relative.endswith("/"):
            found += sorted(os.path.join(path, name) for name in os.listdir(path) if name.startswith("events."))
        else:
            found.append(path)
    return found


# ---------------------------------------------------------------------- the world: one run, evaluated, and a study


@dataclasses.dataclass
class World:
    root: str  #: ``run/`` and ``study/`` (copied per cell); ``data/`` (shared, never damaged)
    flags: dict  #: the run's flags (flags.json without its experiment)
    lines: dict  #: epoch -> the per-epoch line of an undamaged run, without its time
    history: list  #: the rows of the undamaged run's history.csv, up to epoch 3 (4 epochs)
    reports: dict  #: reader -> its stdout on the undamaged world


def per_epoch_lines(stdout):
    """{epoch: the original's per-epoch line without its time} of a run's output."""
    return {int(epoch): rest for epoch, rest in ITERATION.findall(stdout)}


def read_history(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def run_keras_command(function, *args, **kwargs):
    """:func:`faults.run_in_process` of a command that builds a Keras model, then a clear Keras session (each cell
    builds its model anew)."""
    try:
        return faults.run_in_process(function, *args, **kwargs)
    finally:
        import keras

        keras.backend.clear_session()


def resume(run_dir, world_flags, epochs):
    from improved_gan_tf2 import experiments

    flags = dict(world_flags, out_dir=run_dir, epochs=epochs)
    return run_keras_command(experiments.run, experiments.get_experiment(EXPERIMENT), flags)


def evaluate(run_dir, checkpoint="latest"):
    from improved_gan_tf2 import evaluate as evaluate_tool

    return run_keras_command(evaluate_tool.evaluate, run_dir, checkpoint=checkpoint, num_samples=20, progress=False)


def export(run_dir):
    from improved_gan_tf2 import export as export_tool

    return run_keras_command(export_tool.export, run_dir)


def report(run_dir, out_dir):
    from improved_gan_tf2 import report as report_tool

    return faults.run_in_process(report_tool.report, [run_dir], out_dir)


def turing(*args):
    from improved_gan_tf2.turing.__main__ import main

    return faults.run_in_process(main, list(args))


def serve_once(study, db, monkeypatch):
    """``turing serve`` up to its first request (study, database, port), then stopped: its command line's main, with
    the server's loop returning at once."""
    from improved_gan_tf2.turing import server as server_module

    prepare = server_module.prepare

    def prepared(*args, **kwargs):
        server, *rest = prepare(*args, **dict(kwargs, log=None))
        server.run = lambda: None
        return (server, *rest)

    with monkeypatch.context() as patch:
        patch.setattr(server_module, "prepare", prepared)
        return turing("serve", f"--study={study}", f"--db={db}", "--port=0")


def make_study(world_dir, out):
    return turing("make-study", f"--generated={world_dir}/run/evaluation_samples.npz",
                  f"--real={world_dir}/study/real.npz", f"--out={out}", "--n_generated=5", "--n_real=5")


def cast_votes(study, db, annotators=2, votes=4):
    """Votes over HTTP from ``annotators`` annotators (``votes`` each) to the study served in this process."""
    from improved_gan_tf2.turing.testing import HttpAnnotator, running_server

    with running_server(study, db) as (base, _, _):
        for number in range(annotators):
            annotator = HttpAnnotator(base)
            assert annotator.start() == 303
            for vote in range(votes):
                status, shown = annotator.next("main")
                assert status == 200 and not shown["done"], shown
                status, _ = annotator.vote(shown["token"], "main", ("real", "generated")[(number + vote) % 2])
                assert status == 200
            annotator.close()


def settle_database(db):
    """Fold the write-ahead log into the database file, so that the file alone holds every vote."""
    import sqlite3

    connection = sqlite3.connect(db)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from improved_gan_tf2.data.writers import write_synthetic

    root = str(tmp_path_factory.mktemp("fault_matrix"))
    data, run, study = (os.path.join(root, name) for name in ("data", "run", "study"))
    write_synthetic("cifar10", data, n_train=100, n_test=25, seed=3)
    trained = run_script(SCRIPT, f"--data_dir={data}", *TINY, f"--epochs={EPOCHS}", f"--out_dir={run}")
    assert trained.returncode == 0, trained.stderr[-3000:]
    lines = per_epoch_lines(trained.stdout)
    assert sorted(lines) == [0, 1, 2]
    flags = json.load(open(os.path.join(run, "flags.json")))
    del flags["experiment"]
    evaluated = evaluate(run)
    assert evaluated.status == 0, evaluated.describe()
    # the undamaged run continued by one epoch: the line and the history of epoch 3
    further = os.path.join(root, "further")
    shutil.copytree(run, further)
    continued = resume(further, flags, EPOCHS + 1)
    assert continued.status == 0, continued.describe()
    lines.update(per_epoch_lines(continued.stdout))
    history = read_history(os.path.join(further, "history.csv"))
    assert [int(row["epoch"]) for row in history] == [0, 1, 2, 3]
    shutil.rmtree(further)
    # a study of the run's samples against "real" images, with votes
    os.makedirs(study)
    np.savez(os.path.join(study, "real.npz"), x=np.random.RandomState(0).randint(0, 256, (20, 32, 32, 3), np.uint8))
    made = make_study(root, os.path.join(study, "study.toml"))
    assert made.status == 0, made.describe()
    cast_votes(os.path.join(study, "study.toml"), os.path.join(study, "votes.sqlite"))
    settle_database(os.path.join(study, "votes.sqlite"))
    reports = {"report": report(run, os.path.join(root, "report")).result,
               "turing report": turing("report", f"--db={study}/votes.sqlite").stdout}
    shutil.rmtree(os.path.join(root, "report"))
    assert "| 8 |" in reports["turing report"], reports["turing report"]
    return World(root, flags, lines, history, reports)


def copy_world(world, tmp_path):
    target = str(tmp_path / "world")
    os.makedirs(target)
    for name in ("run", "study"):
        faults.copy_tree(os.path.join(world.root, name), os.path.join(target, name))
    # the study's generated images are the run's samples, by a path relative to the study file
    return target


# ---------------------------------------------------------------------- what each reader must do


def checkpoint_intact(damaged_prefix, good_prefix):
    """Whether every tensor of the damaged checkpoint still reads back equal to the undamaged one's (a flipped byte
    TensorFlow never reads leaves it intact); the oracle of which checkpoint a resume must restore."""
    import tensorflow as tf

    try:
        damaged, good = tf.train.load_checkpoint(damaged_prefix), tf.train.load_checkpoint(good_prefix)
        names = good.get_variable_to_shape_map()
        if set(damaged.get_variable_to_shape_map()) != set(names):
            return False
        return all(np.array_equal(damaged.get_tensor(name), good.get_tensor(name)) for name in names)
    except Exception:  # noqa: BLE001  (whatever TensorFlow raises: not intact)
        return False


def newest_restorable(world, world_dir, file, damage):
    """The checkpoint number a resume must restore and an evaluation of ``latest`` must evaluate (before the
    command runs: it may move a damaged checkpoint aside)."""
    if not FILES[file].newest_checkpoint:
        return EPOCHS
    if damage == "unreadable":
        return EPOCHS - 1
    good = os.path.join(world.root, "run", "checkpoints", f"ckpt-{EPOCHS}")
    return EPOCHS if checkpoint_intact(os.path.join(world_dir, "run", "checkpoints", f"ckpt-{EPOCHS}"), good) \
        else EPOCHS - 1


def second_restorable(world, world_dir, file, damage):
    """Whether ckpt-2 still restores (what ``evaluate --checkpoint=2`` needs)."""
    if file not in ("ckpt-2 data", "ckpt-2 index"):
        return True
    good = os.path.join(world.root, "run", "checkpoints", f"ckpt-{EPOCHS - 1}")
    return damage != "unreadable" and checkpoint_intact(
        os.path.join(world_dir, "run", "checkpoints", f"ckpt-{EPOCHS - 1}"), good)


def restored_checkpoint(stdout):
    """The checkpoint number a resumed run says it restored."""
    match = re.search(r"^Resuming .* after epoch (\d+) \(checkpoint .*ckpt-(\d+)\)$", stdout, re.M)
    if match:
        return int(match.group(2))
    match = re.search(r"is done: it has trained \d+ epochs? \(epochs? [\d-]+, checkpoint .*ckpt-(\d+)\)", stdout)
    return int(match.group(1)) if match else None


#: The files each command may write (relative to the world): the rest must not change.
WRITES = {
    "resume": (r"run/flags\.json", r"run/summary\.json", r"run/history\.csv", r"run/epoch_times\.csv",
               r"run/checkpoints/checkpoint", r"run/samples/.*", r"run/logs/.*", r"run/\.lock"),
    "evaluate": (r"run/evaluation\.json", r"run/evaluation_samples\.npz", r"run/samples/evaluation\.png"),
    "export": (r"run/export/.*",), "report": (), "serve": (r"study/votes\.sqlite(-wal|-shm)?",), "turing report": (),
    "make-study": (),
}
WRITES["evaluate ckpt-2"] = WRITES["evaluate"]
FIX = re.compile(r"\b(move|put back|delete|remove|restore|run|free|make|give|pass|rename|recover|use|add|correct|"
                 r"choose|write)\b")


def assert_nothing_good_lost(before, after, damaged, reader, status, restored=None, retained=None):
    """Every file that was not damaged is unchanged, unless ``reader`` writes it (and then only when it carried on);
    checkpoints skipped by a resume are moved to ``checkpoints/skipped/`` intact; a resume that trained on may
    rewrite the checkpoints after the one it restored; with ``retained`` (the newest checkpoint at the end), the
    checkpoints the manager no longer keeps (all but the 3 newest) may be gone."""
    allowed = [re.compile(pattern) for pattern in WRITES[reader]] if status == 0 else [re.compile(r"run/\.lock")]
    for path, digest in before.items():
        if path in damaged or any(pattern.fullmatch(path) for pattern in allowed):
            continue
        match = re.fullmatch(r"run/checkpoints/ckpt-(\d+)\.(index|data-00000-of-00001)", path)
        if match and reader == "resume" and status == 0 and restored is not None:
            if int(match.group(1)) > restored:
                skipped = after.get(f"run/checkpoints/skipped/{os.path.basename(path)}")
                assert after.get(path) == digest or skipped == digest, f"{path} neither kept nor moved aside"
                continue
            if retained is not None and int(match.group(1)) <= retained - 3 and path not in after:
                continue
        assert after.get(path) == digest, f"{reader} changed or removed the good file {path}"


def assert_one_line_naming(outcome, paths, world_dir):
    lines = outcome.error_lines
    assert outcome.status == 2 and len(lines) == 1 and lines[0].startswith("error: "), outcome.describe()
    relative = [os.path.relpath(path, world_dir) for path in paths]
    named = [os.path.basename(path) for path in relative]
    named += [name.split(".")[0] for name in named if name.startswith("ckpt-")]  # a checkpoint, by its prefix
    assert any(re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", lines[0]) for name in named), \
        f"the error names none of {relative}: {lines[0]}"
    words = re.sub(r"\S*/\S*", "", lines[0])  # the paths named say nothing of what to do
    assert FIX.search(words.split(";", 1)[-1]), f"no fix in: {lines[0]}"


def run_reader(reader, world, world_dir, tmp_path, epochs, monkeypatch):
    run_dir, study_dir = os.path.join(world_dir, "run"), os.path.join(world_dir, "study")
    if reader == "resume":
        return resume(run_dir, world.flags, epochs)
    if reader == "evaluate":
        return evaluate(run_dir)
    if reader == "evaluate ckpt-2":
        return evaluate(run_dir, checkpoint="2")
    if reader == "export":
        return export(run_dir)
    if reader == "report":
        return report(run_dir, str(tmp_path / "report"))
    if reader == "serve":
        return serve_once(os.path.join(study_dir, "study.toml"), os.path.join(study_dir, "votes.sqlite"),
                          monkeypatch)
    if reader == "turing report":
        return turing("report", f"--db={study_dir}/votes.sqlite")
    if reader == "make-study":
        return make_study(world_dir, str(tmp_path / "made.toml"))
    raise AssertionError(f"no command {reader!r}")


def check_carried_on(outcome, reader, world, world_dir, file, damage, tmp_path, epochs, expected):
    """What a command that carried on (status 0) must have done; ``expected``: the checkpoint it must restore."""
    run_dir = os.path.join(world_dir, "run")
    if reader == "resume":
        assert restored_checkpoint(outcome.stdout) == expected, outcome.describe()
        trained = per_epoch_lines(outcome.stdout)
        assert sorted(trained) == list(range(expected, epochs)), outcome.describe()
        for epoch, line in trained.items():  # what an undamaged run from that checkpoint trains
            assert line == world.lines[epoch], (epoch, line, world.lines[epoch])
        summary = json.load(open(os.path.join(run_dir, "summary.json")))
        done = max(expected, epochs)
        assert summary["epochs_completed"] == done
        assert summary["test_err"] == pytest.approx(float(world.history[done - 1]["val_test_err"]), abs=1e-6)
        rows = read_history(os.path.join(run_dir, "history.csv")) if os.path.isfile(
            os.path.join(run_dir, "history.csv")) else []
        for row in rows:  # every row the undamaged run's
            assert row == world.history[int(row["epoch"])], row
        if file != "history.csv":
            assert [int(row["epoch"]) for row in rows] == list(range(done))
        stored = json.load(open(os.path.join(run_dir, "flags.json")))  # rewritten with the new --epochs only
        assert stored == dict(world.flags, experiment=EXPERIMENT, out_dir=run_dir, epochs=epochs)
    elif reader in ("evaluate", "evaluate ckpt-2", "export"):
        # evaluate returns and writes its evaluation; export its manifest, with evaluate's test errors in it
        assert expected is not None, f"{reader} used a checkpoint that does not restore: {outcome.describe()}"
        result = outcome.result
        measured, written = (result["evaluate"], "export/manifest.json") if reader == "export" else (
            result, "evaluation.json")
        assert result["checkpoint_number"] == expected, outcome.describe()
        assert measured["test_err"] == pytest.approx(float(world.history[expected - 1]["val_test_err"]), abs=1e-6)
        assert json.load(open(os.path.join(run_dir, written)))["checkpoint_number"] == expected
        if reader == "export":
            assert sorted(os.listdir(os.path.join(run_dir, "export"))) == [
                "classifier", "classifier.keras", "generator", "generator.keras", "manifest.json"]
    elif reader in ("report", "turing report"):
        if damage == "deleted" or (damage == "empty" and file != "votes database"):
            return  # what the report shows without that file
        shown = outcome.result if reader == "report" else outcome.stdout
        assert shown == world.reports[reader], outcome.describe()
    elif reader == "serve":
        shown = turing("report", f"--db={world_dir}/study/votes.sqlite")
        assert shown.status == 0, shown.describe()
        if file != "votes database" or damage not in ("deleted", "empty"):
            assert shown.stdout == world.reports["turing report"], shown.describe()
    elif reader == "make-study":
        from improved_gan_tf2.turing.study import load_study

        assert load_study(str(tmp_path / "made.toml")).conditions["main"].n_generated == 5


def _record(world_dir, file, damage, reader, outcome):
    """With ``FAULT_MATRIX_RECORD=path``, append what the command said (its error line or its notes) to that JSON
    lines file: the table of ``docs/troubleshooting.md`` is made from it."""
    path = os.environ.get("FAULT_MATRIX_RECORD")
    if path:
        said = outcome.error_lines if outcome.status == 2 else [
            line for line in outcome.stdout.splitlines() + outcome.error_lines if line.startswith("note:")]
        with open(path, "a") as stream:
            stream.write(json.dumps({"file": file, "damage": damage, "reader": reader, "status": outcome.status,
                                     "said": [line.replace(world_dir, "RUN") for line in said]}) + "\n")


def run_cell(world, tmp_path, monkeypatch, file, damage, reader, epochs):
    world_dir = copy_world(world, tmp_path)
    paths = _paths(world_dir, file)
    if damage == "unreadable" and not faults.permissions_enforced(world_dir):
        pytest.skip("permissions are not enforced for this user (root): chmod 000 does not stop a read (run as "
                    "another user, or as root under setpriv --bounding-set=-dac_override,-dac_read_search)")
    faults.damage(paths, damage)
    if reader == "evaluate ckpt-2":
        expected = EPOCHS - 1 if second_restorable(world, world_dir, file, damage) else None
    else:
        expected = newest_restorable(world, world_dir, file, damage)
    before = faults.snapshot(world_dir)
    damaged = {os.path.relpath(path, world_dir) for path in paths}
    try:
        outcome = run_reader(reader, world, world_dir, tmp_path, epochs, monkeypatch)
        after = faults.snapshot(world_dir)
    finally:
        faults.undo_permissions(world_dir)
    assert outcome.status in (0, 2), f"{reader} on {file} {damage}: {outcome.describe()}"
    _record(world_dir, file, damage, reader, outcome)
    if outcome.status == 2:
        assert_one_line_naming(outcome, paths, world_dir)
        assert_nothing_good_lost(before, after, damaged, reader, 2)
        return outcome
    restored = restored_checkpoint(outcome.stdout) if reader == "resume" else None
    assert_nothing_good_lost(before, after, damaged, reader, 0, restored,
                             retained=epochs if reader == "resume" and epochs > EPOCHS else None)
    check_carried_on(outcome, reader, world, world_dir, file, damage, tmp_path, epochs, expected)
    return outcome


def _id(cell):
    return "-".join(cell).replace(" ", "_")


#: The damages of the default suite's cells: every file with every reader, missing, empty, cut short, a byte flipped,
#: replaced by a directory, unreadable. The other damages (cut to 8 bytes, the last byte missing, the first or the
#: last byte flipped, random bytes) run with ``-m slow``: the default suite's budget (tests/README.md).
DEFAULT_DAMAGES = ("deleted", "empty", "cut_in_half", "flipped_middle_byte", "a_directory", "unreadable")


def _cell_param(cell):
    return pytest.param(*cell, id=_id(cell), marks=() if cell[1] in DEFAULT_DAMAGES else pytest.mark.slow)


@pytest.mark.parametrize("file, damage, reader", [_cell_param(cell) for cell in CELLS])
def test_cell(world, tmp_path, monkeypatch, file, damage, reader):
    """Every cell; a resume asks for 2 epochs, so that it trains none whichever checkpoint it restores (its test
    error, measured again, must be the one logged for that checkpoint's epoch)."""
    run_cell(world, tmp_path, monkeypatch, file, damage, reader, EPOCHS - 1)


RESUME_CELLS = [(file, damage) for file, damage, reader in CELLS if reader == "resume"]


@pytest.mark.slow
@pytest.mark.parametrize("file, damage", RESUME_CELLS, ids=[_id(cell) for cell in RESUME_CELLS])
def test_resume_cell_training_on(world, tmp_path, monkeypatch, file, damage):
    """Every resume cell again, asking for 4 epochs: the run trains on from the checkpoint it restored, each epoch's
    line the undamaged run's."""
    run_cell(world, tmp_path, monkeypatch, file, damage, "resume", EPOCHS + 1)


# ---------------------------------------------------------------------- the issue's case, the command lines


def test_a_newest_checkpoint_cut_to_4_kib_resumes_from_the_one_before(world, tmp_path):
    """Issue 25's case: ckpt-3's data file replaced by 4 KiB of random bytes (what a full disk or a killed copy
    leaves). The same command resumes from ckpt-2 with one note saying why ckpt-3 was skipped, and trains epochs 2
    and 3 exactly as the undamaged run did."""
    run_dir = faults.copy_tree(os.path.join(world.root, "run"), str(tmp_path / "run"))
    data = os.path.join(run_dir, "checkpoints", "ckpt-3.data-00000-of-00001")
    with open(data, "wb") as stream:
        stream.write(os.urandom(4096))
    result = run_script(SCRIPT, f"--data_dir={world.flags['data_dir']}", *TINY, "--epochs=4", f"--out_dir={run_dir}")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    notes = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert notes == [f"note: skipped checkpoint {run_dir}/checkpoints/ckpt-3 (Read less bytes than requested); "
                     f"moved to {run_dir}/checkpoints/skipped"], notes
    assert f"Resuming {run_dir} after epoch 1 (checkpoint {run_dir}/checkpoints/ckpt-2)" in result.stdout
    assert per_epoch_lines(result.stdout) == {2: world.lines[2], 3: world.lines[3]}
    assert read_history(os.path.join(run_dir, "history.csv")) == world.history
    assert os.path.getsize(os.path.join(run_dir, "checkpoints", "skipped", "ckpt-3.data-00000-of-00001")) == 4096


#: Cells run again through the real command lines, in subprocesses: (file, damage, reader, command line).
COMMAND_LINES = [
    ("flags.json", "random_bytes", "resume", lambda w, world: [SCRIPT, f"--data_dir={world.flags['data_dir']}",
                                                             *TINY, "--epochs=2", f"--out_dir={w}/run"]),
    ("ckpt-3 data", "cut_in_half", "evaluate", lambda w, world: ["-m", "improved_gan_tf2.evaluate", f"{w}/run",
                                                                 "--num_samples=20"]),
    ("checkpoint state", "a_directory", "evaluate", lambda w, world: ["-m", "improved_gan_tf2.evaluate", f"{w}/run",
                                                                      "--num_samples=20"]),
    ("summary.json", "flipped_middle_byte", "report", lambda w, world: ["-m", "improved_gan_tf2.report", f"{w}/run",
                                                                        f"--out={w}/report"]),
    ("votes database", "flipped_first_byte", "serve", lambda w, world: [
        "-m", "improved_gan_tf2.turing", "serve", f"--study={w}/study/study.toml", f"--db={w}/study/votes.sqlite",
        "--port=0"]),
    ("votes database", "cut_in_half", "turing report", lambda w, world: [
        "-m", "improved_gan_tf2.turing", "report", f"--db={w}/study/votes.sqlite"]),
    ("real images", "random_bytes", "make-study", lambda w, world: [
        "-m", "improved_gan_tf2.turing", "make-study", f"--generated={w}/run/evaluation_samples.npz",
        f"--real={w}/study/real.npz", f"--out={w}/made.toml"]),
]


def test_the_command_lines_agree_with_the_matrix(world, tmp_path, monkeypatch):
    """The in-process runs of the matrix handle errors as the command lines do: the same cells through the real
    command lines give the same exit status and the same one line, without a traceback."""
    import subprocess
    import sys

    from helpers import ENV

    processes = []
    for number, (file, damage, reader, command) in enumerate(COMMAND_LINES):
        world_dir = copy_world(world, tmp_path / f"cli{number}")
        faults.damage(_paths(world_dir, file), damage)
        processes.append((world_dir, subprocess.Popen([sys.executable, *command(world_dir, world)], text=True,
                                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)))
    for (world_dir, process), (file, damage, reader, _) in zip(processes, COMMAND_LINES):
        stdout, stderr = process.communicate(timeout=600)
        in_process_dir = copy_world(world, tmp_path / f"in_process_{reader.replace(' ', '_')}_{file[:5]}")
        faults.damage(_paths(in_process_dir, file), damage)
        expected = run_reader(reader, world, in_process_dir, tmp_path, EPOCHS - 1, monkeypatch)
        assert "Traceback" not in stderr, stderr[-3000:]
        assert process.returncode == expected.status, (file, damage, reader, stderr[-3000:])
        lines = [line for line in stderr.splitlines() if line.strip()]
        if expected.status == 2:
            assert [line.replace(world_dir, "<world>") for line in lines] == \
                   [line.replace(in_process_dir, "<world>") for line in expected.error_lines]
        else:  # the evaluations carry on, saying what they skipped
            assert stdout.count("note: ") == expected.stdout.count("note: ") == 1, (stdout, expected.stdout)


# ---------------------------------------------------------------------- faults during writes

#: Runs a training script (argv[3:]) that kills itself (SIGKILL) at one point of its writes: argv[1] the point,
#: argv[2] its argument. Checkpoint points act during the save of checkpoint argv[2] only: "before_write" (nothing
#: written), "data_cut" (the temporary data file written half, as a kill after that many bytes leaves it),
#: "before_merge" (the temporary files complete), "after_merge" (the checkpoint's files in place, not yet in the
#: index), "index_rename" (the new index written to its temporary file, not renamed), "before_sweep" (the index
#: names the new checkpoint; the oldest not yet deleted), "mid_sweep" (the oldest's .index deleted, its data not),
#: "before_second_record" (the oldest deleted, the index still naming it). File points: "start:<name>" (at the open
#: of the file or of its temporary file, before any byte), "half:<name>" and "all_but_one:<name>" (after that part
#: of the first write), "before_rename:<name>" (the temporary file complete, not renamed).
KILL_AT = r"""
from improved_gan_tf2.startup import quiet_tensorflow
quiet_tensorflow()
import builtins, glob, os, runpy, signal, sys
point, argument, script = sys.argv[1], sys.argv[2], sys.argv[3]
sys.argv = sys.argv[3:]


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


from tensorflow.python.checkpoint import checkpoint_management as management
from tensorflow.python.checkpoint import functional_saver
from tensorflow.python.lib.io import file_io
from tensorflow.python.ops import gen_io_ops

armed = [False]
save = management.CheckpointManager.save


def armed_save(self, checkpoint_number=None, **kwargs):
    armed[0] = str(checkpoint_number) == argument
    return save(self, checkpoint_number=checkpoint_number, **kwargs)


management.CheckpointManager.save = armed_save


def before(module, name, at=lambda *a, **k: True, after=False):
    original = getattr(module, name)

    def wrapped(*args, **kwargs):
        if armed[0] and not after and at(*args, **kwargs):
            die()
        result = original(*args, **kwargs)
        if armed[0] and after and at(*args, **kwargs):
            die()
        return result

    setattr(module, name, wrapped)


if point == "before_write":
    before(functional_saver, "_single_shard_save")
elif point == "data_cut":
    def cut(prefixes, *args, **kwargs):
        for prefix in prefixes:
            for data in glob.glob(prefix.numpy().decode() + ".data-*"):
                os.truncate(data, os.path.getsize(data) // 2)
        return True
    before(gen_io_ops, "merge_v2_checkpoints", cut)
elif point == "before_merge":
    before(gen_io_ops, "merge_v2_checkpoints")
elif point == "after_merge":
    before(gen_io_ops, "merge_v2_checkpoints", after=True)
elif point == "index_rename":
    before(file_io, "rename", lambda source, target, *a, **k: os.path.basename(target) == "checkpoint")
elif point == "before_sweep":
    before(management.CheckpointManager, "_sweep")
elif point == "mid_sweep":
    before(management, "_delete_file_if_exists", after=True)
elif point == "before_second_record":
    calls = []
    before(management, "update_checkpoint_state_internal", lambda *a, **k: calls.append(1) or len(calls) == 2)
else:
    how, name = point.split(":")
    if how == "before_rename":
        replace = os.replace

        def armed_replace(source, target, *args, **kwargs):
            if os.path.basename(str(target)) == name:
                die()
            return replace(source, target, *args, **kwargs)

        os.replace = armed_replace
    else:
        import faults

        def cut_short(stream, text):
            stream.write(text[:{"half": len(text) // 2, "all_but_one": len(text) - 1}[how]])
            stream.flush()
            die()

        builtins.open = faults.hooked_open(builtins.open, {name, name + ".tmp"}, cut_short,
                                           die if how == "start" else None)

runpy.run_path(script, run_name="__main__")
"""

#: Kill points and the checkpoint the resumed run must restore: the world's run resumed to 4 epochs is killed while
#: it writes, during epoch 3, its history row, its checkpoint ckpt-4 (whose save deletes ckpt-1), its epoch time;
#: flags.json and data.json before training, summary.json after.
KILL_POINTS = {
    "before_write": 3, "data_cut": 3, "before_merge": 3, "after_merge": 4, "index_rename": 4, "before_sweep": 4,
    "mid_sweep": 4, "before_second_record": 4,
    "start:flags.json": 3, "half:flags.json": 3, "before_rename:flags.json": 3, "half:data.json": 3,
    "start:history.csv": 3, "half:history.csv": 3, "all_but_one:history.csv": 3,
    "half:epoch_times.csv": 4, "all_but_one:epoch_times.csv": 4, "half:summary.json": 4,
    "before_rename:summary.json": 4,
}
#: The kill points of the default suite (every one runs with -m slow): one in a checkpoint's data, one in the sweep of
#: old checkpoints, one in a JSON file written before training.
DEFAULT_KILL_POINTS = ("data_cut", "mid_sweep", "half:flags.json")


def _kill_and_resume(world, tmp_path, points):
    """Start one killed run per point (in parallel), then resume each in this process: it must carry on from the
    checkpoint of :data:`KILL_POINTS`, train what the undamaged run trained and lose nothing good."""
    import subprocess
    import sys

    from helpers import ENV

    started = []
    for point in points:
        world_dir = copy_world(world, tmp_path / point.replace(":", "_"))
        run_dir = os.path.join(world_dir, "run")
        before = faults.snapshot(world_dir)
        process = subprocess.Popen(
            [sys.executable, "-c", KILL_AT, point, "4", SCRIPT, f"--data_dir={world.flags['data_dir']}", *TINY,
             "--epochs=4", f"--out_dir={run_dir}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(ENV, PYTHONPATH=os.pathsep.join([ENV["PYTHONPATH"], os.path.dirname(__file__)])))
        started.append((point, world_dir, before, process))
    for point, world_dir, before, process in started:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == -9, f"{point}: the kill point was not reached: {stderr[-3000:]}"
        outcome = resume(os.path.join(world_dir, "run"), world.flags, EPOCHS + 1)
        assert outcome.status == 0, f"{point}: {outcome.describe()}"
        expected = KILL_POINTS[point]
        assert_nothing_good_lost(before, faults.snapshot(world_dir), set(), "resume", 0,
                                 restored_checkpoint(outcome.stdout), retained=EPOCHS + 1)
        check_carried_on(outcome, "resume", world, world_dir, "none", "none", tmp_path, EPOCHS + 1, expected)


@pytest.mark.parametrize("point", DEFAULT_KILL_POINTS)
def test_a_run_killed_while_it_writes_resumes_with_nothing_lost(world, tmp_path, point):
    _kill_and_resume(world, tmp_path, [point])


@pytest.mark.slow
def test_a_run_killed_at_any_of_its_writes_resumes_with_nothing_lost(world, tmp_path):
    _kill_and_resume(world, tmp_path, [point for point in KILL_POINTS if point not in DEFAULT_KILL_POINTS])


def _no_space(stream, text):
    import errno

    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), stream.name)


@pytest.mark.parametrize("name, restored", [("flags.json", 3), ("history.csv", 3), ("summary.json", 4)])
def test_a_full_disk_stops_with_one_line_and_the_same_command_resumes(world, tmp_path, monkeypatch, name, restored):
    """A write that fails for want of space (here a write hook raising ENOSPC) stops the run with one line naming
    the file and what is saved; once there is room, the same command carries on as if nothing had happened."""
    import builtins

    world_dir = copy_world(world, tmp_path)
    run_dir = os.path.join(world_dir, "run")
    before = faults.snapshot(world_dir)
    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", faults.hooked_open(builtins.open, {name, name + ".tmp"}, _no_space))
        outcome = resume(run_dir, world.flags, EPOCHS + 1)
    assert outcome.status == 2 and len(outcome.error_lines) == 1, outcome.describe()
    assert re.fullmatch(rf"error: cannot write {re.escape(run_dir)}/{re.escape(name)}(\.tmp)? \(No space left on "
                        rf"device\); the checkpoints up to {re.escape(run_dir)}/checkpoints/ckpt-{restored} are "
                        rf"intact: free some space \(or mend the cause\) and run the same command again to resume\.",
                        outcome.error_lines[0]), outcome.error_lines[0]
    assert not os.path.exists(os.path.join(run_dir, name + ".tmp"))
    again = resume(run_dir, world.flags, EPOCHS + 1)
    assert again.status == 0, again.describe()
    assert_nothing_good_lost(before, faults.snapshot(world_dir), set(), "resume", 0,
                             restored_checkpoint(again.stdout), retained=EPOCHS + 1)
    check_carried_on(again, "resume", world, world_dir, "none", "none", tmp_path, EPOCHS + 1, restored)


def test_a_full_file_system_stops_the_run_and_it_resumes_once_there_is_room(world, tmp_path):
    """The real thing where the machine allows it: the run on a tmpfs too small for its next checkpoint."""
    import subprocess

    disk = str(tmp_path / "disk")
    os.makedirs(disk)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", disk], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or mounted.returncode})")
    try:
        run_dir = faults.copy_tree(os.path.join(world.root, "run"), os.path.join(disk, "run"))
        before = faults.snapshot(disk)
        used = sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(disk)
                   for name in names)
        checkpoint = os.path.getsize(os.path.join(run_dir, "checkpoints", "ckpt-3.data-00000-of-00001"))
        room = used + 64 * 4096 + checkpoint // 2  # the files, their pages, half a checkpoint
        subprocess.run(["mount", "-o", f"remount,size={room}", disk], check=True)
        result = run_script(SCRIPT, f"--data_dir={world.flags['data_dir']}", *TINY, "--epochs=4",
                            f"--out_dir={run_dir}")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and re.fullmatch(
            rf"error: cannot write {re.escape(run_dir)}/checkpoints/ckpt-4_temp/\S+ \(No space left on device\); "
            rf"the checkpoints up to {re.escape(run_dir)}/checkpoints/ckpt-3 are intact: free some space .*",
            lines[0]), lines
        subprocess.run(["mount", "-o", "remount,size=64m", disk], check=True)
        again = resume(run_dir, world.flags, EPOCHS + 1)
        assert again.status == 0, again.describe()
        assert "ckpt-4_temp, left by a save that was interrupted" in again.stdout
        assert_nothing_good_lost(before, faults.snapshot(disk), set(), "resume", 0, restored_checkpoint(again.stdout),
                                 retained=EPOCHS + 1)
        check_carried_on(again, "resume", world, disk, "none", "none", tmp_path, EPOCHS + 1, EPOCHS)
    finally:
        subprocess.run(["umount", disk], capture_output=True)


def test_a_killed_server_keeps_every_acknowledged_vote(world, tmp_path):
    """``turing serve`` killed (SIGKILL) while annotators vote: the database (SQLite, write-ahead log) holds every
    vote the server acknowledged, is intact, and serves again."""
    import signal
    import sqlite3
    import subprocess
    import sys
    import threading

    from helpers import ENV
    from improved_gan_tf2.turing.testing import HttpAnnotator

    world_dir = copy_world(world, tmp_path)
    study, db = os.path.join(world_dir, "study", "study.toml"), os.path.join(world_dir, "study", "votes.sqlite")
    server = subprocess.Popen([sys.executable, "-m", "improved_gan_tf2.turing", "serve", f"--study={study}",
                               f"--db={db}", "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV)
    for line in server.stdout:
        if line.startswith("Serving"):
            base = re.search(r"at (http://127\.0\.0\.1:\d+)/", line).group(1)
            break
    else:
        raise AssertionError(server.stderr.read())
    acknowledged, lock, enough = [], threading.Lock(), threading.Event()

    def annotate():
        annotator = HttpAnnotator(base, timeout=10)
        try:
            annotator.start()
            while True:
                status, shown = annotator.next("main")
                if status != 200 or shown["done"]:
                    return
                status, _ = annotator.vote(shown["token"], "main", "real")
                if status == 200:
                    with lock:
                        acknowledged.append(shown["token"])
                        if len(acknowledged) >= 12:
                            enough.set()
        except OSError:  # the server is gone
            return

    threads = [threading.Thread(target=annotate) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert enough.wait(timeout=60)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=30)
    with lock:
        voted = set(acknowledged)
    stored = {row[0] for row in sqlite3.connect(db).execute(
        "SELECT served.token FROM votes JOIN served ON votes.served_id = served.id")}
    assert voted <= stored, f"{len(voted - stored)} acknowledged votes lost"
    shown = turing("report", f"--db={db}")
    assert shown.status == 0, shown.describe()
    votes = int(re.search(r"^\| main \| no \| (\d+) \|", shown.stdout, re.M).group(1))
    assert votes == len(stored) >= 8 + len(voted)  # the world's 8 votes, the acknowledged ones (and in flight)
    served = serve_once(study, db, pytest.MonkeyPatch())
    assert served.status == 0, served.describe()


# ---------------------------------------------------------------------- the checks themselves can fail


def test_the_matrix_checks_can_fail(world, tmp_path):
    """Each check of the matrix, given the fault it exists to catch, fails."""
    from improved_gan_tf2 import cli

    def crash():
        raise KeyError("deep inside")

    def refuse():
        raise cli.InputError("/w/run/flags.json is damaged (not JSON); put back the run's flags.json")

    assert faults.run_in_process(crash).status is None  # a traceback
    refused = faults.run_in_process(refuse)
    assert refused.status == 2 and refused.error_lines == [
        "error: /w/run/flags.json is damaged (not JSON); put back the run's flags.json"]
    assert_one_line_naming(refused, ["/w/run/flags.json"], "/w")
    with pytest.raises(AssertionError, match="names none of"):
        assert_one_line_naming(refused, ["/w/run/summary.json"], "/w")
    with pytest.raises(AssertionError, match="no fix"):
        assert_one_line_naming(faults.Outcome(2, "", "error: /w/run/flags.json is damaged\n"),
                               ["/w/run/flags.json"], "/w")
    # a good file changed, a checkpoint after the restored one deleted instead of moved aside
    before = {"run/data.json": "a", "run/checkpoints/ckpt-3.index": "b", "run/summary.json": "c"}
    assert_nothing_good_lost(before, dict(before, **{"run/summary.json": "d"}), set(), "resume", 0, 3)
    with pytest.raises(AssertionError, match="good file run/data.json"):
        assert_nothing_good_lost(before, dict(before, **{"run/data.json": "x"}), set(), "resume", 0, 3)
    with pytest.raises(AssertionError, match="neither kept nor moved aside"):
        assert_nothing_good_lost(before, {"run/data.json": "a"}, set(), "resume", 0, 2)
    with pytest.raises(AssertionError, match="good file run/summary.json"):  # refused: nothing may change
        assert_nothing_good_lost(before, dict(before, **{"run/summary.json": "d"}), set(), "resume", 2)
    with pytest.raises(AssertionError, match="good file run/summary.json"):  # export writes only run/export/
        assert_nothing_good_lost(before, dict(before, **{"run/summary.json": "d"}), set(), "export", 0)
    assert_nothing_good_lost(before, dict(before, **{"run/export/manifest.json": "e"}), set(), "export", 0)
    # the oracle of which checkpoint restores
    good = os.path.join(world.root, "run", "checkpoints", "ckpt-3")
    copy = faults.copy_tree(os.path.join(world.root, "run", "checkpoints"), str(tmp_path / "checkpoints"))
    assert checkpoint_intact(os.path.join(copy, "ckpt-3"), good)
    faults.damage(os.path.join(copy, "ckpt-3.data-00000-of-00001"), "flipped_middle_byte")
    assert not checkpoint_intact(os.path.join(copy, "ckpt-3"), good)
    # a resume that restored another checkpoint than the newest that restores, or trained other lines
    claimed = faults.Outcome(0, f"Resuming {tmp_path} after epoch 1 (checkpoint {tmp_path}/ckpt-2)\n", "")
    with pytest.raises(AssertionError):
        check_carried_on(claimed, "resume", world, str(tmp_path), "none", "none", tmp_path, EPOCHS, EPOCHS)
    wrong_line = claimed.stdout + "Iteration 2, time = 1s, " + world.lines[1] + "\n"
    with pytest.raises(AssertionError):
        check_carried_on(faults.Outcome(0, wrong_line, ""), "resume", world, str(tmp_path), "none", "none", tmp_path,
                         EPOCHS, EPOCHS - 1)
    # an export of an older checkpoint than the newest that restores
    older = {"checkpoint_number": EPOCHS - 1,
             "evaluate": {"test_err": float(world.history[EPOCHS - 2]["val_test_err"])}}
    with pytest.raises(AssertionError):
        check_carried_on(faults.Outcome(0, "", "", older), "export", world, str(tmp_path), "none", "none", tmp_path,
                         EPOCHS, EPOCHS)


@pytest.mark.slow
def test_the_issue_commands_on_the_mnist_sample(tmp_path):
    """Issue 25's commands as written (the README's MNIST script on the shipped sample): 3 epochs, ckpt-3's data
    replaced by 4 KiB of random bytes, then --epochs=4 resumes from ckpt-2 and trains what an undamaged run trains."""
    from helpers import FEATURE_MATCHING

    out_dir, reference = str(tmp_path / "cut"), str(tmp_path / "reference")
    first = run_script(FEATURE_MATCHING, "--dataset=mnist_sample", "--epochs=3", f"--out_dir={out_dir}")
    assert first.returncode == 0, first.stderr[-3000:]
    shutil.copytree(out_dir, reference)
    undamaged = run_script(FEATURE_MATCHING, "--dataset=mnist_sample", "--epochs=4", f"--out_dir={reference}")
    assert undamaged.returncode == 0, undamaged.stderr[-3000:]
    with open(os.path.join(out_dir, "checkpoints", "ckpt-3.data-00000-of-00001"), "wb") as stream:
        stream.write(os.urandom(4096))
    resumed = run_script(FEATURE_MATCHING, "--dataset=mnist_sample", "--epochs=4", f"--out_dir={out_dir}")
    assert resumed.returncode == 0 and resumed.stderr == "", resumed.stderr[-3000:]
    assert [line for line in resumed.stdout.splitlines() if line.startswith("note:")] == [
        f"note: skipped checkpoint {out_dir}/checkpoints/ckpt-3 (Read less bytes than requested); moved to "
        f"{out_dir}/checkpoints/skipped"]
    lines = per_epoch_lines(first.stdout)
    lines.update(per_epoch_lines(undamaged.stdout))
    assert per_epoch_lines(resumed.stdout) == {2: lines[2], 3: lines[3]}
    assert read_history(os.path.join(out_dir, "history.csv")) == read_history(os.path.join(reference, "history.csv"))
