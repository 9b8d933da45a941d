"""The shape of the code base: the library's import graph runs one way (networks import only layers; nothing
imports a module of a higher level; no cycles), no module is over :data:`MAX_MODULE_LINES` lines (one concept per
module: a longer one is split by concept), every script names a registered experiment, and the registry is keyed
by the original scripts' names."""
import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "improved_gan_tf2")

#: The library's levels, lowest first: a module may import modules of its own package (``data``,
#: ``experiments``, ...) or of a lower level, never of a higher one.
LEVELS = [
    {"init", "startup", "errors", "environment", "data.errors", "plotting"},
    {"layers", "losses", "optimizers", "data", "run_files"},
    {"networks"},
    {"models", "port"},
    {"training"},
    {"cli"},
    {"experiments"},
    {"turing", "evaluate", "report", "compare"},  # the tools
    {"export"},  # a tool built on evaluate's restoring and measuring
]


def _level(module):
    """The level of ``improved_gan_tf2.<module>`` (by its longest listed prefix)."""
    best = None
    for index, names in enumerate(LEVELS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (index, name)
    return best


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                if module == "__init__" or module.endswith(".__init__"):
                    module = module[:-len("__init__")].rstrip(".")
                yield module, path


def _imports(module, path):
    """The ``improved_gan_tf2`` modules that ``module`` imports (relative imports resolved). ``from package import
    name`` counts the submodule ``package.name`` when there is one, else the package itself."""
    known = {m for m, _ in _modules()}
    tree = ast.parse(open(path).read())
    package = module if os.path.basename(path) == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = (["improved_gan_tf2"] + (package.split(".") if package else []))
                parts = parts[:len(parts) - node.level + 1] + ([node.module] if node.module else [])
                base = ".".join(parts)
            else:
                base = node.module or ""
            names = []
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                names.append(submodule if submodule[len("improved_gan_tf2."):] in known else base)
        else:
            continue
        for name in names:
            if name.startswith("improved_gan_tf2."):
                found.add(name[len("improved_gan_tf2."):])
    return {name for name in found if name in known} - {module}


def _graph():
    return {module: _imports(module, path) for module, path in _modules()}


def test_every_library_module_has_a_level():
    missing = [module for module in _graph() if module and _level(module) is None]
    assert not missing, f"add these modules to LEVELS in tests/test_layout.py: {missing}"


def test_networks_import_only_layers():
    for module, imported in _graph().items():
        if module.startswith("networks"):
            assert imported <= {"layers"}, (module, imported)


def test_nothing_imports_upward():
    for module, imported in _graph().items():
        if not module:
            continue
        level, name = _level(module)
        for target in imported:
            target_level, target_name = _level(target)
            same_package = target_name == name
            assert target_level < level or same_package, f"{module} (level {level}) imports {target} " \
                                                         f"(level {target_level})"


def test_no_import_cycles():
    graph = _graph()
    state = {}

    def visit(module, trail):
        if state.get(module) == "done":
            return
        assert state.get(module) != "active", " -> ".join(trail + [module])
        state[module] = "active"
        for target in sorted(graph.get(module, ())):
            visit(target, trail + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_a_planted_upward_import_is_found(tmp_path):
    """The checks above can fail: a network module that imports the models is reported."""
    path = tmp_path / "bad.py"
    path.write_text("from improved_gan_tf2.models import semi_supervised\nfrom improved_gan_tf2 import layers\n")
    assert _imports("networks.bad", str(path)) == {"models.semi_supervised", "layers"}
    assert _level("models.semi_supervised")[0] > _level("networks.bad")[0]


#: The longest a module may be (issue 24: "no module above ~500 lines holds more than one concept").
MAX_MODULE_LINES = 500
#: The code trees whose modules are held to it (tests and benchmarks are not).
CODE_TREES = ("improved_gan_tf2", "inception_score", "mnist_svhn_cifar", "imagenet", "examples")


def oversized_modules(root, trees=CODE_TREES, limit=MAX_MODULE_LINES):
    """``{path relative to root: lines}`` of the Python modules of ``trees`` longer than ``limit`` lines."""
    found = {}
    for tree in trees:
        for folder, _, files in os.walk(os.path.join(root, tree)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8") as stream:
                        lines = sum(1 for _ in stream)
                    if lines > limit:
                        found[os.path.relpath(path, root)] = lines
    return found


def test_no_module_is_longer_than_one_concept():
    found = oversized_modules(ROOT)
    assert not found, f"split these modules by concept (at most {MAX_MODULE_LINES} lines each): {found}"


def test_a_planted_long_module_is_found(tmp_path):
    """The check above can fail: a module one line over the limit is reported, one at the limit is not."""
    package = tmp_path / "improved_gan_tf2" / "layers"
    package.mkdir(parents=True)
    (package / "at_limit.py").write_text("x = 1\n" * MAX_MODULE_LINES)
    (package / "too_long.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    too_long = os.path.join("improved_gan_tf2", "layers", "too_long.py")
    assert oversized_modules(str(tmp_path)) == {too_long: MAX_MODULE_LINES + 1}


SCRIPTS = [os.path.join("mnist_svhn_cifar", name) for name in sorted(os.listdir(os.path.join(ROOT, "mnist_svhn_cifar")))
           if name.startswith("train_") and name.endswith(".py")] + [os.path.join("imagenet", "train_imagenet.py")]


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_names_its_registered_experiment(script):
    from improved_gan_tf2 import experiments

    text = open(os.path.join(ROOT, script)).read()
    names = re.findall(r'experiments\.get_experiment\("(\w+)"\)', text)
    assert names == [os.path.basename(script)[:-3]], names
    experiment = experiments.get_experiment(names[0])
    if experiment.original is not None:
        assert os.path.basename(experiment.original) == os.path.basename(script)


def test_the_registry_is_keyed_by_the_original_scripts():
    from improved_gan_tf2 import experiments

    assert sorted(experiments.EXPERIMENTS) == sorted(os.path.basename(s)[:-3] for s in SCRIPTS)
    for name, experiment in experiments.EXPERIMENTS.items():
        assert experiment.script == name
        assert experiment.original is None or experiment.original.endswith(f"/{name}.py")
        assert len({flag.name for flag in experiment.flags}) == len(experiment.flags)
    assert experiments.get_experiment("train_svhn_feature_matching.py").script == "train_svhn_feature_matching"
    with pytest.raises(KeyError, match="train_cifar_feature_matching"):
        experiments.get_experiment("train_cifar")
