"""Evaluating trained runs (improved_gan_tf2.evaluate) and reporting on several (improved_gan_tf2.report): tiny
MNIST and CIFAR-shaped runs, the fake Inception graph of ``inception_score/fake_graph.py``."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from improved_gan_tf2 import evaluate, report
from inception_score import fake_graph
from inception_score import model as inception

from helpers import ENV, SCRIPTS, history_row, run_script


def _train(script, out_dir, *args):
    result = run_script(os.path.join(SCRIPTS, script), f"--out_dir={out_dir}", "--epochs=1", *args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return str(out_dir)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two one-epoch MNIST runs on the shipped sample (seeds 1 and 2), a fake Inception graph, real images."""
    root = tmp_path_factory.mktemp("evaluate")
    graph_def, _ = fake_graph.small_graph_def(image_size=16)
    graph_dir = str(root / "graph")
    fake_graph.write_graph(graph_def, graph_dir)
    real = np.random.RandomState(0).randint(0, 256, (40, 28, 28, 3)).astype(np.uint8)
    np.savez(root / "real.npz", images=real)
    first = _train("train_mnist_feature_matching.py", root / "seed1", "--dataset=mnist_sample")
    second = _train("train_mnist_feature_matching.py", root / "seed2", "--dataset=mnist_sample", "--seed=2",
                    "--seed_data=2")
    return dict(first=first, second=second, graph=graph_dir, real=str(root / "real.npz"), root=root)


def test_evaluate_an_mnist_run(runs):
    result = evaluate.evaluate(runs["first"], num_samples=30, inception_score=True, fid_against=runs["real"],
                               model_dir=runs["graph"], splits=3, progress=False)
    # the test errors of the restored checkpoint are the ones the training loop logged for that epoch
    row = history_row(runs["first"], 0)
    assert result["test_err"] == pytest.approx(float(row["val_test_err"]), abs=1e-6)
    assert result["test_err_raw"] == pytest.approx(float(row["val_test_err_raw"]), abs=1e-6)
    assert result["test_examples"] == 1000 and result["checkpoint_number"] == 1
    stored = json.load(open(os.path.join(runs["first"], "evaluation.json")))
    assert stored["experiment"] == "train_mnist_feature_matching" and stored["num_samples"] == 30
    assert set(stored["seconds"]) == {"restore", "test", "sampling", "inception"}
    with np.load(os.path.join(runs["first"], "evaluation_samples.npz")) as data:
        samples = data["samples"]
    assert samples.shape == (30, 28, 28, 1) and samples.dtype == np.uint8 and samples.std() > 10
    # the scores are the inception_score module's, on the samples repeated to three channels
    rgb = np.repeat(samples, 3, axis=-1)
    mean, std = inception.get_inception_score(rgb, splits=3, model_dir=runs["graph"])
    assert (stored["inception_score"], stored["inception_score_std"]) == pytest.approx((mean, std), rel=1e-5)
    real = np.load(runs["real"])["images"]
    assert stored["fid"] == pytest.approx(inception.get_fid(rgb, real, model_dir=runs["graph"]), rel=1e-4)
    grid = np.asarray(Image.open(os.path.join(runs["first"], "samples", "evaluation.png")))
    assert grid.shape == (3 * (28 * 10 + 9), 3 * (28 * 10 + 9))  # at a whole-number upscale: crisp pixels
    # a fixed seed gives the same samples again
    again = evaluate.draw_samples(evaluate.load_run(runs["first"]), 30, seed=0, progress=False)
    np.testing.assert_array_equal(again, samples)


def test_evaluate_a_cifar_shaped_run(tmp_path):
    from improved_gan_tf2.data.writers import write_synthetic
    from inception_score.__main__ import load_images

    data = tmp_path / "cifar"
    write_synthetic("cifar10", data, n_train=100, n_test=25, seed=3)  # 5 batch files of 20 (10 per class), 25 test
    run_dir = _train("train_cifar_feature_matching.py", tmp_path / "run", f"--data_dir={data}", "--batch_size=10",
                     "--count=2", "--width_scale=0.0625")
    result = evaluate.evaluate(run_dir, num_samples=25, progress=False)
    row = history_row(run_dir, 0)
    assert result["test_err"] == pytest.approx(float(row["val_test_err"]), abs=1e-6)
    assert result["test_err_raw"] == pytest.approx(float(row["val_test_err_raw"]), abs=1e-6)
    samples = load_images(result["samples"])
    assert samples.shape == (25, 32, 32, 3) and samples.dtype == np.uint8 and samples.min() >= 0
    assert "inception_score" not in result  # not asked for


