"""Every docstring example of the library runs as a test (``doctest``, collected per docstring): the examples
of the layers, the init and reference passes, the optimizers, the networks and the models.

Not collected: ``improved_gan_tf2.experiments`` (its example is a full training run, which
``tests/test_mnist_scripts.py`` runs as the script) and the ``turing`` tool (no examples)."""
import doctest
import importlib
import pkgutil

import keras
import pytest

import improved_gan_tf2

SKIPPED_PACKAGES = ("improved_gan_tf2.experiments", "improved_gan_tf2.turing",
                    # drop-ins that run in the original's environment (Theano), copied beside its scripts
                    "improved_gan_tf2.compare.dropins.cudnn_standins", "improved_gan_tf2.compare.dropins.py3_compat")


def _modules():
    names = ["improved_gan_tf2"]
    for info in pkgutil.walk_packages(improved_gan_tf2.__path__, "improved_gan_tf2."):
        if not info.name.startswith(SKIPPED_PACKAGES):
            names.append(info.name)
    return names


def _examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module):
            if test.examples:
                found.append(test)
    return sorted(found, key=lambda test: test.name)


EXAMPLES = _examples()


def test_the_layers_are_documented_with_examples():
    """Every public layer documents Args, Input shape, Output shape, what it does at inference, and an example."""
    from improved_gan_tf2 import layers

    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, keras.layers.Layer):
            doc = obj.__doc__ or ""
            for heading in ("Args:", "Input shape:", "Output shape:", ">>> "):
                assert heading in doc, (name, heading)
            assert "Inference" in doc, name
            assert f"{obj.__module__}.{name}" in {test.name for test in EXAMPLES}, name


@pytest.mark.parametrize("test", EXAMPLES, ids=[test.name for test in EXAMPLES])
def test_docstring_example(test):
    keras.utils.set_random_seed(0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    test.globs = dict(test.globs)  # each example in a copy of its module's namespace
    report = []
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)
