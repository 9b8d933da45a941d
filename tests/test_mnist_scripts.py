"""The MNIST scripts run end to end on the shipped sample: every promised output, exact resumption after an
interrupted run, and one-line errors for bad flags."""
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import numpy_reference as ref
from helpers import CUSTOM_LABELS, ENV, FEATURE_MATCHING, MINIBATCH, history, run_script

ORIGINAL_LINE = re.compile(
    r"^Iteration (\d+), time = \d+s, loss_lab = \d+\.\d{4}, loss_unl = \d+\.\d{4}, "
    r"train err = \d\.\d{4}, test err = (\d\.\d{4})$", re.M
)


def test_two_epochs_write_every_promised_output(mnist_sample_run):
    out_dir, stdout = mnist_sample_run
    lines = ORIGINAL_LINE.findall(stdout)
    assert [int(epoch) for epoch, _ in lines] == [0, 1]
    # one line per epoch, the original's (Keras's "Epoch 1/2" and metrics lines are not printed)
    printed = stdout.strip().splitlines()
    assert len(printed) == 4 and printed[0].startswith("{") and printed[-1].startswith("Done: 2 epochs"), printed
    flags = json.load(open(os.path.join(out_dir, "flags.json")))
    assert flags["dataset"] == "mnist_sample" and flags["count"] == 10 and flags["learning_rate"] == 0.003
    assert flags["seed"] == 1 and flags["seed_data"] == 1 and flags["batch_size"] == 100
    for epoch in (0, 1):
        grid = np.asarray(Image.open(os.path.join(out_dir, "samples", f"epoch_{epoch:04d}.png")))
        # the 289x289 grid at three screen pixels per pixel, each pixel a crisp 3x3 square
        assert grid.shape == (3 * (28 * 10 + 9), 3 * (28 * 10 + 9)) and grid.std() > 0
        np.testing.assert_array_equal(np.repeat(np.repeat(grid[::3, ::3], 3, axis=0), 3, axis=1), grid)
    assert os.path.exists(os.path.join(out_dir, "samples", "latest.png"))
    assert sorted(os.listdir(os.path.join(out_dir, "logs"))) == ["samples", "train", "validation"]
    assert any(name.startswith("events") for name in os.listdir(os.path.join(out_dir, "logs", "validation")))
    assert os.path.exists(os.path.join(out_dir, "checkpoints", "ckpt-2.index"))
    rows = history(out_dir)
    assert [row["epoch"] for row in rows] == ["0", "1"]
    summary = json.load(open(os.path.join(out_dir, "summary.json")))
    assert summary["epochs_completed"] == 2 and summary["test_examples"] == 1000
    assert summary["test_err"] == pytest.approx(float(rows[-1]["val_test_err"]), abs=1e-6)
    assert summary["test_errors"] == round(summary["test_err"] * 1000)
    assert float(lines[-1][1]) == pytest.approx(summary["test_err"], abs=5e-5)
    # what computed it: CPU kernels round differently, so runs differ across machines (not on one)
    from improved_gan_tf2 import environment

    recorded = summary["environment"]
    assert recorded["cpu"] == environment.cpu_model() and recorded["cpu_features"] == environment.cpu_features()
    import keras
    import tensorflow as tf

    assert (recorded["tensorflow"], recorded["keras"], recorded["numpy"]) == (tf.__version__, keras.__version__,
                                                                              np.__version__)
    assert recorded["python"] == sys.version.split()[0] and "CPU:0" in recorded["devices"]
    texts = [value.tensor.string_val[0].decode()
             for name in os.listdir(os.path.join(out_dir, "logs", "train"))
             for event in tf.compat.v1.train.summary_iterator(os.path.join(out_dir, "logs", "train", name))
             for value in event.summary.value if value.tag == "environment"]
    assert texts and recorded["cpu"] in texts[0] and tf.__version__ in texts[0]
    # the test error of the averaged parameters falls from epoch to epoch
    assert float(rows[1]["val_test_err"]) < float(rows[0]["val_test_err"]) < 0.9


