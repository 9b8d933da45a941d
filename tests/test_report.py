"""``python -m improved_gan_tf2.report`` on hand-made run directories (no training): runs without a history are
named and left out, the asked and the done epochs are two distinct columns, and the default output directory says
what it holds and is printed."""
import json
import os
import subprocess
import sys
import warnings

import pytest

from improved_gan_tf2 import cli, report

from helpers import ENV


def make_run(directory, epochs_asked=2, epochs_done=2, seed=1, history=True):
    os.makedirs(directory)
    flags = {"experiment": "train_mnist_feature_matching", "epochs": epochs_asked, "seed": seed,
             "out_dir": str(directory)}
    with open(os.path.join(directory, "flags.json"), "w") as stream:
        json.dump(flags, stream)
    if history:
        with open(os.path.join(directory, "history.csv"), "w") as stream:
            stream.write("epoch,loss_gen,loss_lab,loss_unl,val_test_err,val_test_err_raw\n")
            for epoch in range(epochs_done):
                stream.write(f"{epoch},1.0,0.5,0.2,{0.3 - 0.01 * epoch},{0.31 - 0.01 * epoch}\n")
    return str(directory)


def tool(*args, cwd):
    return subprocess.run([sys.executable, "-m", "improved_gan_tf2.report", *args], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=300)


def test_runs_without_history_are_named_and_left_out(tmp_path):
    good = make_run(tmp_path / "good")
    empty = make_run(tmp_path / "empty", history=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no matplotlib warning about empty legends either
        text = report.report([good, empty], str(tmp_path / "out"))
    assert "| good |" in text and "empty" not in text
    result = tool(empty, make_run(tmp_path / "empty2", history=False), "--out=" + str(tmp_path / "out2"), cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "empty" in lines[0] and "empty2" in lines[0] and "no history.csv" in lines[0]
    assert not os.path.exists(tmp_path / "out2")
    result = tool(good, empty, "--out=" + str(tmp_path / "out3"), cwd=tmp_path)
    assert result.returncode == 0 and "note: left out" in result.stderr and "empty" in result.stderr


def test_the_asked_and_the_done_epochs_are_two_columns(tmp_path):
    runs = [make_run(tmp_path / "short", epochs_asked=2), make_run(tmp_path / "long", epochs_asked=5, epochs_done=3)]
    header, rows = report.table([report.read_run(r) for r in runs])
    assert len(header) == len(set(header)), header
    assert header[1:3] == ["epochs", "epochs done"] and [row[1:3] for row in rows] == [["2", "2"], ["5", "3"]]


def test_the_default_output_directory_says_what_it_holds_and_is_printed(tmp_path):
    runs = [make_run(tmp_path / "runs" / "fm", seed=1), make_run(tmp_path / "runs" / "mb", seed=2)]
    result = tool(*runs, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = tmp_path / "runs" / "report_fm+mb"
    assert os.path.exists(expected / "report.md") and str(expected) in result.stdout
    assert not os.path.exists(tmp_path / "report")
    assert report.default_out_dir([str(tmp_path / f"r{i}") for i in range(5)]) == str(
        tmp_path / "report_r0_and_4_more")


def test_no_run_at_all_is_an_input_error():
    with pytest.raises(cli.InputError):
        report.report([], "anywhere")
