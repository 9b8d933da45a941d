"""Never lose a run (issue 16): a NaN stops the run and nothing non-finite is saved; every loader rejects
non-finite data and out-of-range labels; every --count is trained as the original tiles it or refused up front;
a damaged newest checkpoint falls back to an older one; a run directory is locked against a second process;
damaged run files, unusable --out_dir values, a finished run, other data and Ctrl-C each give one line; the
scripts list their flags and keep TensorFlow's start-up log to themselves.

Most cases run the real scripts in subprocesses on the shipped MNIST sample (an epoch takes about 2 s)."""
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import docs_pages
from helpers import CUSTOM_LABELS, ENV, FEATURE_MATCHING, MINIBATCH, ROOT, history, run_script

ITERATION = re.compile(r"^Iteration (\d+), ", re.M)
SAMPLE = ("--dataset=mnist_sample",)

#: Runs a script with the learning rate of epochs >= argv[1] set to 1e30 (a run that diverges there).
DIVERGE_AT = """
from improved_gan_tf2.startup import quiet_tensorflow
quiet_tensorflow()
import runpy, sys
from improved_gan_tf2.experiments.registry import SemiSupervisedExperiment
bad_epoch, script = int(sys.argv[1]), sys.argv[2]
learning_rate = SemiSupervisedExperiment.learning_rate
SemiSupervisedExperiment.learning_rate = lambda self, base, epoch: (
    1e30 if epoch >= bad_epoch else learning_rate(self, base, epoch))
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""


def one_line_error(result, status=2):
    """The run stopped with ``status`` and one line on stderr, no traceback; returns that line."""
    assert result.returncode == status, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def checkpoint_numbers(out_dir):
    directory = os.path.join(out_dir, "checkpoints")
    if not os.path.isdir(directory):
        return []
    return sorted(int(m.group(1)) for m in (re.match(r"ckpt-(\d+)\.index$", n) for n in os.listdir(directory)) if m)


def assert_finite_checkpoint(prefix):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    floating = [name for name, dtype in reader.get_variable_to_dtype_map().items() if dtype.is_floating]
    assert len(floating) > 50
    for name in floating:
        assert np.isfinite(reader.get_tensor(name)).all(), name


@pytest.fixture(scope="module")
def reference(mnist_sample_run):
    """An uninterrupted 2-epoch run (checkpoints 1 and 2; conftest.py); tests damage copies of it."""
    out_dir, _ = mnist_sample_run
    assert checkpoint_numbers(out_dir) == [1, 2]
    return out_dir


def copy_run(source, tmp_path):
    target = str(tmp_path / "run")
    shutil.copytree(source, target)
    return target


# ---------------------------------------------------------------------- 1. NaN


def test_a_nan_loss_stops_the_run_and_the_last_good_checkpoint_survives(tmp_path, reference):
    out_dir = str(tmp_path / "run")
    # before the guard: exit 0 after 4 epochs, NaN checkpoints 2-4 saved, the good ckpt-1 deleted (3 are kept)
    result = subprocess.run([sys.executable, "-c", DIVERGE_AT, "1", FEATURE_MATCHING, *SAMPLE, "--epochs=4",
                             f"--out_dir={out_dir}"], capture_output=True, text=True, env=ENV, timeout=300)
    line = one_line_error(result, status=3)
    assert re.match(r"error: training diverged at epoch 1, iteration \d+ of 40: loss_\w+ = nan", line), line
    assert "ckpt-1" in line
    assert [int(e) for e in ITERATION.findall(result.stdout)] == [0]
    # nothing of epoch 1 or later was saved; the good checkpoint is the latest and finite
    assert checkpoint_numbers(out_dir) == [1]
    with open(os.path.join(out_dir, "checkpoints", "checkpoint")) as stream:
        assert 'model_checkpoint_path: "ckpt-1"' in stream.read()
    assert_finite_checkpoint(os.path.join(out_dir, "checkpoints", "ckpt-1"))
    assert history(out_dir) == history(reference)[:1]
    assert not os.path.exists(os.path.join(out_dir, "summary.json"))


@pytest.mark.slow
def test_a_run_that_diverges_at_once_writes_no_checkpoint(tmp_path):
    out_dir = str(tmp_path / "run")
    result = run_script(FEATURE_MATCHING, *SAMPLE, "--learning_rate=1e30", "--epochs=3", f"--out_dir={out_dir}")
    line = one_line_error(result, status=3)
    assert "training diverged at epoch 0, iteration" in line and "no checkpoint was written" in line.lower()
    assert checkpoint_numbers(out_dir) == [] and not ITERATION.findall(result.stdout)


def test_the_npz_loader_rejects_non_finite_pixels_and_bad_labels(tmp_path):
    from improved_gan_tf2.data import DataFormatError, load_mnist
    from improved_gan_tf2.data.mnist import read_mnist_npz

    sample = load_mnist(dataset="mnist_sample")

    def write(x_train=None, y_train=None):
        arrays = dict(x_train=sample["x_train"][:200].copy(), y_train=sample["y_train"][:200].copy(),
                      x_test=sample["x_test"][:100], y_test=sample["y_test"][:100])
        if x_train is not None:
            arrays["x_train"] = x_train
        if y_train is not None:
            arrays["y_train"] = y_train
        path = str(tmp_path / "mnist.npz")
        np.savez(path, **arrays)
        return path

    assert len(read_mnist_npz(write())["x_train"]) == 200
    x = sample["x_train"][:200].copy()
    x[3, 17] = np.nan
    with pytest.raises(DataFormatError, match=r"non-finite value.*\(3, 17\)"):
        read_mnist_npz(write(x_train=x))
    x[3, 17] = np.inf
    with pytest.raises(DataFormatError, match="non-finite"):
        read_mnist_npz(write(x_train=x))
    for bad, shown in ((12, "12"), (-1, "-1")):
        y = sample["y_train"][:200].copy()
        y[5] = bad
        with pytest.raises(DataFormatError, match=rf"'y_train'\[5\] is {shown}"):
            read_mnist_npz(write(y_train=y))
    y = sample["y_train"][:200].astype(np.float32)
    y[7] = 2.5
    with pytest.raises(DataFormatError, match=r"\[7\] is 2.5"):
        read_mnist_npz(write(y_train=y))
    # through the script: one line, before training
    x[3, 17] = np.nan
    write(x_train=x)
    result = run_script(FEATURE_MATCHING, "--dataset=mnist_npz", f"--data_dir={tmp_path}",
                        f"--out_dir={tmp_path / 'run'}")
    assert "non-finite" in one_line_error(result)
    assert not os.path.exists(tmp_path / "run" / "flags.json")


def test_the_svhn_and_cifar_loaders_reject_bad_labels(tmp_path):
    import pickle

    import scipy.io

    from improved_gan_tf2.data import DataFormatError
    from improved_gan_tf2.data.cifar10 import parse_batch
    from improved_gan_tf2.data.svhn import read_mat

    x = np.zeros((32, 32, 3, 4), np.uint8)
    scipy.io.savemat(tmp_path / "ok.mat", {"X": x, "y": np.array([[1.0], [10.0], [3.0], [4.0]])})
    assert list(read_mat(tmp_path / "ok.mat")[1]) == [1, 0, 3, 4]
    scipy.io.savemat(tmp_path / "nan.mat", {"X": x, "y": np.array([[1.0], [np.nan], [3.0], [4.0]])})
    with pytest.raises(DataFormatError, match=r"labels\[1\] is nan"):
        read_mat(tmp_path / "nan.mat")
    raw = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3.0, 10]})
    with pytest.raises(DataFormatError, match=r"labels\[1\] is 10"):
        parse_batch(raw, "data_batch_1")


# ---------------------------------------------------------------------- 2. --count


def _original_epoch_ok(count, n_unl=4000, batch_size=100):
    """The original's tiling leaves no batch without labelled rows: floor(n_unl / n_lab) * n_lab rows cover the
    first row of the last batch."""
    n_lab = 10 * count
    return (n_unl // n_lab) * n_lab > (n_unl // batch_size - 1) * batch_size


def test_every_count_on_the_sample_is_trained_as_the_original_tiles_it_or_refused_up_front():
    from improved_gan_tf2 import cli, experiments
    from improved_gan_tf2.data import load_mnist
    from improved_gan_tf2.data.pipeline import semi_supervised_dataset

    loaded = load_mnist(dataset="mnist_sample")
    experiment = dataclasses.replace(experiments.get_experiment("train_mnist_feature_matching"),
                                     load_data=lambda flags: loaded)
    accepted, refused = [], []
    for count in range(1, 401):
        flags = dict(experiment.default_flags(), dataset="mnist_sample", count=count)
        try:
            data = experiments.prepare_data(experiment, flags)
        except cli.InputError as error:
            message = str(error)
            assert message.startswith(f"--count={count}: ") and "would get no labelled example" in message
            nearest = [int(c) for c in re.findall(r"\d+", message.rsplit("work", 1)[-1])]
            assert nearest and all(_original_epoch_ok(c) for c in nearest), message
            refused.append(count)
            continue
        accepted.append(count)
        dataset, steps = semi_supervised_dataset(data.x_lab, data.y_lab, data.x_unl, 100, data.make_epoch_order())
        assert steps == 40
        epoch = data.make_epoch_order().next_epoch()
        rows = len(epoch.lab_idx)  # floor(4000 / n_lab) copies of the labelled set
        assert rows == (4000 // (10 * count)) * 10 * count
        sizes = []
        for t, (x_lab, y_lab, x_unl, x_unl2) in enumerate(dataset.take(steps)):
            sizes.append(len(x_lab))
            assert x_unl.shape == x_unl2.shape == (100, 784)
            if t == steps - 1:  # the last batch is the original's slice, short or full
                expected = epoch.lab_idx[t * 100:(t + 1) * 100]
                np.testing.assert_array_equal(x_lab.numpy(), data.x_lab[expected])
                np.testing.assert_array_equal(y_lab.numpy(), data.y_lab[expected])
        assert sizes == [min(100, rows - 100 * t) for t in range(steps)] and min(sizes) > 0
    assert accepted == [c for c in range(1, 401) if _original_epoch_ok(c)]
    assert refused == [c for c in range(1, 401) if not _original_epoch_ok(c)]
    assert {3, 7} <= set(accepted) and 30 in refused  # short last batches; an empty one


def test_a_refused_count_leaves_no_half_made_run_and_a_short_batch_count_trains(tmp_path):
    out_dir = str(tmp_path / "run")
    result = run_script(FEATURE_MATCHING, *SAMPLE, "--count=30", "--epochs=1", f"--out_dir={out_dir}")
    line = one_line_error(result)
    assert "--count=30" in line and "batch 39 would get no labelled example" in line
    assert "the nearest counts that work are 28 and 33" in line
    assert not os.path.exists(os.path.join(out_dir, "flags.json"))
    result = run_script(FEATURE_MATCHING, *SAMPLE, "--count=3", "--epochs=1", f"--out_dir={out_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [int(e) for e in ITERATION.findall(result.stdout)] == [0]
    assert json.load(open(os.path.join(out_dir, "flags.json")))["count"] == 3


def test_the_custom_labels_script_refuses_a_count_up_front(tmp_path):
    from improved_gan_tf2 import cli, experiments
    from improved_gan_tf2.data import load_mnist

    labels = tmp_path / "labels.npy"
    np.save(labels, load_mnist(dataset="mnist_sample")["y_test"].astype(np.int64))
    experiment = experiments.get_experiment("train_mnist_fm_custom_labels")
    flags = dict(experiment.default_flags(), dataset="mnist_sample", labels=str(labels), train_examples=800)
    for count, ok in ((9, True), (17, False)):  # 800 // 170 * 170 = 680 rows: batches 7 of 8 would be empty
        flags["count"] = count
        if ok:
            experiments.prepare_data(experiment, flags)
        else:
            with pytest.raises(cli.InputError, match=r"--count=17: .* batch 7 would get no labelled example"):
                experiments.prepare_data(experiment, flags)


# ---------------------------------------------------------------------- 3. checkpoint fallback


def _flip_a_byte(path):
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))


def _poison(prefix):
    """Rewrite checkpoint ``prefix`` with one discriminator variable full of NaN (what a run without the guard
    saved)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    names = sorted(dtypes)
    tensors = [tf.constant(reader.get_tensor(name), dtype=dtypes[name]) for name in names]
    index = next(i for i, name in enumerate(names) if name.startswith("discriminator/") and dtypes[name].is_floating)
    tensors[index] = tf.fill(tf.shape(tensors[index]), tf.constant(np.nan, dtypes[names[index]]))
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)