def render_terminal(output):
    """The lines a terminal shows for ``output``: carriage returns, backspaces and erase-to-end-of-line applied,
    other escape sequences dropped."""
    lines, line, column, i = [], [], 0, 0
    while i < len(output):
        escape = re.match(r"\x1b\[[0-9;?]*([A-Za-z])", output[i:])
        if escape:
            if escape.group(1) == "K":
                del line[column:]
            i += len(escape.group(0))
            continue
        char = output[i]
        if char == "\n":
            lines.append("".join(line))
            line, column = [], 0
        elif char == "\r":
            column = 0
        elif char == "\b":
            column = max(0, column - 1)
        else:
            line[column:column + 1] = [char]
            column += 1
        i += 1
    return lines + (["".join(line)] if line else [])


def test_render_terminal():
    assert render_terminal("a\rb\n12/40 [==]\r\x1b[KIteration 0\nxy\bz\n") == ["b", "Iteration 0", "xz"]
    assert render_terminal("Epoch 1/2\n\x1b[1m40/40\x1b[0m\n") == ["Epoch 1/2", "40/40"]


def test_a_terminal_shows_one_line_per_epoch_and_the_progress_within_it(tmp_path):
    import pty

    main, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, FEATURE_MATCHING, "--dataset=mnist_sample", "--epochs=1",
                                f"--out_dir={tmp_path / 'run'}"], stdout=secondary, stderr=subprocess.PIPE,
                               env=ENV)
    os.close(secondary)
    output = b""
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the process closed the terminal
            break
        if not data:
            break
        output += data
    os.close(main)
    assert process.wait(timeout=60) == 0, process.stderr.read()[-2000:]
    text = output.decode().replace("\r\n", "\n")  # the terminal's own line ends
    shown = [line for line in render_terminal(text) if line.strip()]
    assert len(shown) == 3 and shown[0].startswith("{") and shown[2].startswith("Done: 1 epoch"), shown
    assert ORIGINAL_LINE.match(shown[1]), shown
    assert "40/40" in text  # the progress within the epoch was shown, then replaced by the epoch's line


