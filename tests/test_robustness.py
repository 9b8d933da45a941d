"""Never lose a run (issue 16): a NaN stops the run and nothing non-finite is saved; every loader rejects
non-finite data and out-of-range labels; every --count is trained as the original tiles it or refused up front;
a damaged newest checkpoint falls back to an older one; a run directory is locked against a second process;
damaged run files, unusable --out_dir values, a finished run, other data and Ctrl-C each give one line; the
scripts list their flags and keep TensorFlow's start-up log to themselves.

Most cases run the real scripts in subprocesses on the shipped MNIST sample (an epoch takes about 2 s)."""
import csv
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEATURE_MATCHING = os.path.join(ROOT, "mnist_svhn_cifar", "train_mnist_feature_matching.py")
CUSTOM_LABELS = os.path.join(ROOT, "mnist_svhn_cifar", "train_mnist_fm_custom_labels.py")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
ITERATION = re.compile(r"^Iteration (\d+), ", re.M)
SAMPLE = ("--dataset=mnist_sample",)

#: Runs a script with the learning rate of epochs >= argv[1] set to 1e30 (a run that diverges there).
DIVERGE_AT = """
try:
    from improved_gan_tf2.startup import quiet_tensorflow
except ImportError:  # before issue 16
    pass
else:
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


def run_script(script, *args, timeout=300, env=ENV):
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True, env=env, timeout=timeout)


def one_line_error(result, status=2):
    """The run stopped with ``status`` and one line on stderr, no traceback; returns that line."""
    assert result.returncode == status, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def history(out_dir):
    with open(os.path.join(out_dir, "history.csv")) as stream:
        return list(csv.DictReader(stream))


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


# ---------------------------------------------------------------------- 1. data


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


# ---------------------------------------------------------------------- start-up


def test_the_readme_command_prints_no_tensorflow_noise(tmp_path):
    env = {key: value for key, value in ENV.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    out_dir = str(tmp_path / "run")
    result = run_script(FEATURE_MATCHING, *SAMPLE, "--epochs=1", f"--out_dir={out_dir}", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
