"""The commands of ``docs/turing.md``'s MNIST example run as written: ``evaluate`` on a trained run (a copy of the
2-epoch run of the README's main command), ``make-study`` with the real digits of the shipped sample
(``--real_key=x``), and ``serve``, from which one annotator draws a digit."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np

from improved_gan_tf2.turing.study import load_study
from improved_gan_tf2.turing.testing import HttpAnnotator

from helpers import ENV, ROOT

DOC = os.path.join(ROOT, "docs", "turing.md")


def first_bash_block(path, heading):
    """The first bash block after ``heading`` in the Markdown file ``path``."""
    section = open(path, encoding="utf-8").read().split(heading, 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def mnist_commands():
    """The commands of the first bash block under "## MNIST digits", continuation lines joined."""
    block = first_bash_block(DOC, "## MNIST digits")
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_readme_shows_the_same_commands():
    readme = first_bash_block(os.path.join(ROOT, "README.md"), "### Human visual Turing test")
    assert readme == first_bash_block(DOC, "## MNIST digits")


def test_the_mnist_study_commands_run_as_written(mnist_sample_run, tmp_path):
    evaluate, make_study, serve = mnist_commands()
    assert evaluate[:3] == ["python", "-m", "improved_gan_tf2.evaluate"]
    assert make_study[:4] == ["python", "-m", "improved_gan_tf2.turing", "make-study"]
    assert "--real=improved_gan_tf2/data/mnist_sample.npz" in make_study and "--real_key=x" in make_study
    assert serve[:4] == ["python", "-m", "improved_gan_tf2.turing", "serve"]
    # the working directory of the commands: runs/mnist_sample (a copy of a trained run) and the package's data
    work = tmp_path / "work"
    shutil.copytree(mnist_sample_run[0], work / "runs" / "mnist_sample")
    os.symlink(os.path.join(ROOT, "improved_gan_tf2"), work / "improved_gan_tf2")
    for command in (evaluate, make_study):
        result = subprocess.run([sys.executable] + command[1:], cwd=work, env=ENV, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, (command, result.stderr[-3000:])
    study = load_study(str(work / "mnist_study.toml"))
    cond = study.conditions["main"]
    assert cond.generated.images.shape == (1000, 28, 28, 1) and cond.real.images.shape == (5000, 28, 28, 1)
    assert cond.feedback and cond.n_generated == cond.n_real == 50
    process = subprocess.Popen([sys.executable] + serve[1:] + ["--port=0"], cwd=work, env=ENV, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for line in process.stdout:
            if line.startswith("Serving"):
                break
        base = re.search(r"at (http://127\.0\.0\.1:\d+)/", line).group(1)
        annotator = HttpAnnotator(base)
        assert annotator.start("/c/main") == 200
        status, nxt = annotator.next("main")
        assert status == 200 and nxt["total"] == 100
        status, png = annotator.image(nxt["token"])
        from io import BytesIO

        from PIL import Image

        assert status == 200 and np.asarray(Image.open(BytesIO(png))).shape == (28, 28)
        annotator.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert os.path.exists(work / "mnist_votes.sqlite")
