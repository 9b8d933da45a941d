"""One exit-status convention for every entry point (``improved_gan_tf2.errors``): ``--help`` exits with 0 and
prints the help; bad input (an unknown flag, a value out of range, a flag that does not parse, a missing file)
exits with 2 and one line ``error: ...`` on stderr, without a traceback.

The entry points are ``entry_points.scripts()``, found rather than listed, run by the fork driver of
``entry_points.run_in_driver``; :func:`test_the_driver_agrees_with_real_processes` checks it against new
processes."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from entry_points import argparse_options, name, run_in_driver, scripts
from helpers import ENV, ROOT

#: A value a flag of the entry point refuses (beyond an unknown flag), with a piece of the message; for the tools
#: taking files, a missing one. ``{tmp}`` is a fresh directory.
BAD_VALUES = {
    "imagenet/train_imagenet.py": (["--batch_size=0"], "batch"),
    "imagenet/convert_imagenet_to_records.py": (["--image_size=0"], "--image_size must be"),
    "imagenet/smoke.py": (["--steps=0"], "--steps must be at least 1"),
    "-m inception_score": (["{tmp}/too_bright.npy"], "255"),
    "-m improved_gan_tf2.evaluate": (["{tmp}/no_such_run"], "no_such_run"),
    "-m improved_gan_tf2.report": (["{tmp}/no_such_run"], "no_such_run"),
    "-m improved_gan_tf2.export": (["{tmp}/no_such_run"], "no_such_run"),
    "-m improved_gan_tf2.compare": (["step", "--script=nope", "--original_dir={tmp}"], "nope"),
    "-m improved_gan_tf2.turing": (["serve", "--study=s.toml", "--db=v.sqlite", "--port=abc"], "--port"),
    "-m improved_gan_tf2.data.writers": (["--synthetic=cifar10", "--out={tmp}/d", "--train=5"], "--train"),
    "-m improved_gan_tf2.data.make_mnist_sample": (["{tmp}/no_such.whl"], "no_such.whl"),
}
#: The semi-supervised scripts all refuse --epochs=0 (absl's validator: was exit status 1 and two lines).
SCRIPT_BAD_VALUE = (["--epochs=0"], "--epochs must be at least 1")
#: What the argparse tools need before an unknown flag is the error they report (a subcommand, the required
#: arguments: argparse names missing ones first).
REQUIRED = {"-m improved_gan_tf2.turing": ["report", "--db=v.sqlite"],
            "-m improved_gan_tf2.compare": ["run", "--script=x", "--original_dir=y"],
            "-m improved_gan_tf2.data.writers": ["--synthetic=svhn", "--out=d"],
            "-m improved_gan_tf2.data.make_mnist_sample": ["source.whl"]}


def cases(tmp):
    out = []
    for kind, target in scripts():
        label = name(kind, target)
        bad, message = BAD_VALUES.get(label, SCRIPT_BAD_VALUE)
        prefix = REQUIRED.get(label, [])
        out += [(label, kind, target, "help", ["--help"], None),
                (label, kind, target, "unknown flag", prefix + ["--no_such_flag=1"], "no_such_flag"),
                (label, kind, target, "bad value", [a.replace("{tmp}", tmp) for a in bad], message)]
    return out


def run_cases(case_list, tmp):
    return run_in_driver([(kind, target, args) for _, kind, target, _, args, _ in case_list], tmp)


def check(label, what, code, stdout, stderr, message):
    where = f"{label} ({what})"
    if message is None:  # --help
        assert code == 0, (where, code, stderr[-1500:])
        assert "--" in stdout + stderr and "Traceback" not in stderr, (where, stdout[:500], stderr[-1500:])
        return
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, (where, code, stderr[-1500:])
    assert len(lines) == 1 and re.match(r"^(\S+: )?error: ", lines[0]), (where, stderr[-1500:])
    assert message in lines[0], (where, lines[0])


def test_every_entry_point_exits_0_for_help_and_2_with_one_line_for_bad_input(tmp_path):
    found = {name(kind, target) for kind, target in scripts()}
    assert {"mnist_svhn_cifar/train_mnist_feature_matching.py", "imagenet/train_imagenet.py", "-m inception_score",
            "-m improved_gan_tf2.evaluate", "-m improved_gan_tf2.report", "-m improved_gan_tf2.export",
            "-m improved_gan_tf2.turing",
            "-m improved_gan_tf2.compare", "-m improved_gan_tf2.data.writers"} <= found
    np.save(tmp_path / "too_bright.npy", np.full((4, 8, 8, 3), 300.0))
    case_list = cases(str(tmp_path))
    results = run_cases(case_list, str(tmp_path))
    failures = []
    for (label, _, _, what, _, message), (code, stdout, stderr) in zip(case_list, results):
        try:
            check(label, what, code, stdout, stderr, message)
        except AssertionError as error:
            failures.append(str(error)[:600])
    assert not failures, "\n".join(failures)


def test_the_driver_agrees_with_real_processes(tmp_path):
    """The fork driver gives what new processes give (status, stdout, stderr), on a script and a tool."""
    chosen = [case for case in cases(str(tmp_path))
              if (case[0], case[3]) in {("mnist_svhn_cifar/train_mnist_feature_matching.py", "bad value"),
                                        ("-m improved_gan_tf2.report", "help"),
                                        ("-m improved_gan_tf2.turing", "unknown flag")}]
    assert len(chosen) == 3
    driven = run_cases(chosen, str(tmp_path))
    for (label, kind, target, _, args, _), (code, stdout, stderr) in zip(chosen, driven):
        command = [sys.executable] + (["-m", target] if kind == "module" else [target]) + args
        real = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=str(tmp_path), timeout=300)
        assert (real.returncode, real.stderr.strip()) == (code, stderr.strip()), label
        assert real.stdout.replace(sys.executable, "").split() == stdout.split() or label.startswith("-m"), label


@pytest.mark.parametrize("script", ["compare_mnist_sample.sh", "table3_ablations.sh"])
def test_the_shell_scripts_follow_the_convention(script, tmp_path):
    path = os.path.join(ROOT, "mnist_svhn_cifar", script)
    shown = subprocess.run(["bash", path, "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "EPOCHS" in shown.stdout and "set -euo" not in shown.stdout
    for args, message in ((["abc"], "EPOCHS must be a positive whole number"), (["1", "o", "x"], "at most two")):
        bad = subprocess.run(["bash", path, *args], capture_output=True, text=True, timeout=30, cwd=tmp_path)
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
        assert not os.listdir(tmp_path)  # nothing started


def test_every_option_of_the_argparse_tools_says_what_it_does_and_its_default():
    from improved_gan_tf2.data import make_mnist_sample, writers
    from improved_gan_tf2.turing import __main__ as turing

    missing = []
    for parser in (turing.parser(), writers.build_parser(), make_mnist_sample.build_parser()):
        for prog, action in argparse_options(parser):
            text = action.help or ""
            if not text:
                missing.append(f"{prog} {action.dest}: no help")
            elif action.default not in (None, False) and "default" not in text:
                missing.append(f"{prog} {action.dest}: default {action.default!r} not shown")
    assert not missing, missing


def test_the_argparse_tools_refuse_an_abbreviated_flag(capsys):
    """A page's ``--step=3`` (for ``--steps``) or ``--stud`` (for ``--study``) is an error, not another flag."""
    from improved_gan_tf2.compare.__main__ import build_parser
    from improved_gan_tf2.compare.scripts import UsageError
    from improved_gan_tf2.turing import __main__ as turing

    with pytest.raises(UsageError, match="--step=3"):
        build_parser().parse_args(["step", "--script=x", "--original_dir=y", "--step=3"])
    with pytest.raises(SystemExit) as stop:
        turing.parser().parse_args(["serve", "--stud=s.toml", "--db=v.sqlite"])
    assert stop.value.code == 2 and "--stud" in capsys.readouterr().err