def test_an_interrupted_run_resumes_exactly(mnist_sample_run, tmp_path):
    reference_dir, _ = mnist_sample_run
    out_dir = str(tmp_path / "run")
    process = subprocess.Popen([sys.executable, FEATURE_MATCHING, "--dataset=mnist_sample", "--epochs=2",
                                f"--out_dir={out_dir}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=ENV)
    for line in process.stdout:
        if line.startswith("Iteration 0,"):
            process.send_signal(signal.SIGKILL)  # dies during epoch 1, after epoch 0's checkpoint
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(out_dir, "summary.json"))
    resumed = run_script(FEATURE_MATCHING, "--dataset=mnist_sample", "--epochs=2", f"--out_dir={out_dir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout
    assert [int(e) for e, _ in ORIGINAL_LINE.findall(resumed.stdout)] == [1]
    # the resumed run computes exactly what the uninterrupted run computed
    assert history(out_dir) == history(reference_dir)


@pytest.mark.parametrize("flag,message", [
    ("--batch_size=0", "--batch_size must be at least 1"),
    ("--count=401", "class 0 has only 400 examples"),
    ("--unlabeled_weight=-1", "--unlabeled_weight must be >= 0"),
])
def test_bad_flags_stop_before_training(tmp_path, flag, message):
    result = run_script(FEATURE_MATCHING, "--dataset=mnist_sample", flag, f"--out_dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_missing_data_names_the_files_and_where_to_get_them(tmp_path):
    result = run_script(FEATURE_MATCHING, "--dataset=mnist_npz", f"--data_dir={tmp_path}",
                        f"--out_dir={tmp_path / 'run'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "mnist.npz" in result.stderr and str(tmp_path) in result.stderr


def test_a_missing_data_dir_is_one_line_and_leaves_nothing(tmp_path):
    out_dir = tmp_path / "runs" / "new"
    result = run_script(FEATURE_MATCHING, f"--data_dir={tmp_path / 'nowhere'}", f"--out_dir={out_dir}")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
    assert f"--data_dir={tmp_path / 'nowhere'} does not exist" in lines[0] and "--dataset=mnist_sample" in lines[0]
    assert os.listdir(tmp_path) == []  # a refused start leaves no run directory (not even its .lock)


def test_a_refused_start_in_an_existing_directory_leaves_it_as_it_was(tmp_path):
    (tmp_path / "mine.txt").write_text("kept")
    result = run_script(FEATURE_MATCHING, "--dataset=mnist_npz", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}")
    assert result.returncode == 2 and "mnist.npz" in result.stderr
    assert os.listdir(tmp_path) == ["mine.txt"]


def test_resuming_with_other_flags_is_refused(mnist_sample_run):
    out_dir, _ = mnist_sample_run
    result = run_script(FEATURE_MATCHING, "--dataset=mnist_sample", "--epochs=2", "--seed=7", f"--out_dir={out_dir}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "seed: 1 -> 7" in result.stderr


def test_custom_labels_script_records_the_labelled_examples(tmp_path):
    from improved_gan_tf2.data import load_mnist, select_labelled_custom

    mnist = load_mnist(dataset="mnist_sample")
    rng = np.random.RandomState(0)
    noisy = mnist["y_test"].astype(np.int64)
    flip = rng.rand(len(noisy)) < 0.2
    noisy[flip] = rng.randint(0, 10, flip.sum())
    labels = tmp_path / "labels.npy"
    np.save(labels, noisy)
    out_dir = tmp_path / "run"
    result = run_script(CUSTOM_LABELS, "--dataset=mnist_sample", f"--labels={labels}", "--train_examples=800",
                        "--count=5", "--seed_data=3", "--epochs=1", f"--out_dir={out_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(ORIGINAL_LINE.findall(result.stdout)) == 1
    expected = select_labelled_custom(mnist["x_test"][:800], noisy[:800], mnist["y_test"][:800], 5, 3)
    np.testing.assert_array_equal(np.load(out_dir / "perm.npy"), expected.permutation)
    np.testing.assert_array_equal(np.load(out_dir / "used_inds_5.npy"), expected.used_inds)
    # --seed (1) and --seed_data (3) apart: the original's choice, masked by the unpermuted true labels
    txs, _, _ = ref.original_labelled_and_epochs(mnist["x_test"][:800], noisy[:800], 1, 3, 5, 0, labels_by="custom",
                                                 y_true=mnist["y_test"][:800])
    np.testing.assert_array_equal(mnist["x_test"][:800][np.load(out_dir / "labelled_indices.npy")], txs)
    summary = json.load(open(out_dir / "summary.json"))
    assert summary["test_examples"] == 200  # the remaining 200 sample test images
    short = tmp_path / "short.npy"
    np.save(short, noisy[:100])
    result = run_script(CUSTOM_LABELS, "--dataset=mnist_sample", f"--labels={short}", "--train_examples=800",
                        f"--out_dir={tmp_path / 'run2'}")
    assert result.returncode == 2 and "has 100 labels" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("script", [FEATURE_MATCHING, pytest.param(MINIBATCH, marks=pytest.mark.slow)])
def test_mnist_scripts_label_the_originals_examples_with_seeds_apart(tmp_path, script):
    """--seed=2 and --seed_data=3: the labelled examples (``labelled_indices.npy``) are the ones the original
    script picks, a transcription of its code (numpy_reference.original_labelled_and_epochs)."""
    from improved_gan_tf2.data import load_mnist

    out_dir = tmp_path / "run"
    result = run_script(script, "--dataset=mnist_sample", "--epochs=1", "--seed=2", "--seed_data=3", "--count=5",
                        f"--out_dir={out_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    mnist = load_mnist(dataset="mnist_sample")
    txs, _, _ = ref.original_labelled_and_epochs(mnist["x_train"], mnist["y_train"], 2, 3, 5, 0)
    np.testing.assert_array_equal(mnist["x_train"][np.load(out_dir / "labelled_indices.npy")], txs)
    assert json.load(open(out_dir / "flags.json"))["experiment"] == os.path.basename(script)[:-3]
