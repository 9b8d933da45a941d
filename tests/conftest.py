import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.RandomState(1234)


@pytest.fixture(scope="session")
def mnist_sample_run(tmp_path_factory):
    """``(out_dir, stdout)`` of an uninterrupted 2-epoch run of the README's MNIST command on the shipped sample
    (checkpoints 1 and 2). Shared by the test files that resume or damage copies of it; never modify it."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = str(tmp_path_factory.mktemp("mnist_sample_run") / "run")
    result = subprocess.run(
        [sys.executable, os.path.join(root, "mnist_svhn_cifar", "train_mnist_feature_matching.py"),
         "--dataset=mnist_sample", "--epochs=2", f"--out_dir={out_dir}"],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out_dir, result.stdout
