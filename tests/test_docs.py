"""The pages a user reads (``README.md``, ``docs/*.md``) cannot go stale silently:

- every bash and Python block of every page is run by a test named in :data:`RUNNERS`, which reads the block
  from the page (a new block without a runner fails here);
- every flag a page names exists with that spelling, for the command it is given to (a flag in prose, outside a
  command, for some entry point), and every script or module a command names exists;
- the Python fragments of ``docs/layers.md`` run, on inputs of the shapes their text names, and give the shapes
  their comments name;
- the README stays a map: at most :data:`README_MAX_LINES` lines, with a link to every page of ``docs/``.

Each check is also shown to fail on a page with the fault it exists to catch."""
import ast
import glob
import importlib.util
import os
import re
import shlex

import pytest

import docs_pages
from entry_points import name, run_in_driver, scripts
from helpers import ROOT

#: ``(page, first line of the block)`` -> ``file::function`` (a test, or the fixture that runs the command for
#: the tests using it) that runs that block as the page shows it, with fewer epochs or steps where it is long.
RUNNERS = {
    ("README.md", "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && \\"):
        "tests/conftest.py::mnist_sample_run",
    ("README.md", "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && python -m pytest -q"):
        "tests/test_packaging.py::test_ci_runs_the_readmes_test_command",
    ("README.md", "from improved_gan_tf2 import experiments"):
        "tests/test_experiments.py::test_the_readmes_registry_example_runs",
    ("README.md", "import keras"): "tests/test_examples.py::test_the_readmes_layer_example_runs_as_written",
    ("README.md", "python -m improved_gan_tf2.export runs/mnist_sample"):
        "tests/test_export.py::test_the_readme_examples_run_as_written",
    ("README.md", "import improved_gan_tf2, keras, numpy as np  # the import registers the package's layers for load_model"):
        "tests/test_export.py::test_the_readme_examples_run_as_written",
    ("README.md", "import improved_gan_tf2, keras"): "tests/test_export.py::test_the_readme_examples_run_as_written",
    ("README.md", "import numpy as np, tensorflow as tf  # no improved_gan_tf2 needed"):
        "tests/test_export.py::test_the_readme_examples_run_as_written",
    ("README.md", "import tensorflow as tf  # no improved_gan_tf2 needed"):
        "tests/test_export.py::test_the_readme_examples_run_as_written",
    ("README.md", "python -m improved_gan_tf2.compare setup --original_dir=PATH/TO/improved-gan      # Theano 1.0.5, Lasagne, patched copy"):
        "tests/test_compare.py::test_the_pages_compare_commands_run_as_written",
    ("README.md", "python -m improved_gan_tf2.evaluate runs/mnist_sample --num_samples=1000     # test error, samples, IS/FID"):
        "tests/test_evaluate.py::test_the_readmes_evaluation_commands_run_as_written",
    ("README.md", "python -m improved_gan_tf2.evaluate runs/mnist_sample --num_samples=1000"):
        "tests/test_turing_docs.py::test_the_readme_shows_the_same_commands",
    ("docs/compare.md", "# 1. the original's own environment (Theano 1.0.5, Lasagne master, numpy<1.24) and a patched copy of its scripts"):
        "tests/test_compare.py::test_the_pages_compare_commands_run_as_written",
    ("docs/compare.md", "python -m improved_gan_tf2.compare run --script=train_mnist_feature_matching --original_dir=PATH/TO/improved-gan \\"):
        "tests/test_compare.py::test_the_pages_compare_commands_run_as_written",
    ("docs/compare.md", "IGAN_ORIGINAL_DIR=PATH/TO/improved-gan IGAN_ORIGINAL_PYTHON=~/.cache/improved_gan_tf2/original/venv/bin/python \\"):
        "tests/test_compare.py::test_the_pages_test_command_sets_what_this_files_gate_reads",
    ("docs/evaluation.md", "python -m improved_gan_tf2.evaluate RUN_DIR [--checkpoint=latest|N] [--num_samples=50000] [--samples_out=PATH] \\"):
        "tests/test_evaluate.py::test_the_evaluation_synopsis_runs_with_its_placeholders_filled",
    ("docs/evaluation.md", "python -m improved_gan_tf2.evaluate runs/feature_matching --num_samples=10000"):
        "tests/test_evaluate.py::test_the_evaluation_pages_example_runs_as_written",
    ("docs/experiments.md", "python imagenet/smoke.py --workdir=/tmp/imagenet_smoke"):
        "tests/test_imagenet.py::test_the_experiments_pages_imagenet_smoke_command_runs",
    ("docs/export.md", "python -m improved_gan_tf2.export runs/mnist_sample"):
        "tests/test_export.py::test_the_export_pages_commands_run_as_written",
    ("docs/layers.md", 'h = WeightNormDense(192, activation="leaky_relu")(features)               # NIN on (n, 6, 6, 192)'):
        "tests/test_docs.py::test_the_layers_pages_fragments_run",
    ("docs/layers.md", 'h = WeightNormConv2D(96, 3, padding="half", activation="leaky_relu")(images)'):
        "tests/test_docs.py::test_the_layers_pages_fragments_run",
    ("docs/layers.md", "h = Deconv2D(256, 5, use_bias=False)(h)                                   # 4x4 -> 8x8, then GeneratorBatchNorm"):
        "tests/test_docs.py::test_the_layers_pages_fragments_run",
    ("docs/layers.md", "h = MnistWeightNormDense(1000)(GaussianNoise(0.3)(x))"):
        "tests/test_docs.py::test_the_layers_pages_fragments_run",
    ("docs/layers.md", "h = GaussianNoise(0.5)(h)"): "tests/test_docs.py::test_the_layers_pages_fragments_run",
    ("docs/layers.md", "h = keras.layers.GlobalAveragePooling2D()(h)"):
        "tests/test_docs.py::test_the_layers_pages_fragments_run",
    ("docs/layers.md", "from improved_gan_tf2 import data_dependent_init, store_inference_state"):
        "tests/test_docs.py::test_the_layers_pages_fragments_run",
    ("docs/layers.md", 'model.compile(optimizer=OriginalAdam(0.003), loss="mse")'):
        "tests/test_docs.py::test_the_layers_pages_fragments_run",
    ("docs/layers.md", '"""The paper\'s layers in your own Keras model: an MNIST classifier with weight norm, virtual batch norm and'):
        "tests/test_examples.py::test_the_layers_page_shows_the_example_verbatim",
    ("docs/troubleshooting.md", "python mnist_svhn_cifar/train_mnist_feature_matching.py --dataset=mnist_sample --epochs=3 --out_dir=runs/cut"):
        "tests/test_robustness.py::test_the_troubleshooting_pages_cut_checkpoint_example_runs_as_written",
    ("docs/turing.md", "python -m improved_gan_tf2.evaluate runs/mnist_sample --num_samples=1000"):
        "tests/test_turing_docs.py::test_the_mnist_study_commands_run_as_written",
    ("docs/turing.md", "# a study file for two .npz files of uint8 images (N, H, W, 3), (N, H, W, 1) or (N, H, W) of the same size"):
        "tests/test_turing_docs.py::test_the_generic_study_commands_run_as_written",
}


