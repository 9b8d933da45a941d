"""Evaluating trained runs (improved_gan_tf2.evaluate) and reporting on several (improved_gan_tf2.report): tiny
MNIST and CIFAR-shaped runs, the fake Inception graph of ``inception_score/fake_graph.py``."""
import json
import os
import re
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from improved_gan_tf2 import evaluate, report
from inception_score import fake_graph
from inception_score import model as inception

from docs_pages import block, checkout, code_spans_of_text, commands, read, run
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


# The evaluation commands of the pages (README.md and docs/evaluation.md), run as written: taken from the page's
# text, in a checkout-like directory (docs_pages.checkout), with only what cannot run here substituted.

EVALUATION_PAGE = "docs/evaluation.md"
EVALUATION_HEADING = "Evaluating trained runs: test error, samples, Inception score, reports"
#: What ``evaluate`` writes into a run: a copy of a trained run starts without them (an earlier test of this module
#: may have evaluated the fixture's runs).
EVALUATION_OUTPUTS = ("evaluation.json", "evaluation_samples.npz", os.path.join("samples", "evaluation.png"))


@pytest.fixture(scope="module")
def minibatch_run(tmp_path_factory):
    """A one-epoch run of train_mnist_minibatch_discrimination.py on the shipped sample (the second run of the
    evaluation page's example)."""
    return _train("train_mnist_minibatch_discrimination.py", tmp_path_factory.mktemp("minibatch") / "run",
                  "--dataset=mnist_sample")


def _trained_checkout(work, runs_by_name):
    """``docs_pages.checkout`` with each run copied to ``runs/name`` as training left it (no evaluation yet)."""
    work = checkout(work, runs_by_name)
    for name in runs_by_name:
        for output in EVALUATION_OUTPUTS:
            if os.path.exists(os.path.join(work, "runs", name, output)):
                os.remove(os.path.join(work, "runs", name, output))
    return work


def _run_in_page_order(lines, cwd):
    """A page's commands run in ``cwd``: its ``evaluate`` commands, which come first on the pages and do not read
    one another's output, at once (two processes: two cores); then the others (``report`` reads what they wrote) in
    the page's order. Each must exit 0; their CompletedProcesses, in the page's order."""
    evaluating = [i for i, words in enumerate(lines) if "improved_gan_tf2.evaluate" in words]
    assert evaluating == list(range(len(evaluating))), f"the evaluate commands are not the first ones: {lines}"
    with ThreadPoolExecutor(max(1, len(evaluating))) as pool:
        results = list(pool.map(lambda words: run(words, cwd), [lines[i] for i in evaluating]))
    results += [run(words, cwd) for words in lines[len(evaluating):]]
    for words, result in zip(lines, results):
        assert result.returncode == 0, (" ".join(words), result.stderr[-3000:])
    return results


def _table(markdown):
    """The rows of the first Markdown table of ``markdown`` (its header first, the ``---`` row left out), as lists
    of the cells' text."""
    rows, started = [], False
    for line in markdown.splitlines():
        if line.startswith("|"):
            started = True
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= {"-"} for cell in cells):
                rows.append(cells)
        elif started:
            break
    return rows


def _text_after(page_block):
    """The page's text after the closing fence of ``page_block``."""
    lines = read(page_block.page).splitlines()
    return "\n".join(lines[page_block.line + page_block.text.count("\n"):])


def _evaluation(run_dir):
    with open(os.path.join(run_dir, "evaluation.json")) as stream:
        return json.load(stream)


def _flag_value(words, name):
    """The value a command (its words) gives the flag ``name`` (``--name=value``)."""
    values = [word.partition("=")[2] for word in words if word.partition("=")[0] == name]
    assert len(values) == 1, f"{' '.join(words)} gives {name} {len(values)} times"
    return values[0]


def _row_of(table, run_name):
    return dict(zip(table[0], next(row for row in table[1:] if row[0] == run_name)))