def test_ensemble_averages_the_members_softmax(runs):
    import tensorflow as tf

    result = evaluate.ensemble([runs["first"], runs["second"]])
    members = [evaluate.load_run(d) for d in (runs["first"], runs["second"])]
    x = members[0].experiment.load_data(members[0].flags)["x_test"]
    y = members[0].experiment.load_data(members[0].flags)["y_test"]
    probabilities = [tf.nn.softmax(m.model(x)).numpy() for m in members]
    assert [m["test_err"] for m in result["members"]] == pytest.approx(
        [np.mean(p.argmax(1) != y) for p in probabilities], abs=1e-6)
    assert result["ensemble_test_err"] == pytest.approx(np.mean((probabilities[0] + probabilities[1]).argmax(1) != y),
                                                        abs=1e-6)
    assert result["test_examples"] == 1000


def test_report_on_two_seeds(runs, tmp_path):
    out = tmp_path / "report"
    text = report.report([runs["first"], runs["second"]], str(out))
    lines = text.strip().splitlines()
    assert lines[0] == ("| run | seed | seed_data | epochs done | wall time | test err (averaged) | test err (raw) | "
                        "IS | FID |")
    assert lines[2].startswith("| seed1 | 1 | 1 | 1 |") and lines[3].startswith("| seed2 | 2 | 2 | 1 |")
    seconds = float(open(os.path.join(runs["first"], "epoch_times.csv")).read().splitlines()[1].split(",")[1])
    assert lines[2].split(" | ")[4] == f"{int(round(seconds)) // 60}m{int(round(seconds)) % 60:02d}s"
    assert lines[4].startswith("| mean ± std over 2 seeds |")  # the runs differ only by seed
    rows = list(__import__("csv").reader(open(out / "report.csv")))
    assert rows[0][:3] == ["run", "seed", "seed_data"] and len(rows) == 4
    assert Image.open(out / "test_error.png").size == (800, 500)
    assert Image.open(out / "losses.png").size == (1200, 400)


def _snapshot(directory):
    return {os.path.join(folder, name): os.path.getmtime(os.path.join(folder, name))
            for folder, _, names in os.walk(directory) for name in names}


def test_bad_input_stops_before_any_work(runs, tmp_path):
    run_dir = runs["second"]
    bad_shape = tmp_path / "bad_shape.npy"
    np.save(bad_shape, np.zeros((5, 8), np.uint8))
    bad_range = tmp_path / "bad_range.npy"
    np.save(bad_range, np.full((4, 8, 8, 3), 300.0))
    cases = {
        "not a run": ([str(tmp_path)], "has no flags.json"),
        "a file": ([str(bad_shape)], f"{bad_shape} is a file, not a run directory"),
        "no such checkpoint": ([run_dir, "--checkpoint=7"], "has checkpoints 1"),
        "no samples": ([run_dir, "--num_samples=0"], "--num_samples must be at least 1"),
        "fid shape": ([run_dir, f"--fid_against={bad_shape}"], "expected images of shape"),
        "fid range": ([run_dir, f"--fid_against={bad_range}"], "must be in 0..255"),
        "unwritable": ([run_dir, "--samples_out=/nonexistent/dir/s.npz"], "is not a writable directory"),
    }
    before = _snapshot(run_dir)
    processes = {name: subprocess.Popen([sys.executable, "-m", "improved_gan_tf2.evaluate", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
                 for name, (args, _) in cases.items()}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=300)
        lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert process.returncode == 2, (name, stderr[-2000:])
        assert len(lines) == 1 and cases[name][1] in lines[0], (name, stderr[-2000:])
        assert "Traceback" not in stderr, name
    assert _snapshot(run_dir) == before  # nothing in the run directory changed


class _FakeRun:
    """What draw_samples needs of a run besides its generator: the flags."""

    flags = {"batch_size": 10, "dataset": "mnist_sample"}


class _FakeGenerator:
    """What draw_samples needs of ``sampling_generator``: ``sample(count, seed)`` giving uint8 NHWC samples."""

    @staticmethod
    def sample(count, seed):
        import tensorflow as tf

        return tf.constant(np.random.RandomState(seed).randint(0, 256, (count, 28, 28, 1), np.uint8))


def test_progress_in_a_log_file_is_a_few_plain_lines(capsys, monkeypatch):
    """Not a terminal (a log file, a pipe): no bar of escape codes, a plain line at each tenth."""
    monkeypatch.setattr(evaluate, "sampling_generator", lambda run, batch_size=None: _FakeGenerator())
    samples = evaluate.draw_samples(_FakeRun(), 100, progress=True)
    assert samples.shape == (100, 28, 28, 1)
    printed = capsys.readouterr().out
    assert not any(code in printed for code in ("\x1b", "\r", "\b")), repr(printed[:200])
    lines = printed.strip().splitlines()
    assert 2 <= len(lines) <= 10 and lines[-1].strip().startswith("100 of 100 samples"), lines


def test_progress_on_a_terminal_is_a_bar():
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    from inception_score.model import Progress

    stream = Terminal()
    progress = Progress(50, "image", stream=stream)
    for done in range(10, 51, 10):
        progress.update(done)
    progress.close()
    shown = stream.getvalue()
    assert shown.count("\r") == 5 and "50/50 [" + "=" * 30 + "]" in shown and shown.endswith("\n"), repr(shown)