def key(block):
    return block.page, block.text.splitlines()[0]


def functions_of(path):
    """The names of the functions ``path`` (relative to the root) defines at its top level."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as stream:
        tree = ast.parse(stream.read())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def inventory_problems(blocks, runners):
    """What is wrong with ``runners`` for ``blocks``: a runnable block without a runner, a runner that does not
    exist or whose file does not read the block's page, a runner for a block no page has."""
    problems = []
    for block in blocks:
        if block.language not in docs_pages.RUNNABLE:
            continue
        runner = runners.get(key(block))
        if runner is None:
            problems.append(f"{block.where}: no test runs this {block.language} block (add it to RUNNERS)")
            continue
        path, function = runner.split("::")
        if not os.path.exists(os.path.join(ROOT, path)) or function not in functions_of(path):
            problems.append(f"{block.where}: its runner {runner} does not exist")
        elif os.path.basename(block.page) not in open(os.path.join(ROOT, path), encoding="utf-8").read():
            problems.append(f"{block.where}: its runner's file {path} never names {block.page}")
    shown = {key(block) for block in blocks}
    problems += [f"RUNNERS names a block no page has: {page}: {first!r}" for page, first in runners
                 if (page, first) not in shown]
    return problems


def test_every_block_of_the_pages_is_run_by_a_named_test():
    problems = inventory_problems(docs_pages.blocks(), RUNNERS)
    assert not problems, "\n".join(problems)


