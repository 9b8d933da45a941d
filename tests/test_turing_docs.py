"""The commands of ``docs/turing.md`` run as written. The MNIST example: ``evaluate`` on a trained run (a copy of
the 2-epoch run of the README's main command), ``make-study`` with the real digits of the shipped sample
(``--real_key=x``), and ``serve``, from which one annotator draws a digit. "The commands": ``make-study`` with
every optional flag the page shows, ``serve``, two votes, ``report`` and the files it writes."""
import csv
import os
import re
import shutil
import socket
import subprocess
import sys

import numpy as np

from improved_gan_tf2.turing.study import load_study
from improved_gan_tf2.turing.testing import HttpAnnotator

import docs_pages
from helpers import ENV, ROOT

DOC = "docs/turing.md"


def mnist_commands():
    """The commands of the first bash block under "## MNIST digits", continuation lines joined."""
    return docs_pages.commands(docs_pages.block(DOC, "MNIST digits, from a trained run to the votes").text)


def start_serving(command, cwd, env=ENV):
    """``(process, base URL, lines printed up to "Serving ...")`` of a ``serve`` command (its words) started in
    ``cwd``."""
    process = subprocess.Popen([sys.executable] + command[1:], cwd=cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Serving"):
            return process, re.search(r"at (http://127\.0\.0\.1:\d+)/", line).group(1), lines
    process.wait(timeout=10)
    raise AssertionError((command, lines, process.stderr.read()[-3000:]))


def test_the_readme_shows_the_same_commands():
    readme = docs_pages.block("README.md", "Human visual Turing test (paper Sec. 4, Fig. 2 and Sec. 6.1)")
    assert readme.text == docs_pages.block(DOC, "MNIST digits, from a trained run to the votes").text


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
    process, base, _ = start_serving(serve + ["--port=0"], work)
    try:
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


def free(host, port):
    """Whether ``host:port`` can be listened on now."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def test_the_generic_study_commands_run_as_written(tmp_path):
    """docs/turing.md's "The commands": make-study on two .npz files of the kind the block's comment describes, with
    every optional flag it shows in brackets (top 1 % ranked on a stand-in Inception graph), serve (on the page's
    host and port when free), two votes, report with --out: the Markdown on stdout and the three files the page
    names."""
    from inception_score import fake_graph

    make_study, serve, report = [[word.strip("[]") for word in words]  # the optional flags, given
                                 for words in docs_pages.commands(docs_pages.block(DOC, "The commands").text)]
    assert make_study[:4] == ["python", "-m", "improved_gan_tf2.turing", "make-study"]
    assert serve[:4] == ["python", "-m", "improved_gan_tf2.turing", "serve"]
    assert report[:4] == ["python", "-m", "improved_gan_tf2.turing", "report"]
    flags, served, reporting = (dict(word.split("=", 1) for word in words if "=" in word)
                                for words in (make_study, serve, report))
    # the two files the commands name: uint8 (N, H, W, 3) images of one size; the real ones as a labelled data set
    # (x and y, so --real_key=x picks the images); enough generated images that the top --top_percent holds
    # --n_generated of them
    top_percent, n_generated = float(flags["--top_percent"]), int(flags["--n_generated"])
    n_real = int(flags["--n_real"])
    total = int(np.ceil(n_generated * 100 / top_percent))
    rng = np.random.RandomState(0)
    colours = rng.uniform(0, 255, (total, 1, 1, 3))  # a colour per image: the stand-in graph ranks them apart
    np.savez(tmp_path / flags["--generated"],
             samples=np.clip(colours + rng.normal(0, 30, (total, 8, 8, 3)), 0, 255).astype(np.uint8))
    np.savez(tmp_path / flags["--real"], y=rng.randint(0, 10, n_real + 10),
             **{flags["--real_key"]: rng.randint(0, 256, (n_real + 10, 8, 8, 3), np.uint8)})
    graph_def, _ = fake_graph.small_graph_def(image_size=16)
    fake_graph.write_graph(graph_def, str(tmp_path / "inception"))
    env = dict(ENV, INCEPTION_DIR=str(tmp_path / "inception"), INCEPTION_NO_DOWNLOAD="1")

    made = docs_pages.run(make_study, tmp_path, env=env)
    assert made.returncode == 0, made.stderr[-3000:]
    assert made.stdout.startswith(f"Wrote {flags['--out']}: condition 'main', {n_generated} generated + {n_real} real "
                                  f"images per annotator, feedback on, top {top_percent:g} % by Inception-score term")
    cond = load_study(str(tmp_path / flags["--out"])).conditions["main"]
    assert cond.feedback and cond.top_percent == top_percent and cond.top_count == n_generated
    assert (cond.n_generated, cond.n_real) == (n_generated, n_real)

    host, port = served["--host"], int(served["--port"])
    on_the_pages_port = free(host, port)
    if not on_the_pages_port:  # another program holds the page's port: any free one
        serve = [word for word in serve if not word.startswith("--port=")] + ["--port=0"]
    process, base, lines = start_serving(serve, tmp_path, env)
    try:
        # the condition's line (after the ranking's progress lines) with the page's address
        assert [line for line in lines if line.startswith("condition ")] == [
            f"condition main: {n_generated} of {n_generated} generated (top {top_percent:g} % of {total}) + {n_real} "
            f"of {n_real + 10} real images per annotator, feedback on: {base}/c/main\n"]
        assert base == f"http://{host}:{port}" or not on_the_pages_port
        annotator = HttpAnnotator(base)
        assert annotator.start("/c/main") == 200
        answers = []
        for answer in ("real", "generated"):
            status, nxt = annotator.next("main")
            assert status == 200 and nxt["total"] == n_generated + n_real
            assert annotator.image(nxt["token"])[0] == 200
            status, vote = annotator.vote(nxt["token"], "main", answer, 400)
            assert status == 200 and vote["truth"] in ("real", "generated")  # feedback: the truth after each answer
            answers.append((answer, vote["truth"]))
        annotator.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert os.path.exists(tmp_path / served["--db"]) and reporting["--db"] == served["--db"]

    reported = docs_pages.run(report, tmp_path, env=env)
    assert reported.returncode == 0, reported.stderr[-3000:]
    out = tmp_path / reporting["--out"]
    assert sorted(os.listdir(out)) == ["report.csv", "report.md", "votes.csv"]
    assert (out / "report.md").read_text() == reported.stdout  # the Markdown of stdout
    rows = list(csv.DictReader(open(out / "report.csv")))
    assert len(rows) == 1 and rows[0]["condition"] == "main"  # one row per condition
    correct = sum(answer == truth for answer, truth in answers)
    assert (rows[0]["votes"], rows[0]["correct"], rows[0]["annotators"]) == ("2", str(correct), "1")
    assert float(rows[0]["error_rate"]) == 1 - float(rows[0]["accuracy"]) == 1 - correct / 2
    votes = list(csv.DictReader(open(out / "votes.csv")))  # every vote
    assert [(vote["answer"], vote["truth"]) for vote in votes] == answers
