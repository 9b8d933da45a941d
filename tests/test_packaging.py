"""``setup.py``'s ``python_requires`` admits only Pythons the code runs on: no module imports a standard-library
module newer than the declared floor (``tomllib`` is 3.11's), and every file parses with the floor's grammar.
CI (``.ci/run``) runs the suite on the floor's interpreter when the machine has it, with the README's install and
test commands."""
import ast
import os
import re
import sys

import docs_pages
from helpers import ROOT

#: Standard-library modules added after Python 3.8, with the version that added them.
NEWER_STDLIB = {"zoneinfo": (3, 9), "graphlib": (3, 9), "tomllib": (3, 11), "wsgiref.types": (3, 11)}
PACKAGES = ("improved_gan_tf2", "mnist_svhn_cifar", "imagenet", "inception_score", "examples", "benchmarks")


def declared_floor():
    text = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    match = re.search(r"python_requires\s*=\s*\">=\s*(\d+)\.(\d+)\"", text)
    assert match, "setup.py declares no python_requires='>=X.Y'"
    return int(match.group(1)), int(match.group(2))


def sources():
    for package in PACKAGES:
        for folder, _, names in os.walk(os.path.join(ROOT, package)):
            for name in names:
                if name.endswith(".py"):
                    yield os.path.join(folder, name)


def imported_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module


def needed_version(path):
    """The oldest Python whose standard library has every module ``path`` imports, and why."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    needs = [(NEWER_STDLIB[m], m) for m in imported_modules(tree) if m in NEWER_STDLIB]
    return max(needs, default=((3, 8), None))


def test_the_declared_floor_covers_what_the_code_imports():
    floor = declared_floor()
    too_new = {os.path.relpath(p, ROOT): needed_version(p) for p in sources() if needed_version(p)[0] > floor}
    assert not too_new, f"python_requires >= {floor[0]}.{floor[1]}, but: {too_new}"
    assert sys.version_info[:2] >= floor  # the tests themselves run on an admitted Python


def test_every_file_parses_with_the_floors_grammar():
    floor = declared_floor()
    for path in sources():
        ast.parse(open(path, encoding="utf-8").read(), path, feature_version=floor)


def test_the_check_sees_a_module_newer_than_the_floor(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("import tomllib\n")
    assert needed_version(str(planted)) == ((3, 11), "tomllib")
    planted.write_text("from zoneinfo import ZoneInfo\n")
    assert needed_version(str(planted)) == ((3, 9), "zoneinfo")


def and_parts(words):
    """The commands of one shell line joined by ``&&`` (its words), in order."""
    parts = [[]]
    for word in words:
        if word == "&&":
            parts.append([])
        else:
            parts[-1].append(word)
    return parts


def test_ci_runs_the_readmes_test_command():
    """The README's second command under "Two commands on a fresh machine" ("the same command CI runs"): its pip
    install is the one ``.ci/run`` runs (as ``python -m pip``, ``--quiet``), and its pytest command is the last
    command of ``.ci/run``, so that CI's exit status is that of the README's test command."""
    (line,) = docs_pages.commands(docs_pages.block("README.md", "Two commands on a fresh machine", index=1).text)
    parts = and_parts(line)
    install = next(part for part in parts if part[:2] == ["pip", "install"])
    test = parts[-1]
    assert test[:3] == ["python", "-m", "pytest"], parts
    ci = docs_pages.commands(open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read())
    installs = [[word for word in command[2:] if word != "--quiet"] for command in ci
                if command[:4] == ["python", "-m", "pip", "install"]]
    assert install in installs, (install, installs)
    assert ci[-1] == test, (ci[-1], test)
