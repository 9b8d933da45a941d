"""``setup.py``'s ``python_requires`` admits only Pythons the code runs on: no module imports a standard-library
module newer than the declared floor (``tomllib`` is 3.11's), and every file parses with the floor's grammar.
CI (``.ci/run``) runs the suite on the floor's interpreter when the machine has it."""
import ast
import os
import re
import sys

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
