import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.RandomState(1234)


#: The README's heading of its main command (the last of the first bash block under it, after its ``&&``s).
README_MAIN_COMMAND = ("README.md", "Two commands on a fresh machine")


def readme_main_command():
    """The words of the README's main command: the part after the last ``&&`` of its first command."""
    import docs_pages

    (line,) = docs_pages.commands(docs_pages.block(*README_MAIN_COMMAND).text)
    last = max((i for i, word in enumerate(line) if word == "&&"), default=-1)
    return line[last + 1:]


@pytest.fixture(scope="session")
def mnist_sample_run(tmp_path_factory):
    """``(out_dir, stdout)`` of an uninterrupted 2-epoch run of the README's main command (its script and flags, as
    written, but ``--epochs=2`` and ``--out_dir``; checkpoints 1 and 2). Shared by the test files that resume or
    damage copies of it; never modify it."""
    from helpers import FEATURE_MATCHING, ROOT, run_script

    words = readme_main_command()
    assert words[0] == "python" and os.path.join(ROOT, words[1]) == FEATURE_MATCHING, words
    assert "--dataset=mnist_sample" in words[2:], words  # the feature-matching script on the shipped MNIST sample
    assert any(word.startswith("--epochs=") for word in words) and any(word.startswith("--out_dir=") for word in words)
    out_dir = str(tmp_path_factory.mktemp("mnist_sample_run") / "run")
    args = [word for word in words[2:] if not word.startswith(("--epochs=", "--out_dir="))]
    result = run_script(os.path.join(ROOT, words[1]), *args, "--epochs=2", f"--out_dir={out_dir}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out_dir, result.stdout
