"""Helpers shared by the test files (imported as ``from helpers import ...``, like ``numpy_reference``): the
repository root, the environment the scripts run in, running a script, reading a run's history, setting layer
variables and building an experiment's model."""
import csv
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "mnist_svhn_cifar")
FEATURE_MATCHING = os.path.join(SCRIPTS, "train_mnist_feature_matching.py")
CUSTOM_LABELS = os.path.join(SCRIPTS, "train_mnist_fm_custom_labels.py")
MINIBATCH = os.path.join(SCRIPTS, "train_mnist_minibatch_discrimination.py")
#: The environment the scripts run in: this repository's package, TensorFlow's C++ log off.
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)


def run_script(script, *args, timeout=300, env=ENV):
    """``script`` run to the end in a new process with ``args``; its CompletedProcess (text stdout and stderr)."""
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True, env=env, timeout=timeout)


def history(out_dir):
    """The rows of a run's ``history.csv``, as dicts of strings."""
    with open(os.path.join(out_dir, "history.csv")) as stream:
        return list(csv.DictReader(stream))


def history_row(run_dir, epoch):
    """The row of a run's ``history.csv`` for ``epoch``."""
    return next(row for row in history(run_dir) if int(row["epoch"]) == epoch)


def set_variables(layer, **values):
    """Assigns each named variable of ``layer`` its value, as float32."""
    for name, value in values.items():
        getattr(layer, name).assign(np.asarray(value, np.float32))


def build(name, **flags):
    """The compiled model of the experiment ``name`` (e.g. ``train_cifar_feature_matching``) with ``flags``, the
    others at their defaults."""
    from improved_gan_tf2 import experiments

    experiment = experiments.get_experiment(name)
    return experiments.build_model(experiment, dict(experiment.default_flags(), **flags))