@pytest.mark.parametrize("damage", ["checksum", "not_an_sstable", "non_finite", "garbage_index"])
def test_a_damaged_checkpoint_falls_back_to_the_newest_one_that_restores(tmp_path, reference, damage):
    out_dir = copy_run(reference, tmp_path)
    checkpoints = os.path.join(out_dir, "checkpoints")
    newest = os.path.join(checkpoints, "ckpt-2")
    epochs = 1  # the fallback restores ckpt-1: the run is done, nothing to train
    if damage == "checksum":
        _flip_a_byte(newest + ".data-00000-of-00001")
        os.makedirs(os.path.join(checkpoints, "ckpt-3_temp"))  # a save killed half-way
        open(os.path.join(checkpoints, "ckpt-3_temp", "part-00000-of-00001.index"), "w").close()
        epochs = 2  # epoch 1 again, from ckpt-1
    elif damage == "not_an_sstable":
        with open(newest + ".index", "wb") as stream:
            stream.write(os.urandom(200))
    elif damage == "non_finite":
        _poison(newest)
    else:
        with open(os.path.join(checkpoints, "checkpoint"), "w") as stream:
            stream.write("model_checkpoint_path: {{ not a checkpoint state\n")
        epochs = 2
    result = run_script(FEATURE_MATCHING, *SAMPLE, f"--epochs={epochs}", f"--out_dir={out_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    index = open(os.path.join(checkpoints, "checkpoint")).read()
    if damage == "garbage_index":  # every checkpoint is intact: the index is rebuilt from them
        assert re.search(r"checkpoint index .* is unreadable .*; rebuilt from the checkpoint files", result.stdout)
        assert "is done: it has trained 2 epochs (epochs 0-1, checkpoint " in result.stdout
        assert checkpoint_numbers(out_dir) == [1, 2] and 'model_checkpoint_path: "ckpt-2"' in index
        assert history(out_dir) == history(reference)
        return
    reason = {"checksum": "Checksum does not match", "not_an_sstable": "not an sstable",
              "non_finite": "non-finite values"}[damage]
    assert re.search(rf"note: skipped checkpoint {re.escape(newest)} \(.*{reason}", result.stdout), result.stdout
    assert sorted(os.listdir(os.path.join(checkpoints, "skipped"))) == ["ckpt-2.data-00000-of-00001",
                                                                       "ckpt-2.index"]
    if damage == "checksum":
        assert not os.path.exists(os.path.join(checkpoints, "ckpt-3_temp"))
        assert f"Resuming {out_dir} after epoch 0" in result.stdout
        assert [int(e) for e in ITERATION.findall(result.stdout)] == [1]
        assert checkpoint_numbers(out_dir) == [1, 2] and 'model_checkpoint_path: "ckpt-2"' in index
        assert_finite_checkpoint(newest)
        assert history(out_dir) == history(reference)  # the resumed run computed what the uninterrupted one did
    else:
        assert "is done: it has trained 1 epoch (epoch 0, checkpoint " in result.stdout
        assert checkpoint_numbers(out_dir) == [1] and 'model_checkpoint_path: "ckpt-1"' in index
        assert history(out_dir) == history(reference)[:1]


def test_when_no_checkpoint_restores_the_run_stops_with_one_line_and_changes_nothing(tmp_path, reference):
    out_dir = copy_run(reference, tmp_path)
    for number in (1, 2):
        _flip_a_byte(os.path.join(out_dir, "checkpoints", f"ckpt-{number}.data-00000-of-00001"))
    before = sorted(os.listdir(os.path.join(out_dir, "checkpoints")))
    line = one_line_error(run_script(FEATURE_MATCHING, *SAMPLE, "--epochs=2", f"--out_dir={out_dir}"))
    assert "no checkpoint in" in line and "ckpt-1: " in line and "Checksum does not match" in line
    assert sorted(os.listdir(os.path.join(out_dir, "checkpoints"))) == before


def _lines_without_time(stdout):
    """{epoch: the original's per-epoch line without its time} of a run's output."""
    return {int(epoch): rest for epoch, rest in re.findall(r"^Iteration (\d+), time = \d+s, (.*)$", stdout, re.M)}


def test_the_troubleshooting_pages_cut_checkpoint_example_runs_as_written(tmp_path, mnist_sample_run):
    """docs/troubleshooting.md's example of the fault matrix (train, overwrite the newest checkpoint's data with
    random bytes, train one epoch further) run as written from the page in a checkout, one epoch shorter: its first
    command is conftest.py's 2-epoch run (copied), the cut goes to ckpt-2 and the resume asks for one epoch fewer.
    It prints what the paragraph after the block says, shifted by that epoch: the one note naming the skipped
    checkpoint and where it went, the resume after the epoch before it, and the lines of the epochs trained again,
    the same as an undamaged run's (conftest's, which has all but the last)."""
    page = "docs/troubleshooting.md"
    example = docs_pages.block(page, "Damaged files: the fault matrix")
    train, cut, resume = docs_pages.commands(example.text)
    flags = {name: dict(word.split("=", 1) for word in words[2:]) for name, words in
             (("train", train), ("resume", resume))}
    # the first command is conftest.py's (the README's main command) but for --epochs and --out_dir
    assert train[:2] == resume[:2] == ["python", "mnist_svhn_cifar/train_mnist_feature_matching.py"], train
    assert flags["train"].keys() == flags["resume"].keys() == {"--dataset", "--epochs", "--out_dir"}
    assert flags["train"]["--dataset"] == flags["resume"]["--dataset"] == "mnist_sample"
    out_dir, epochs = flags["train"]["--out_dir"], int(flags["train"]["--epochs"])
    assert flags["resume"]["--out_dir"] == out_dir and out_dir.startswith("runs/")
    assert int(flags["resume"]["--epochs"]) == epochs + 1
    shift = epochs - 2  # what the page's run has trained and the copied one has not
    newest = f"{out_dir}/checkpoints/ckpt-{epochs}"
    assert cut[:2] == ["head", "-c"] and cut[-2:] == [">", newest + ".data-00000-of-00001"], cut
    # what the page says happens: the paragraph after the block
    after = docs_pages.read(page).splitlines()[example.line + example.text.count("\n") + 1:]  # past its fence
    after = after[next(i for i, line in enumerate(after) if line.strip()):]
    paragraph = " ".join(after[:after.index("")])
    (note,) = [code for _, code in docs_pages.code_spans_of_text(paragraph) if code.startswith("note: ")]
    said = re.search(r"resumes after epoch (\d+) and prints the lines of epochs (\d+) and (\d+) an undamaged run "
                     r"prints", paragraph)
    assert said, paragraph
    resumed_after, again = int(said.group(1)) - shift, [int(e) - shift for e in said.group(2, 3)]
    note = note.replace(newest, f"{out_dir}/checkpoints/ckpt-{epochs - shift}")

    work = docs_pages.checkout(tmp_path / "work", {os.path.relpath(out_dir, "runs"): mnist_sample_run[0]})
    # the cut as written (through the shell, for its redirection), on the copy's newest checkpoint
    done = docs_pages.run(["bash", "-c", " ".join(cut).replace(f"ckpt-{epochs}", f"ckpt-{epochs - shift}")], work)
    assert done.returncode == 0, done.stderr
    result = docs_pages.run([word.replace(f"--epochs={epochs + 1}", f"--epochs={epochs + 1 - shift}")
                             for word in resume], work)
    assert result.returncode == 0 and result.stderr == "", result.stderr[-3000:]
    # (the page's paths are relative to where the commands run; the script prints them absolute)
    run_dir = os.path.join(work, out_dir)
    notes = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert notes == [note.replace(f"{out_dir}/", f"{run_dir}/")], result.stdout
    assert f"Resuming {run_dir} after epoch {resumed_after} " in result.stdout, result.stdout
    # the epochs trained again: the undamaged run's line where it has one (conftest's run stopped before the last;
    # -m slow compares that one too, in test_fault_matrix.py's run of these commands at their length)
    lines = _lines_without_time(result.stdout)
    undamaged = _lines_without_time(mnist_sample_run[1])
    assert sorted(lines) == again and again[0] in undamaged, (lines, again)
    assert {epoch: line for epoch, line in lines.items() if epoch in undamaged} == {
        epoch: undamaged[epoch] for epoch in again if epoch in undamaged}
    assert history(run_dir)[:-1] == history(mnist_sample_run[0])
    skipped = os.path.join(run_dir, "checkpoints", "skipped", f"ckpt-{epochs - shift}.data-00000-of-00001")
    assert os.path.getsize(skipped) == int(cut[2])


# ---------------------------------------------------------------------- 4. the lock, damaged run files


def _start(out_dir, *args):
    process = subprocess.Popen([sys.executable, FEATURE_MATCHING, *SAMPLE, f"--out_dir={out_dir}", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    for line in process.stdout:
        if line.startswith("Iteration 0,"):
            return process
    process.kill()
    raise AssertionError(process.stderr.read()[-3000:])


def test_the_run_directory_lock_refuses_a_second_process_until_the_first_ends(tmp_path):
    out_dir = str(tmp_path / "run")
    first = _start(out_dir, "--epochs=100")
    try:
        begin = time.time()
        second = run_script(FEATURE_MATCHING, *SAMPLE, "--epochs=100", f"--out_dir={out_dir}", timeout=120)
        line = one_line_error(second)
        assert f"is in use by another run (pid {first.pid} on " in line and "--epochs=100" in line, line
        assert not ITERATION.findall(second.stdout) and time.time() - begin < 60
    finally:
        first.send_signal(signal.SIGKILL)  # a killed process releases its lock
        first.wait(timeout=60)
    third = run_script(FEATURE_MATCHING, *SAMPLE, "--epochs=1", f"--out_dir={out_dir}")
    assert third.returncode == 0, third.stderr[-3000:]
    assert "is done" in third.stdout
    with open(os.path.join(out_dir, "history.csv")) as stream:
        assert sum(line.startswith("epoch,") for line in stream) == 1


def test_damaged_or_missing_run_files_give_one_line(tmp_path, reference):
    from improved_gan_tf2 import training

    out_dir = copy_run(reference, tmp_path)
    with open(os.path.join(out_dir, "history.csv"), "a") as stream:  # what two runs writing at once left
        stream.write("epoch,loss_gen,loss_lab\n1,2.0,0.5\n")
    line = one_line_error(run_script(FEATURE_MATCHING, *SAMPLE, "--epochs=2", f"--out_dir={out_dir}"))
    assert "history.csv is damaged (line 4" in line and "move it aside" in line
    flags = dict(json.load(open(os.path.join(out_dir, "flags.json"))))
    with open(os.path.join(out_dir, "flags.json"), "w") as stream:
        stream.write('{"seed": 1, "count"')
    with pytest.raises(training.RunDirectoryError, match=r"flags.json is damaged .* pass another --out_dir"):
        training.RunDirectory(out_dir, flags)
    os.remove(os.path.join(out_dir, "flags.json"))
    with pytest.raises(training.RunDirectoryError, match="holds checkpoints but no flags.json"):
        training.RunDirectory(out_dir, flags)
    # without checkpoints there is nothing to resume: other flags start afresh
    fresh = str(tmp_path / "fresh")
    os.makedirs(fresh)
    with open(os.path.join(fresh, "flags.json"), "w") as stream:
        json.dump(dict(flags, count=30), stream)
    training.RunDirectory(fresh, flags).close()


def _immutable(path):
    """Make the directory ``path`` unwritable, even for root (``chattr +i``); returns the undo, or None."""
    if os.geteuid() != 0:
        os.chmod(path, 0o555)
        return lambda: os.chmod(path, 0o755)
    if subprocess.run(["chattr", "+i", path], capture_output=True).returncode != 0:
        return None
    return lambda: subprocess.run(["chattr", "-i", path], check=True)


def test_an_unusable_out_dir_is_refused_before_the_data_is_loaded(tmp_path):
    from improved_gan_tf2 import training

    a_file = tmp_path / "a_file"
    a_file.write_text("")
    line = one_line_error(run_script(FEATURE_MATCHING, *SAMPLE, f"--out_dir={a_file}"))
    assert f"--out_dir={a_file} is a file, not a directory" in line
    with pytest.raises(training.RunDirectoryError, match=f"{a_file} is a file, not a directory"):
        training.RunDirectory(str(a_file / "run"), {})
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    undo = _immutable(str(read_only))
    if undo is None:
        pytest.skip("no way to make a directory read-only here")
    try:
        with pytest.raises(training.RunDirectoryError, match="is not writable"):
            training.RunDirectory(str(read_only), {})
        with pytest.raises(training.RunDirectoryError, match="cannot be made"):
            training.RunDirectory(str(read_only / "run"), {})
    finally:
        undo()


# ---------------------------------------------------------------------- 6. smaller


def test_fewer_epochs_than_done_says_the_run_is_done(tmp_path, reference):
    out_dir = copy_run(reference, tmp_path)
    result = run_script(FEATURE_MATCHING, *SAMPLE, "--epochs=1", f"--out_dir={out_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"The run in {out_dir} is done: it has trained 2 epochs (epochs 0-1" in result.stdout
    assert "--epochs=1 asks for no more" in result.stdout and not ITERATION.findall(result.stdout)
    assert history(out_dir) == history(reference)


def test_a_run_records_its_data_and_refuses_other_data(tmp_path, reference):
    from improved_gan_tf2 import training
    from improved_gan_tf2.data import load_mnist

    sample = load_mnist(dataset="mnist_sample")
    fingerprint = training.data_fingerprint(sample, sample.source)
    out_dir = copy_run(reference, tmp_path)
    recorded = json.load(open(os.path.join(out_dir, "data.json")))
    assert recorded["sha256"] == fingerprint["sha256"] and recorded["arrays"]["x_train"] == [[4000, 784], "float32"]
    flags = json.load(open(os.path.join(out_dir, "flags.json")))
    run = training.RunDirectory(out_dir, dict(flags, data_dir="/elsewhere"))
    run.start(fingerprint)  # the same data from elsewhere resumes
    run.close()
    changed = dict(sample, x_train=sample["x_train"].copy())
    changed["x_train"][0, 300] += 0.5
    run = training.RunDirectory(out_dir, flags)
    with pytest.raises(training.RunMismatchError, match=f"the data differs from the data the run in {out_dir}"):
        run.start(training.data_fingerprint(changed, "/elsewhere/mnist.npz"))
    run.close()


@pytest.mark.slow
def test_resuming_on_other_data_is_refused(tmp_path):
    from improved_gan_tf2.data import load_mnist

    sample = load_mnist(dataset="mnist_sample")
    for name, change in (("a", False), ("same", False), ("other", True)):
        os.makedirs(tmp_path / name)
        x_train = sample["x_train"].copy()
        if change:
            x_train[0, 300] = 1.0 - x_train[0, 300]
        np.savez(tmp_path / name / "mnist.npz", x_train=x_train, y_train=sample["y_train"], x_test=sample["x_test"],
                 y_test=sample["y_test"])
    out_dir = str(tmp_path / "run")
    first = run_script(FEATURE_MATCHING, "--dataset=mnist_npz", f"--data_dir={tmp_path / 'a'}", "--epochs=1",
                       f"--out_dir={out_dir}")
    assert first.returncode == 0, first.stderr[-3000:]
    line = one_line_error(run_script(FEATURE_MATCHING, "--dataset=mnist_npz", f"--data_dir={tmp_path / 'other'}",
                                     "--epochs=1", f"--out_dir={out_dir}"))
    assert f"the data differs from the data the run in {out_dir} was trained on" in line
    assert str(tmp_path / "a" / "mnist.npz") in line and str(tmp_path / "other" / "mnist.npz") in line
    moved = run_script(FEATURE_MATCHING, "--dataset=mnist_npz", f"--data_dir={tmp_path / 'same'}", "--epochs=1",
                       f"--out_dir={out_dir}")
    assert moved.returncode == 0 and "is done" in moved.stdout, moved.stderr[-3000:]


def test_ctrl_c_prints_one_line_and_the_same_command_resumes(tmp_path, reference):
    out_dir = str(tmp_path / "run")
    process = _start(out_dir, "--epochs=2")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and re.match(r"interrupted after epoch \d \(during epoch \d\); (epoch 0 is|epochs 0-\d "
                                        r"are) saved in .*ckpt-\d: the same command resumes from there\.$",
                                        lines[0]), stderr
    resumed = run_script(FEATURE_MATCHING, *SAMPLE, "--epochs=2", f"--out_dir={out_dir}")
    assert resumed.returncode == 0 and "Resuming" in resumed.stdout, resumed.stderr[-3000:]
    assert history(out_dir) == history(reference)


@pytest.mark.parametrize("script, flag", [
    (FEATURE_MATCHING, "--count"),
    pytest.param(CUSTOM_LABELS, "--labels", marks=pytest.mark.slow),
    pytest.param("inception_score", "--fid", marks=pytest.mark.slow),
])
def test_help_lists_the_scripts_own_flags(script, flag):
    command = [sys.executable, "-m", script] if script == "inception_score" else [sys.executable, script]
    result = subprocess.run(command + ["--help"], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
    assert f"  {flag}:" in result.stdout and "Traceback" not in result.stderr, result.stdout[-2000:]


@pytest.mark.parametrize("script, args", [(FEATURE_MATCHING, ()),
                                          pytest.param(MINIBATCH, ("--count=5",), marks=pytest.mark.slow)])
def test_the_readme_command_prints_no_tensorflow_noise_and_says_where_the_results_are(tmp_path, script, args):
    env = {key: value for key, value in ENV.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    out_dir = str(tmp_path / "run")
    result = run_script(script, *SAMPLE, "--epochs=1", *args, f"--out_dir={out_dir}", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    assert f"Results in {out_dir}: summary.json, history.csv" in result.stdout.splitlines()[-1]