def test_the_inventory_fails_on_a_new_block_and_on_a_runner_that_is_gone():
    page = docs_pages.blocks_of_text("docs/new.md", "# New\n```bash\npython -m improved_gan_tf2.report RUN\n```\n"
                                                    "```text\noutput only\n```\n")
    problems = inventory_problems(page, {})
    assert len(problems) == 1 and "docs/new.md:2: no test runs this bash block" in problems[0]
    runner = {("docs/new.md", "python -m improved_gan_tf2.report RUN"): "tests/test_report.py::test_no_such_test"}
    assert "does not exist" in inventory_problems(page, runner)[0]
    runner = {("docs/new.md", "python -m improved_gan_tf2.report RUN"): "tests/test_layers.py::" + sorted(
        functions_of("tests/test_layers.py"))[0]}
    assert "never names docs/new.md" in inventory_problems(page, runner)[0]
    stale = {("docs/new.md", "python -m improved_gan_tf2.report OLD"): "tests/test_docs.py::key"}
    assert any("no page has" in problem for problem in inventory_problems(page, stale))


# ------------------------------------------------------------------------------------------- the README is a map

#: Issue 24: the README holds what a newcomer needs in the first ten minutes, the rest is in docs/.
README_MAX_LINES = 250


def map_problems(text, pages):
    """What keeps the README ``text`` from being a map to ``pages`` (paths such as ``docs/layers.md``)."""
    problems = []
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if lines > README_MAX_LINES:
        problems.append(f"README.md has {lines} lines (at most {README_MAX_LINES}: move details to a page of docs/)")
    linked = set(re.findall(r"\]\(([^)#\s]+)", text))
    problems += [f"README.md links to no {page}" for page in pages if page not in linked]
    return problems


def test_the_readme_is_a_map_of_the_docs():
    pages = [page for page in docs_pages.PAGES if page.startswith("docs" + os.sep)]
    assert len(pages) >= 9 and not map_problems(docs_pages.read("README.md"), pages)


def test_the_map_check_fails_on_a_long_readme_and_an_unlinked_page():
    readme = "# Map\n\nThe layers: [docs/layers.md](docs/layers.md).\n"
    assert map_problems(readme, ["docs/layers.md"]) == []
    assert map_problems(readme + "more\n" * (README_MAX_LINES - 2), ["docs/layers.md"]) == [
        f"README.md has {README_MAX_LINES + 1} lines (at most {README_MAX_LINES}: move details to a page of docs/)"]
    assert map_problems(readme, ["docs/layers.md", "docs/new.md"]) == ["README.md links to no docs/new.md"]


# ------------------------------------------------------------------------------------------- flags

#: Programs whose flags are not this project's (their words are not checked).
OTHER_PROGRAMS = {"pip", "pytest", "venv", "setpriv", "head", "git", "cd", "tensorboard", "apt-get", "sudo", "."}
#: Flags of other programs that pages name outside a command: pytest-xdist's (``-n 2 --dist loadfile``).
OTHER_PROGRAMS_FLAGS = {"dist"}
#: The tools with subcommands: their flags are the subcommand's.
SUBCOMMAND_TOOLS = {"improved_gan_tf2.compare", "improved_gan_tf2.turing"}
#: The command separators of a shell line.
SEPARATORS = {"&&", "||", "|", ";"}


def entry_of(words):
    """``(entry, arguments)`` of a command's words: ``entry`` is a script's path (``mnist_svhn_cifar/x.py``),
    ``-m module`` or ``-m module subcommand``; None for another program's command."""
    words = list(words)
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):  # VAR=value before the command
        words.pop(0)
    if len(words) < 2:
        return None
    if words[0] == "bash" and words[1].endswith(".sh"):
        return words[1], words[2:]
    if words[0] not in ("python", "python3"):
        return None
    if words[1] != "-m":
        return (words[1], words[2:]) if words[1].endswith(".py") else None
    if len(words) < 3 or words[2] in OTHER_PROGRAMS:
        return None
    module, rest = words[2], words[3:]
    if module in SUBCOMMAND_TOOLS and rest and not rest[0].startswith("-"):
        return f"-m {module} {rest[0]}", rest[1:]
    return f"-m {module}", rest


