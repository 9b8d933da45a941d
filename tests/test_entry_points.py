"""One exit-status convention for every entry point (``improved_gan_tf2.errors``): ``--help`` exits with 0 and
prints the help; bad input (an unknown flag, a value out of range, a flag that does not parse, a missing file)
exits with 2 and one line ``error: ...`` on stderr, without a traceback.

The entry points are found, not listed: every script of ``mnist_svhn_cifar/`` and ``imagenet/``, ``python -m
inception_score`` and every ``python -m improved_gan_tf2.<module>`` that runs as a program (a ``__main__.py`` or
an ``if __name__ == "__main__"``). Starting a new Python with TensorFlow for each of the ~60 cases would take
minutes, so a driver process imports TensorFlow once and forks a child per case, which runs the entry point as
``__main__`` with its ``sys.argv`` (what ``python script.py ...`` / ``python -m ...`` does after start-up);
:func:`test_the_driver_agrees_with_real_processes` checks it against new processes."""
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from helpers import ENV, ROOT

#: Run inside the original's own environment by ``compare`` (Python with Theano), not by users.
NOT_USER_COMMANDS = {"improved_gan_tf2.compare.harness"}

DRIVER = r'''
import json, os, runpy, signal, sys, time, traceback
cases = json.load(sys.stdin)
import keras, tensorflow  # noqa: F401  (once, for every child)
import improved_gan_tf2.experiments, improved_gan_tf2.cli  # noqa: F401
results = []
for case in cases:
    out_path, err_path = case["out"], case["err"]
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1); os.dup2(err, 2)
            try:
                if case["kind"] == "module":
                    sys.argv = ["-m"] + case["args"]
                    runpy.run_module(case["target"], run_name="__main__", alter_sys=True)
                else:
                    sys.argv = [case["target"]] + case["args"]
                    sys.path[0] = os.path.dirname(case["target"])
                    runpy.run_path(case["target"], run_name="__main__")
                code = 0
            except SystemExit as stop:
                if stop.code is None:
                    code = 0
                elif isinstance(stop.code, int):
                    code = stop.code
                else:
                    print(stop.code, file=sys.stderr)
                    code = 1
            except BaseException:
                traceback.print_exc()
                code = 1
        finally:
            try:
                sys.stdout.flush(); sys.stderr.flush()
            finally:
                os._exit(code)
    deadline = time.time() + 120
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = 124 << 8
            break
        time.sleep(0.02)
    results.append(os.waitstatus_to_exitcode(status))
print(json.dumps(results))
'''


def scripts():
    """``(kind, target)`` of every entry point: the scripts (paths) and the modules run with ``-m``."""
    found = [("script", path) for folder in ("mnist_svhn_cifar", "imagenet")
             for path in sorted(glob.glob(os.path.join(ROOT, folder, "*.py"))) if not path.endswith("__init__.py")]
    found.append(("module", "inception_score"))
    for path in sorted(glob.glob(os.path.join(ROOT, "improved_gan_tf2", "**", "*.py"), recursive=True)):
        source = open(path, encoding="utf-8").read()
        module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
        if module.endswith(".__main__"):
            module = module[:-len(".__main__")]
        elif 'if __name__ == "__main__"' not in source:
            continue
        if module not in NOT_USER_COMMANDS:
            found.append(("module", module))
    return found


def name(kind, target):
    return os.path.relpath(target, ROOT) if kind == "script" else "-m " + target


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
    payload = [dict(kind=kind, target=target, args=args, out=os.path.join(tmp, f"{i}.out"),
                    err=os.path.join(tmp, f"{i}.err"))
               for i, (_, kind, target, _, args, _) in enumerate(case_list)]
    result = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(payload), capture_output=True,
                            text=True, env=ENV, cwd=tmp, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    codes = json.loads(result.stdout.strip().splitlines()[-1])
    return [(code, open(p["out"]).read(), open(p["err"]).read()) for code, p in zip(codes, payload)]


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


def argparse_options(parser, prog=""):
    """``(prog, action)`` of every option of ``parser`` and of its subcommands."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from argparse_options(sub)
        elif not isinstance(action, argparse._HelpAction):
            yield parser.prog, action


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
