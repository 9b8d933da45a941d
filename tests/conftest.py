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
    from helpers import FEATURE_MATCHING, run_script

    out_dir = str(tmp_path_factory.mktemp("mnist_sample_run") / "run")
    result = run_script(FEATURE_MATCHING, "--dataset=mnist_sample", "--epochs=2", f"--out_dir={out_dir}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out_dir, result.stdout