def named_flags(arguments):
    """The flag names among a command's arguments (``[--checkpoint=latest|N]`` names ``checkpoint``)."""
    found = []
    for word in arguments:
        word = word.strip("[]")
        if word.startswith("--") and len(word) > 2:
            found.append(word[2:].split("=")[0].split("]")[0])
    return found


def page_commands(text):
    """``(line, words)`` of every command of a page: each line of its bash blocks and each inline code span
    starting with a program, split at ``&&``, ``|`` and ``;``; and ``(line, None, flags)`` for the flags a span
    names outside a command."""
    found = []
    for block in docs_pages.blocks_of_text("page", text):
        if block.language == "bash":
            for words in docs_pages.commands(block.text):
                found += [(block.line, part) for part in split_commands(words)]
    for line, span in docs_pages.code_spans_of_text(text):
        try:
            words = shlex.split(span)
        except ValueError:
            words = span.split()
        parts = split_commands(words)
        if any(entry_of(part) for part in parts) or (words and words[0] in OTHER_PROGRAMS):
            found += [(line, part) for part in parts]
        else:
            found.append((line, ["--" + flag for flag in re.findall(r"(?<![\w-])--([a-z][a-z0-9_]*)", span)]))
    return found


def split_commands(words):
    parts, current = [], []
    for word in words:
        if word in SEPARATORS:
            parts.append(current)
            current = []
        else:
            current.append(word)
    return [part for part in parts + [current] if part]


def flag_problems(text, known, page="page"):
    """The flags of the Markdown ``text`` that the command they are given to does not have (or, outside a
    command, no entry point has), and the scripts and modules its commands name that do not exist. ``known``:
    ``{entry: set of flag names}``."""
    everything = set().union(*known.values())
    problems = []
    for line, words in page_commands(text):
        entry = entry_of(words)
        if entry is None:
            if words and (words[0] in OTHER_PROGRAMS or words[0] in ("python", "python3", "bash")):
                continue
            wrong = [flag for flag in named_flags(words) if flag not in everything | OTHER_PROGRAMS_FLAGS]
            problems += [f"{page}:{line}: --{flag}: no entry point has this flag" for flag in wrong]
            continue
        command, arguments = entry
        if not exists(command):
            problems.append(f"{page}:{line}: {command}: no such script or module")
            continue
        flags = named_flags(arguments)
        if flags and command not in known:
            problems.append(f"{page}:{line}: {command}: names flags, but this test does not know its flags")
            continue
        problems += [f"{page}:{line}: {command} has no flag --{flag}" for flag in flags
                     if flag not in known.get(command, ())]
    return problems


def exists(command):
    if not command.startswith("-m "):
        return os.path.exists(os.path.join(ROOT, command))
    module = command.split()[1]
    return importlib.util.find_spec(module) is not None


def absl_flags(help_text):
    """The flag names an absl program's ``--helpfull`` lists (a boolean ``--[no]x`` as ``x`` and ``nox``)."""
    names = set()
    for negatable, flag in re.findall(r"^\s+--(\[no\])?(\w+):", help_text, re.M):
        names |= {flag, "no" + flag} if negatable else {flag}
    return names


def argparse_flags(module, parser):
    """``{entry: flag names}`` of an argparse tool and of each of its subcommands."""
    import argparse

    own = {option[2:] for action in parser._actions for option in action.option_strings if option.startswith("--")}
    known = {f"-m {module}": own}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                known[f"-m {module} {sub_name}"] = own | argparse_flags(module, sub)[f"-m {module}"]
    return known


ARGPARSE_TOOLS = {
    "improved_gan_tf2.compare": ("improved_gan_tf2.compare.__main__", "build_parser"),
    "improved_gan_tf2.turing": ("improved_gan_tf2.turing.__main__", "parser"),
    "improved_gan_tf2.data.writers": ("improved_gan_tf2.data.writers", "build_parser"),
    "improved_gan_tf2.data.make_mnist_sample": ("improved_gan_tf2.data.make_mnist_sample", "build_parser"),
}