def test_the_readmes_evaluation_commands_run_as_written(runs, tmp_path):
    lines = commands(block("README.md", EVALUATION_HEADING).text)
    work = _trained_checkout(tmp_path, {"mnist_sample": runs["first"]})
    _, reported = _run_in_page_order(lines, work)
    run_dir = os.path.join(work, "runs", "mnist_sample")
    # evaluate: the test errors of the averaged and raw parameters, equal to what training logged, and the samples
    evaluation = _evaluation(run_dir)
    logged = history_row(run_dir, 0)
    assert evaluation["test_err"] == pytest.approx(float(logged["val_test_err"]), abs=1e-6)
    assert evaluation["test_err_raw"] == pytest.approx(float(logged["val_test_err_raw"]), abs=1e-6)
    num_samples = int(_flag_value(lines[0], "--num_samples"))
    assert evaluation["num_samples"] == num_samples and evaluation["checkpoint_number"] == 1
    with np.load(os.path.join(run_dir, "evaluation_samples.npz")) as data:
        assert data["samples"].shape == (num_samples, 28, 28, 1) and data["samples"].dtype == np.uint8
    assert os.path.isfile(os.path.join(run_dir, "samples", "evaluation.png"))
    # report: one table (without --out, in report_<run> beside the runs, its path printed) and the plots
    out = os.path.join(work, "runs", "report_mnist_sample")
    assert "report_mnist_sample" in reported.stdout
    assert sorted(os.listdir(out)) == ["losses.png", "report.csv", "report.md", "test_error.png"]
    row = _row_of(_table(open(os.path.join(out, "report.md")).read()), "mnist_sample")
    assert row["epochs done"] == "1"
    assert (row["test err (averaged)"], row["test err (raw)"]) == (f"{evaluation['test_err']:.4f}",
                                                                     f"{evaluation['test_err_raw']:.4f}")


def test_the_evaluation_pages_example_runs_as_written(runs, minibatch_run, tmp_path):
    example = block(EVALUATION_PAGE, EVALUATION_HEADING, index=1)
    lines = commands(example.text)
    work = _trained_checkout(tmp_path, {"feature_matching": runs["first"], "minibatch_discrimination": minibatch_run})
    _run_in_page_order(lines, work)
    for words in lines[:-1]:  # python -m improved_gan_tf2.evaluate RUN_DIR --num_samples=N
        evaluation = _evaluation(os.path.join(work, words[3]))
        assert evaluation["num_samples"] == int(_flag_value(words, "--num_samples")), words
        assert evaluation["checkpoint_number"] == 1, words
    # the report holds the table the page shows: the same columns, a row per experiment with the page's run,
    # experiment and learning rate; our runs did 1 epoch (the page's 200) and their test errors are evaluate's
    out = os.path.join(work, _flag_value(lines[-1], "--out"))
    page_table = _table(_text_after(example))
    table = _table(open(os.path.join(out, "report.md")).read())
    assert table[0] == page_table[0]
    assert [row[:3] for row in table[1:]] == [row[:3] for row in page_table[1:]]
    for name in ("feature_matching", "minibatch_discrimination"):
        row, evaluation = _row_of(table, name), _evaluation(os.path.join(work, "runs", name))
        assert row["epochs done"] == "1"
        assert (row["test err (averaged)"], row["test err (raw)"]) == (f"{evaluation['test_err']:.4f}",
                                                                         f"{evaluation['test_err_raw']:.4f}"), name
    assert sorted(os.listdir(out)) == ["losses.png", "report.csv", "report.md", "test_error.png"]


def _fill(words, fills, smaller, run_dirs):
    """A synopsis line made a command: ``[...]`` opened (every optional flag given), ``...`` dropped, each
    ``RUN_DIR`` the next of ``run_dirs`` and ``RUN_DIR...`` all of them, a flag's placeholder value from ``fills``
    and a flag of ``smaller`` given its smaller value. A placeholder left unfilled (a word in capitals or with a
    ``|``) is an error naming it."""
    filled, next_run = [], iter(run_dirs)
    for word in words:
        word = word[1:-1] if word.startswith("[") and word.endswith("]") else word
        if word == "...":
            continue
        if word in ("RUN_DIR", "RUN_DIR..."):
            filled += [next(next_run)] if word == "RUN_DIR" else list(run_dirs)
            continue
        name, equals, value = word.partition("=")
        if equals and name in smaller:
            value = smaller[name]
        elif equals and value in fills:
            value = fills[value]
        else:
            assert not re.fullmatch(r"[A-Z][A-Z0-9_]*(\.\w+)?(\.\.\.)?|.*[|\[\]].*", value if equals else word), \
                f"the synopsis has a placeholder {word!r} the test does not fill"
        filled.append(name + equals + value)
    return filled


