"""The project's entry points, found rather than listed, and a driver that runs many of them fast (imported as
``from entry_points import ...``, like ``helpers``): every script of ``mnist_svhn_cifar/`` and ``imagenet/``,
``python -m inception_score`` and every ``python -m improved_gan_tf2.<module>`` that runs as a program (a
``__main__.py`` or an ``if __name__ == "__main__"``). Starting a new Python with TensorFlow for each call would take
minutes, so the driver process imports TensorFlow once and forks a child per call, which runs the entry point as
``__main__`` with its ``sys.argv`` (what ``python script.py ...`` / ``python -m ...`` does after start-up);
``tests/test_entry_points.py`` checks it against new processes."""
import argparse
import glob
import json
import os
import subprocess
import sys

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
    """How a user calls the entry point: its path from the root, or ``-m`` and its module."""
    return os.path.relpath(target, ROOT) if kind == "script" else "-m " + target


def run_in_driver(calls, tmp):
    """``(exit status, stdout, stderr)`` of each ``(kind, target, args)`` of ``calls`` (``kind`` "script" or
    "module"), run by one driver process in the directory ``tmp``."""
    payload = [dict(kind=kind, target=target, args=args, out=os.path.join(tmp, f"{i}.out"),
                    err=os.path.join(tmp, f"{i}.err"))
               for i, (kind, target, args) in enumerate(calls)]
    result = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(payload), capture_output=True,
                            text=True, env=ENV, cwd=tmp, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    codes = json.loads(result.stdout.strip().splitlines()[-1])
    return [(code, open(p["out"]).read(), open(p["err"]).read()) for code, p in zip(codes, payload)]


def argparse_options(parser, prog=""):
    """``(prog, action)`` of every option of ``parser`` and of its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from argparse_options(sub)
        elif not isinstance(action, argparse._HelpAction):
            yield parser.prog, action