@pytest.fixture(scope="module")
def known_flags(tmp_path_factory):
    """``{entry: flag names}`` of every entry point and benchmark (absl's from ``--helpfull``, run by the fork
    driver; argparse's from the parsers), and ``{"bash script": {"help"}}`` for the shell scripts."""
    known = {}
    for module, (where, function) in ARGPARSE_TOOLS.items():
        known.update(argparse_flags(module, getattr(importlib.import_module(where), function)()))
    absl = [(kind, target) for kind, target in scripts() if target not in ARGPARSE_TOOLS]
    absl += [("script", path) for path in sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*.py")))
             if "app.run(" in open(path, encoding="utf-8").read()]
    results = run_in_driver([(kind, target, ["--helpfull"]) for kind, target in absl],
                            str(tmp_path_factory.mktemp("helpfull")))
    for (kind, target), (_, stdout, stderr) in zip(absl, results):  # absl's --helpfull exits with 1
        known[name(kind, target)] = absl_flags(stdout + stderr)
        assert "helpfull" in known[name(kind, target)], (name(kind, target), stderr[-1500:])
    for path in glob.glob(os.path.join(ROOT, "mnist_svhn_cifar", "*.sh")):
        known[os.path.relpath(path, ROOT)] = {"help"}
    return known


#: The pages whose flags are checked: the README, docs/ and the READMEs of the folders with programs.
FLAG_PAGES = docs_pages.PAGES + ["imagenet/README.md", "inception_score/README.md", "tests/README.md"]


def test_every_flag_the_pages_name_exists_for_its_command(known_flags):
    assert len(known_flags) > 20 and "jit" in known_flags["benchmarks/mnist_step.py"]
    assert {"seed", "checkpoint"} <= known_flags["-m improved_gan_tf2.evaluate"]
    problems, checked = [], 0
    for page in FLAG_PAGES:
        text = docs_pages.read(page)
        problems += flag_problems(text, known_flags, page)
        checked += sum(len(named_flags(words)) for _, words in page_commands(text))
    assert not problems, "\n".join(problems)
    assert checked > 200  # what the pages name today: the check is not vacuous


def test_the_flag_check_fails_on_a_misspelt_or_misplaced_flag_and_a_missing_script(known_flags):
    good = ("```bash\npython -m improved_gan_tf2.evaluate runs/a --num_samples=10 [--checkpoint=latest|N]\n"
            "python -m improved_gan_tf2.turing serve --study=s.toml --db=v.sqlite\n```\n"
            "Run `python benchmarks/mnist_step.py --nojit` with `--count=10`.\n")
    assert flag_problems(good, known_flags) == []
    planted = {
        "```bash\npython -m improved_gan_tf2.evaluate runs/a --num_sample=10\n```\n":
            "improved_gan_tf2.evaluate has no flag --num_sample",
        "```bash\npython -m improved_gan_tf2.report runs/a --num_samples=10\n```\n":
            "improved_gan_tf2.report has no flag --num_samples",  # evaluate's flag, given to report
        "```bash\npython -m improved_gan_tf2.turing report --study=s.toml\n```\n":
            "improved_gan_tf2.turing report has no flag --study",  # serve's flag, given to report
        "A flag in prose: `--seed_dta=1`.\n": "--seed_dta: no entry point has this flag",
        "`python mnist_svhn_cifar/train_mnist.py --epochs=1`\n": "train_mnist.py: no such script",
        "```bash\npython3 -m venv .venv && python benchmarks/mnist_step.py --no_jit\n```\n":
            "mnist_step.py has no flag --no_jit",
    }
    for text, expected in planted.items():
        problems = flag_problems(text, known_flags)
        assert len(problems) == 1 and expected in problems[0], (text, problems)


# ------------------------------------------------------------------------------------------- docs/layers.md

