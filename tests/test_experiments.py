"""The experiment records: what each one builds, as the original script (or, where there is none, the paper)
describes it."""
import keras
import pytest

from helpers import build
from improved_gan_tf2 import experiments, layers


def test_mnist_minibatch_discrimination_model():
    """No original script: the MNIST networks with MinibatchDiscrimination(100, 5) on the last hidden layer's
    noise-free output, before the logits, and the CIFAR/SVHN minibatch scripts' generator loss, three generator
    updates and learning rate."""
    keras.utils.set_random_seed(0)
    gan = build("train_mnist_minibatch_discrimination")
    names = [layer.name for layer in gan.discriminator.layers]
    assert names[-3:] == ["dense_5", "minibatch", "logits"]
    assert experiments.get_experiment("train_mnist_minibatch_discrimination").default("learning_rate") == 0.0003
    minibatch = gan.discriminator.get_layer("minibatch")
    assert isinstance(minibatch, layers.MinibatchDiscrimination)
    assert (minibatch.num_kernels, minibatch.dim_per_kernel) == (100, 5)
    assert gan.discriminator.get_layer("logits").kernel.shape == (250 + 100, 10)
    assert gan.generator_loss == "minibatch" and gan.generator_steps == 3 and not gan.joint_discriminator_pass
    plain = build("train_mnist_feature_matching")
    assert [w.shape for w in plain.generator.weights] == [w.shape for w in gan.generator.weights]
    assert not any(isinstance(layer, layers.MinibatchDiscrimination) for layer in plain.discriminator.layers)
    assert plain.generator_loss == "feature_matching" and plain.generator_steps == 1


def test_the_flags_a_resumed_run_may_change_are_flags_and_the_docs_list_them():
    import os
    import re

    from improved_gan_tf2 import report, training

    from helpers import ROOT

    names = {spec.name for e in experiments.EXPERIMENTS.values() for spec in e.flags}
    assert training.RESUMABLE_FLAG_CHANGES <= names, training.RESUMABLE_FLAG_CHANGES - names
    assert report.NOT_COMPARED <= names, report.NOT_COMPARED - names
    page = " ".join(open(os.path.join(ROOT, "docs", "troubleshooting.md"), encoding="utf-8").read().split())
    listed = re.search(r"Only (.*?) may change", page).group(1)
    assert set(re.findall(r"`--(\w+)`", listed)) == training.RESUMABLE_FLAG_CHANGES


@pytest.mark.parametrize("script, hint", [
    ("train_cifar_feature_matching", "python -m improved_gan_tf2.data.writers --synthetic=cifar10"),
    ("train_svhn_minibatch_discrimination", "python -m improved_gan_tf2.data.writers --synthetic=svhn"),
    ("train_mnist_minibatch_discrimination", "--dataset=mnist_sample"),
])
def test_a_missing_data_dir_is_named_with_the_fix(tmp_path, script, hint):
    from improved_gan_tf2 import cli
    from improved_gan_tf2.experiments import runner

    experiment = experiments.get_experiment(script)
    for path, problem in ((tmp_path / "nowhere", "does not exist"), (tmp_path / "file", "is a file")):
        if problem == "is a file":
            path.write_text("")
        flags = dict(experiment.default_flags(), data_dir=str(path))
        with pytest.raises(cli.InputError) as error:
            runner.prepare_data(experiment, flags)
        message = str(error.value)
        assert "\n" not in message and f"--data_dir={path} {problem}" in message and hint in message, message


def test_the_readmes_registry_example_runs(tmp_path):
    """README.md's example of the registry, as written, on a small synthetic CIFAR-10 in ``data`` with fewer
    epochs and widths: it builds the compiled model and runs what the script runs with those flags."""
    import json
    import os
    import subprocess
    import sys

    import docs_pages
    from helpers import ENV
    from improved_gan_tf2.data.writers import write_synthetic

    example = docs_pages.block("README.md", "Layout", "python").text
    shown = 'data_dir="data", virtual_batch_norm=True)'
    assert example.count(shown) == 1 and "experiments.run(experiment, flags)" in example
    smaller = shown[:-1] + ', epochs=1, width_scale=0.0625, batch_size=10, count=2, out_dir="runs/readme")'
    write_synthetic("cifar10", tmp_path / "data", n_train=100, n_test=20, seed=3)
    script = tmp_path / "example.py"
    script.write_text(example.replace(shown, smaller) + "print(type(gan).__name__, gan.discriminator.count_params())\n")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=ENV,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "\nIteration 0, time = " in result.stdout  # the script's line for its one epoch
    assert result.stdout.strip().splitlines()[-1].startswith("SemiSupervisedGAN ")
    recorded = json.load(open(tmp_path / "runs" / "readme" / "flags.json"))
    assert recorded["experiment"] == "train_cifar_minibatch_discrimination"
    assert recorded["virtual_batch_norm"] is True and recorded["data_dir"] == "data"
    assert os.path.exists(tmp_path / "runs" / "readme" / "history.csv")