def test_the_evaluation_synopsis_runs_with_its_placeholders_filled(runs, tmp_path):
    synopsis = commands(block(EVALUATION_PAGE, EVALUATION_HEADING, index=0).text)
    # the bash line (Table 3's script) is the slow test's: test_table3_ablations_runs_end_to_end_as_the_page_says
    others = [words[:2] for words in synopsis if words[0] != "python"]
    assert others == [["bash", "mnist_svhn_cifar/table3_ablations.sh"]], others
    work = _trained_checkout(tmp_path / "work", {"first": runs["first"], "second": runs["second"]})
    fills = {"latest|N": "1", "PATH": str(tmp_path / "samples.npz"), "REAL.npz": runs["real"], "B": "50",
             "INCEPTION_DIR": runs["graph"], "DIR": str(tmp_path / "report")}
    lines = [_fill(words, fills, {"--num_samples": "100"}, ["runs/first", "runs/second"])
             for words in synopsis if words[0] == "python"]
    single, together, reported = _run_in_page_order(lines, work)
    # RUN_DIR with every flag: checkpoint 1, 100 samples at PATH drawn 50 at a time from seed 0, IS and FID on the
    # (fake) Inception graph, all in the run's evaluation.json
    run_dir = os.path.join(work, "runs", "first")
    evaluation = _evaluation(run_dir)
    assert evaluation["checkpoint_number"] == 1 and evaluation["num_samples"] == 100 and evaluation["seed"] == 0
    assert evaluation["samples"] == str(tmp_path / "samples.npz")
    assert not os.path.exists(os.path.join(run_dir, "evaluation_samples.npz"))  # they went to --samples_out
    assert {"inception_score", "inception_score_std", "fid"} <= set(evaluation) and "inception_note" not in evaluation
    assert evaluation["fid_against"] == runs["real"]
    with np.load(tmp_path / "samples.npz") as data:
        samples = data["samples"]
    expected = evaluate.draw_samples(evaluate.load_run(run_dir, "1"), 100, seed=0, batch_size=50, progress=False)
    np.testing.assert_array_equal(samples, expected)  # batches of B=50 (batch norm uses the batch's statistics)
    assert "Inception score: " in single.stdout and "FID: " in single.stdout
    # --ensemble RUN_DIR RUN_DIR: Table 2's ensemble row over the two runs
    assert re.search(r"^ensemble of 2: test error 0\.\d{4} on 1000 examples$", together.stdout, re.M), together.stdout
    # report RUN_DIR... --out=DIR: the table over both runs (a mean ± std row: they differ only by seed), the plots
    table = _table(open(tmp_path / "report" / "report.md").read())
    assert [row[0] for row in table[1:]] == ["first", "second", "mean ± std over 2 seeds"]
    row = _row_of(table, "first")
    assert row["IS"].startswith(f"{evaluation['inception_score']:.2f}") and row["FID"] != "–", row
    assert sorted(os.listdir(tmp_path / "report")) == ["losses.png", "report.csv", "report.md", "test_error.png"]
    assert str(tmp_path / "report") in reported.stdout


#: Table 3's columns, as mnist_svhn_cifar/table3_ablations.sh names their runs.
TABLE3_COLUMNS = ("our_methods", "minus_vbn_plus_bn", "minus_l_plus_ha", "minus_ls", "minus_l", "minus_mbf")


@pytest.mark.slow
def test_table3_ablations_runs_end_to_end_as_the_page_says(tmp_path):
    """The page's own example of Table 3's script (``bash mnist_svhn_cifar/table3_ablations.sh 1 /tmp/t3``), with
    OUT in tmp_path and, to take minutes instead of the page's 12, the script's overrides: FLAGS at a sixteenth of
    the widths, NUM_SAMPLES=100 and INCEPTION_DIR a fake Inception graph (none can be downloaded here)."""
    example = [code for _, code in code_spans_of_text(read(EVALUATION_PAGE))
               if code.startswith("bash mnist_svhn_cifar/table3_ablations.sh ")]
    assert len(example) == 1, example
    words = shlex.split(example[0])  # bash SCRIPT EPOCHS OUT
    assert len(words) == 4 and words[3].startswith("/tmp/"), words
    out = tmp_path / os.path.basename(words[3])
    words[3] = str(out)
    graph_dir = str(tmp_path / "graph")
    fake_graph.write_graph(fake_graph.small_graph_def(image_size=16)[0], graph_dir)
    env = dict(ENV, FLAGS="--width_scale=0.0625 --count=10", NUM_SAMPLES="100", INCEPTION_DIR=graph_dir)
    env.pop("DATA_DIR", None)  # the page's run: the synthetic stand-in
    begin = time.time()
    result = run(words, checkout(tmp_path / "work"), timeout=3600, env=env)
    print(f"{' '.join(words[1:3])} OUT: {time.time() - begin:.0f} s")
    assert result.returncode == 0, result.stderr[-3000:]
    for column in TABLE3_COLUMNS:  # each column trained for the page's EPOCHS and evaluated
        evaluation = _evaluation(out / column)
        assert evaluation["checkpoint_number"] == int(words[2]) and evaluation["num_samples"] == 100, column
        assert "inception_score" in evaluation, column  # evaluated with --inception_score
    assert (out / "data" / "cifar-10-batches-py").is_dir()  # without DATA_DIR: the synthetic stand-in
    table = _table((out / "report" / "report.md").read_text())
    assert [row[0] for row in table[1:]] == list(TABLE3_COLUMNS)
    assert all(_row_of(table, column)["IS"] != "–" for column in TABLE3_COLUMNS)