#: What each fragment of docs/layers.md (its paragraphs: blank-line separated) is given -- the inputs its names
#: stand for, of the shapes its text names -- and the shapes it must give (from its comments), keyed by its first
#: line. ``n`` is 4 throughout.
FRAGMENTS = {
    'h = WeightNormDense(192, activation="leaky_relu")(features)':
        ("features = keras.random.normal((4, 6, 6, 192)); pooled = keras.random.normal((4, 192))",
         {"h": (4, 6, 6, 192), "logits": (4, 10)}),
    'h = WeightNormConv2D(96, 3, padding="half", activation="leaky_relu")(images)':
        ("images = keras.random.normal((4, 32, 32, 3))", {"h": (4, 16, 16, 96)}),
    "h = Deconv2D(256, 5, use_bias=False)(h)":
        ("h = keras.random.normal((4, 4, 4, 512))", {"h": (4, 8, 8, 256), "images": (4, 16, 16, 3)}),
    "h = MnistWeightNormDense(1000)(GaussianNoise(0.3)(x))":
        ("x = keras.random.uniform((4, 784))", {"h": (4, 1000), "pixels": (4, 784)}),
    "h = GaussianNoise(0.5)(h)": ("h = keras.random.normal((4, 250))", {"h": (4, 250)}),
    "h = keras.layers.GlobalAveragePooling2D()(h)":
        ("h = keras.random.normal((4, 6, 6, 192))", {"h": (4, 192 + 100)}),
    "vbn = VirtualBatchNorm(reference_size=64)":
        ("reference_activations = keras.random.normal((64, 8, 8, 32)); "
         "live_activations = keras.random.normal((4, 8, 8, 32))", {"out": (68, 8, 8, 32)}),
    'h = keras.layers.Dense(500, use_bias=False)(z)': ("z = keras.random.uniform((4, 100))", {"h": (4, 500)}),
    "h = keras.layers.LeakyReLU(0.2)(BatchNormCross()(conv(joint_images)))":
        ("conv = keras.layers.Conv2D(64, 3, padding='same'); joint_images = keras.random.normal((8, 8, 8, 3))",
         {"h": (8, 8 * 8 * 64 + 600)}),  # (2n, A + 600): A the flattened input
    "z_and_reference = PrependReferenceBatch(100)(z)":
        ("z = keras.random.uniform((4, 100))", {"z_and_reference": (104, 100)}),
    "from improved_gan_tf2 import data_dependent_init, store_inference_state":
        ("model = keras.Sequential([keras.Input((784,)), GaussianNoise(0.3), WeightNormDense(50, activation='relu'), "
         "MinibatchDiscrimination(10, reference_size=9, inference='stored'), WeightNormDense(10)]); "
         "x_batch = keras.random.uniform((100, 784), seed=0); x_ref = keras.random.uniform((10, 784), seed=1)",
         {}),
    'model.compile(optimizer=OriginalAdam(0.003), loss="mse")':
        ("model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])", {}),
}


def fragments():
    """``(where, first line, text)`` of each paragraph of each Python block of docs/layers.md but the last (the
    whole example, which tests/test_examples.py runs)."""
    found = []
    for block in docs_pages.blocks("docs/layers.md", "python")[:-1]:
        for paragraph in block.text.split("\n\n"):
            if paragraph.strip():
                found.append((block.where, paragraph.strip().splitlines()[0].split("  #")[0].strip(), paragraph))
    return found


def run_fragment(given, text):
    """The names the fragment ``text`` defines, run after ``given`` with the package's exports, keras and tf."""
    import keras
    import tensorflow as tf

    import improved_gan_tf2

    namespace = {name: getattr(improved_gan_tf2, name) for name in improved_gan_tf2.__all__}
    namespace.update(keras=keras, tf=tf, OriginalAdam=improved_gan_tf2.OriginalAdam)
    exec(given, namespace)
    exec(text, namespace)
    return namespace


def test_the_layers_pages_fragments_run():
    found = fragments()
    assert {first for _, first, _ in found} == set(FRAGMENTS), "a fragment of docs/layers.md has no inputs here"
    for where, first, text in found:
        given, shapes = FRAGMENTS[first]
        namespace = run_fragment(given, text)
        for variable, shape in shapes.items():
            assert tuple(namespace[variable].shape) == shape, (where, first, variable)
        if first.startswith("from improved_gan_tf2 import data_dependent_init"):
            # after the reference pass the "stored" minibatch layer computes one example on its own
            assert tuple(namespace["model"](namespace["x_ref"][:1], training=False).shape) == (1, 10)


def test_a_fragment_that_is_wrong_fails():
    given, _ = FRAGMENTS["h = GaussianNoise(0.5)(h)"]
    with pytest.raises(TypeError):
        run_fragment(given, "h = GaussianNoise(0.5, 0.1, 3)(h)")  # an argument the layer does not take
    given, shapes = FRAGMENTS["h = keras.layers.GlobalAveragePooling2D()(h)"]
    namespace = run_fragment(given, "h = keras.layers.GlobalAveragePooling2D()(h)\nh = MinibatchDiscrimination(50)(h)")
    assert tuple(namespace["h"].shape) != shapes["h"]  # the shape check would catch a changed comment's layer
