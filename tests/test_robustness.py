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


# ---------------------------------------------------------------------- start-up


def test_the_readme_command_prints_no_tensorflow_noise(tmp_path):
    env = {key: value for key, value in ENV.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    out_dir = str(tmp_path / "run")
    result = run_script(FEATURE_MATCHING, *SAMPLE, "--epochs=1", f"--out_dir={out_dir}", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
