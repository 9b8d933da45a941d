"""Exporting a trained run (``python -m improved_gan_tf2.export``): the exported classifier's test error, loaded in a
new process that cannot import this package, is ``evaluate``'s averaged one exactly, its predictions do not depend on
the batch, and the exported generator draws ``evaluate``'s samples for a seed; for a one-epoch MNIST run on the
shipped sample, a one-epoch CIFAR-shaped run on synthetic data at 1/16 of the widths and a tiny ImageNet model;
every semi-supervised experiment's classifier (minibatch discrimination in its stored-inference mode) on an
initialized model. Bad input stops in one line."""
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from improved_gan_tf2 import evaluate, export

from helpers import ENV, ROOT, SCRIPTS, run_script

#: Run in a new process: loads the SavedModels with TensorFlow alone (importing improved_gan_tf2 raises), and prints
#: as JSON the classifier's test predictions in batches and one image at a time, and the generator's samples.
NO_PACKAGE = textwrap.dedent("""
    import importlib.abc, sys

    class NoPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "improved_gan_tf2":
                raise ImportError("the SavedModels must load without improved_gan_tf2")

    sys.meta_path.insert(0, NoPackage())
""")
STANDALONE = NO_PACKAGE + textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf

    export, data, out = sys.argv[1:4]
    arrays = np.load(data)
    result = {}
    try:
        classifier = tf.saved_model.load(export + "/classifier")
    except OSError:  # no classifier (ImageNet)
        classifier = None
    if classifier is not None:
        x, y, batch = arrays["x_test"], arrays["y_test"], int(arrays["batch_size"])
        full = len(x) // batch * batch  # evaluate's full test batches (MNIST, CIFAR-10)
        batched = np.concatenate([classifier.serve(x[i:i + batch])["class_probabilities"].numpy()
                                  for i in range(0, full, batch)])
        single = np.concatenate([classifier.serve(x[i:i + 1])["class_probabilities"].numpy()
                                 for i in range(arrays["singles"])])
        wrong = int(np.sum(batched.argmax(1) != y[:full]))
        result.update(wrong=wrong, examples=full, test_err=float(np.float32(wrong) / np.float32(full)),
                      single_predictions=single.argmax(1).tolist(),
                      batch_predictions=batched[:len(single)].argmax(1).tolist(),
                      largest_difference=float(np.abs(single - batched[:len(single)]).max()),
                      conventions=json.loads(classifier.conventions()["json"].numpy()),
                      signature=sorted(classifier.signatures))
    generator = tf.saved_model.load(export + "/generator")
    samples = generator.sample(count=tf.constant(int(arrays["count"])), seed=tf.constant(int(arrays["seed"]),
                                                                                              tf.int64))["images"]
    np.save(out, samples.numpy())
    result["package_imported"] = any(m.split(".")[0] == "improved_gan_tf2" for m in sys.modules)
    print(json.dumps(result))
""")


def _train(script, out_dir, *args):
    result = run_script(os.path.join(SCRIPTS, script), f"--out_dir={out_dir}", "--epochs=1", *args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return str(out_dir)


def _export(*args):
    return subprocess.run([sys.executable, "-m", "improved_gan_tf2.export", *args], capture_output=True, text=True,
                          env=ENV, timeout=600)


def _standalone(export_dir, tmp, x_test, y_test, batch_size, singles=0, count=1, seed=0):
    """What a process without improved_gan_tf2 gets from the SavedModels of ``export_dir``: a dict, and samples."""
    data, out, script = tmp / "data.npz", tmp / "samples.npy", tmp / "standalone.py"
    np.savez(data, x_test=x_test, y_test=y_test, batch_size=batch_size, singles=singles, count=count, seed=seed)
    script.write_text(STANDALONE)
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, str(script), str(export_dir), str(data), str(out)], capture_output=True,
                            text=True, env=env, cwd=tmp, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), np.load(out)


def _exported(run_dir, tmp, count, seed, singles=100, checkpoint="1"):
    """Export ``run_dir`` (the command line), evaluate it, and load the export in a process without the package."""
    out = tmp / "export"
    result = _export(run_dir, f"--checkpoint={checkpoint}", f"--out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.load(open(out / "manifest.json"))
    measured = evaluate.evaluate(run_dir, checkpoint=checkpoint, num_samples=count, seed=seed, progress=False)
    with np.load(measured["samples"]) as stored:
        samples = stored["samples"]
    run = evaluate.load_run(run_dir, checkpoint)
    data = run.experiment.load_data(run.flags)
    standalone, drawn = _standalone(out, tmp, data["x_test"], data["y_test"], run.flags["batch_size"], singles,
                                    count, seed)
    return dict(out=out, manifest=manifest, evaluate=measured, samples=samples, run=run, data=data,
                standalone=standalone, drawn=drawn)


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    """A one-epoch MNIST run on the shipped sample, exported, evaluated and loaded without the package."""
    tmp = tmp_path_factory.mktemp("export_mnist")
    run_dir = _train("train_mnist_feature_matching.py", tmp / "run", "--dataset=mnist_sample")
    return _exported(run_dir, tmp, count=150, seed=3)


@pytest.fixture(scope="module")
def cifar_data(tmp_path_factory):
    from improved_gan_tf2.data.writers import write_synthetic

    data = tmp_path_factory.mktemp("export_cifar_data")
    write_synthetic("cifar10", data, n_train=100, n_test=25, seed=3)  # 5 batch files of 20, 25 test images
    return data


CIFAR_ARGS = ("--batch_size=10", "--count=2", "--width_scale=0.0625")


@pytest.fixture(scope="module")
def cifar(tmp_path_factory, cifar_data):
    """A one-epoch CIFAR-shaped feature-matching run on synthetic data, exported, evaluated and loaded."""
    tmp = tmp_path_factory.mktemp("export_cifar")
    run_dir = _train("train_cifar_feature_matching.py", tmp / "run", f"--data_dir={cifar_data}", *CIFAR_ARGS)
    return _exported(run_dir, tmp, count=25, seed=7, singles=20)


# ---------------------------------------------------------------------- what the issue asks, MNIST and CIFAR-shaped


@pytest.mark.parametrize("name", ["mnist", pytest.param("cifar", marks=pytest.mark.slow)])  # cifar: 20 s
def test_the_saved_model_classifier_has_evaluates_test_error_exactly(name, request):
    exported = request.getfixturevalue(name)
    measured, standalone = exported["evaluate"], exported["standalone"]
    assert not standalone["package_imported"]
    assert (standalone["wrong"], standalone["examples"]) == (measured["test_errors"], measured["test_examples"])
    assert standalone["test_err"] == measured["test_err"]  # both float32 of wrong / examples
    # and the manifest holds it, for the checkpoint exported
    manifest = exported["manifest"]
    assert manifest["evaluate"]["test_err"] == measured["test_err"] == manifest["classifier"]["test_err"]
    assert manifest["checkpoint_number"] == measured["checkpoint_number"] == 1
    assert manifest["checkpoint"] == measured["checkpoint"]


@pytest.mark.parametrize("name", ["mnist", "cifar"])
def test_one_image_at_a_time_is_predicted_as_in_a_batch(name, request):
    standalone = request.getfixturevalue(name)["standalone"]
    assert len(standalone["single_predictions"]) >= 20
    assert standalone["single_predictions"] == standalone["batch_predictions"]
    assert standalone["largest_difference"] < 1e-5  # the probabilities differ at most in their rounding


@pytest.mark.parametrize("name", ["mnist", "cifar"])
def test_the_saved_model_generator_draws_evaluates_samples(name, request):
    exported = request.getfixturevalue(name)
    assert exported["drawn"].dtype == np.uint8 and exported["drawn"].shape == exported["samples"].shape
    np.testing.assert_array_equal(exported["drawn"], exported["samples"])


@pytest.mark.parametrize("name", ["mnist", "cifar"])
def test_the_keras_files_load_after_importing_the_package_and_agree(name, request):
    import keras

    exported = request.getfixturevalue(name)
    out, run, data = exported["out"], exported["run"], exported["data"]
    classifier = keras.models.load_model(out / "classifier.keras")
    generator = keras.models.load_model(out / "generator.keras")
    batch = run.flags["batch_size"]
    full = len(data["x_test"]) // batch * batch
    wrong = sum(int(np.sum(np.argmax(classifier(data["x_test"][i:i + batch])["class_probabilities"], 1)
                           != data["y_test"][i:i + batch])) for i in range(0, full, batch))
    assert wrong == exported["evaluate"]["test_errors"]
    np.testing.assert_array_equal(generator.sample(len(exported["samples"]), exported["evaluate"]["seed"]),
                                  exported["samples"])
    assert classifier.conventions["input"] == exported["manifest"]["classifier"]["input"]
    # noise in, images out: one batch of the run's size from evaluate's first seed is its first batch of samples,
    # computed eagerly here (a graph rounds differently: a pixel at a rounding boundary may differ by one level)
    z = generator.batch_noise(exported["evaluate"]["seed"])
    difference = np.abs(np.asarray(generator(z), np.int16) - exported["samples"][:batch])
    assert difference.max() <= 1 and np.mean(difference > 0) < 1e-3


def test_the_manifest_says_what_was_exported(mnist):
    manifest = mnist["manifest"]
    assert manifest["experiment"] == "train_mnist_feature_matching"
    assert manifest["flags"]["dataset"] == "mnist_sample" and manifest["flags"]["epochs"] == 1
    assert manifest["classifier"]["input"]["shape"] == [None, 784]
    assert manifest["classifier"]["input"]["range"] == [0.0, 1.0]
    assert set(manifest["classifier"]["outputs"]) == {"class_probabilities", "generated_probability"}
    assert "stored_inference" not in manifest["classifier"]  # no layer of the MNIST discriminator mixes examples
    assert manifest["generator"]["inputs"] == {"z": {"shape": [None, 100], "dtype": "float32",
                                                     "distribution": "uniform [0, 1)"}}
    assert manifest["generator"]["output"]["shape"] == [None, 28, 28, 1]
    assert manifest["classifier"]["files"] == {"keras": "classifier.keras", "saved_model": "classifier"}
    assert {"tensorflow", "keras", "numpy", "python", "cpu"} <= set(manifest["versions"])
    assert mnist["standalone"]["conventions"] == {k: v for k, v in manifest["classifier"].items()
                                                  if k not in ("files", "test_err", "test_errors", "test_examples")}
    assert mnist["standalone"]["signature"] == ["conventions", "serve", "serving_default"]
    assert sorted(os.listdir(mnist["out"])) == ["classifier", "classifier.keras", "generator", "generator.keras",
                                                "manifest.json"]


def test_the_generated_class_probability_is_the_k_plus_first(mnist):
    import keras

    classifier = keras.models.load_model(mnist["out"] / "classifier.keras")
    x = mnist["data"]["x_test"][:50]
    logits = np.asarray(classifier.discriminator(x, training=False)[0], np.float64)
    expected = np.exp(np.concatenate([logits, np.zeros((50, 1))], axis=1))
    expected /= expected.sum(axis=1, keepdims=True)  # K+1 classes, the last with logit 0
    out = classifier(x)
    np.testing.assert_allclose(out["generated_probability"], expected[:, -1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["class_probabilities"], expected[:, :-1] / expected[:, :-1].sum(1, keepdims=True),
                               rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------- the comparisons above can fail


def test_a_classifier_with_the_raw_parameters_would_be_caught(mnist):
    """The test error the comparison checks tells the averaged from the raw parameters (planted: no average)."""
    from improved_gan_tf2.models.exported import ExportedClassifier

    run, data = mnist["run"], mnist["data"]
    measured = mnist["evaluate"]
    assert measured["test_errors"] != round(measured["test_err_raw"] * measured["test_examples"])
    raw = ExportedClassifier(run.model.discriminator)
    error, wrong, count = export.classifier_test_error(lambda x: raw(x)["class_probabilities"], data["x_test"],
                                                       data["y_test"], run.flags["batch_size"], "drop")
    assert count == measured["test_examples"] and error == pytest.approx(measured["test_err_raw"], abs=1e-7)
    assert wrong != measured["test_errors"]


def test_other_seeds_or_batches_would_be_caught(mnist):
    import keras

    generator = keras.models.load_model(mnist["out"] / "generator.keras")
    count, seed = len(mnist["samples"]), mnist["evaluate"]["seed"]
    assert not np.array_equal(generator.sample(count, seed + 1), mnist["samples"])
    other = keras.models.load_model(mnist["out"] / "generator.keras")
    other.batch_size = 50  # the batch norm's statistics come from the batch: other batches, other images
    assert not np.array_equal(other.sample(count, seed), mnist["samples"])


def test_classifier_test_error_counts_weighted_mistakes():
    x = np.arange(10, dtype=np.float32)[:, None]
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])

    def always_zero(images):
        return np.tile([1.0, 0.0], (len(images), 1))

    assert export.classifier_test_error(always_zero, x, y, 4, "drop") == (pytest.approx(0.5), 4, 8)
    # SVHN feature matching: overlapping windows, every example once -> 5 of 10
    assert export.classifier_test_error(always_zero, x, y, 4, "overlap_predictions")[1:] == (5, 10)


# ---------------------------------------------------------------------- every experiment, minibatch discrimination


SEMI_SUPERVISED = ["train_mnist_feature_matching", "train_mnist_fm_custom_labels",
                   "train_mnist_minibatch_discrimination", "train_cifar_feature_matching",
                   "train_cifar_minibatch_discrimination", "train_svhn_feature_matching",
                   "train_svhn_minibatch_discrimination"]


@pytest.mark.parametrize("name", SEMI_SUPERVISED)
def test_every_semi_supervised_experiment_exports_a_batch_independent_classifier(name, tmp_path):
    """Each script's model (initialized, averaged parameters set apart from the raw ones): the classifier has the
    averaged parameters and predicts one image as in a batch, minibatch discrimination (and only it) is exported in
    its stored-inference mode with its state stored, and the .keras files give what the models gave."""
    import keras

    from helpers import build
    from improved_gan_tf2 import experiments
    from improved_gan_tf2.models.exported import ExportedClassifier

    keras.utils.set_random_seed(0)
    mnist = name.startswith("train_mnist")
    flags = dict(batch_size=8) if mnist else dict(batch_size=8, width_scale=0.0625)
    gan = build(name, **flags)
    experiment = experiments.get_experiment(name)
    rng = np.random.RandomState(0)
    x = rng.rand(24, 784).astype(np.float32) if mnist else rng.uniform(-1, 1, (24, 32, 32, 3)).astype(np.float32)
    gan.initialize(x, 8)
    for average, value in zip(gan.parameter_average.averages, gan.discriminator.trainable_variables):
        average.assign(np.asarray(value) * rng.uniform(0.5, 1.5, value.shape).astype(np.float32))  # not the raw
    run = evaluate.Run(str(tmp_path), experiment, dict(experiment.default_flags(), **flags), gan, None, 0)
    classifier, generator = export.build_classifier(run, x), export.build_generator(run)
    stored = classifier.conventions.get("stored_inference", {}).get("layers", [])
    assert stored == (["minibatch"] if "minibatch" in name else [])
    for layer in stored:
        layer = classifier.discriminator.get_layer(layer)
        assert layer.inference == "stored" and float(layer.inference_state_stored.numpy()) == 1.0
        assert layer.reference_size == 7 == classifier.conventions["stored_inference"]["reference_rows"]
    batched = classifier(x[:6])["class_probabilities"].numpy()
    raw = ExportedClassifier(gan.discriminator)(x[:6])["class_probabilities"].numpy()
    assert np.isfinite(batched).all() and np.abs(batched - raw).max() > 1e-3  # not the raw parameters
    single = np.concatenate([classifier(x[i:i + 1])["class_probabilities"].numpy() for i in range(6)])
    np.testing.assert_allclose(single, batched, rtol=1e-5, atol=1e-6)  # matrix products of other sizes round
    np.testing.assert_array_equal(single.argmax(1), batched.argmax(1))  # differently; the classes are the same
    if not stored:  # the averaged parameters, nothing mixed: the model's own averaged classifier
        np.testing.assert_allclose(batched, keras.ops.softmax(gan(x[:6])).numpy(), atol=1e-6)
    assert isinstance(classifier, ExportedClassifier) and generator.batch_size == 8
    for model, file in ((classifier, "classifier.keras"), (generator, "generator.keras")):
        export.save_keras(model, str(tmp_path / file))
    loaded = keras.models.load_model(tmp_path / "classifier.keras")
    np.testing.assert_array_equal(loaded(x[:6])["class_probabilities"].numpy(), batched)
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "generator.keras").sample(10, 2),
                                  generator.sample(10, 2))


# ---------------------------------------------------------------------- ImageNet: the generator only


def _imagenet_run(directory):
    """A tiny, untrained ImageNet run directory: flags.json and checkpoint DCGAN.model-0."""
    from improved_gan_tf2 import experiments, training

    experiment = experiments.get_experiment("train_imagenet")
    flags = dict(experiment.default_flags(), batch_size=3, z_dim=8, gf_dim=4, df_dim=2, image_width=32,
                 num_classes=5, minibatch_kernels=4, minibatch_kernel_dim=3, checkpoint_dir=str(directory),
                 dataset="none.tfrecords")
    gan = experiments.build_model(experiment, flags)
    manager, _ = training.open_imagenet_checkpoints(gan, str(directory), print_fn=lambda *_: None)
    training.save_checkpoint(manager, gan)
    training.write_json_atomic(os.path.join(directory, "flags.json"), experiments.run_flags(experiment, flags))
    return str(directory)


def test_an_imagenet_run_exports_its_generator_only(tmp_path):
    import tensorflow as tf

    run_dir = _imagenet_run(tmp_path / "run")
    manifest = export.export(run_dir, out=str(tmp_path / "export"))
    assert manifest["classifier"] is None and "no classifier for an ImageNet run" in manifest["classifier_note"]
    assert sorted(os.listdir(tmp_path / "export")) == ["generator", "generator.keras", "manifest.json"]
    assert list(manifest["generator"]["inputs"]) == ["z", "h0z", "h1z", "h2z", "h3z", "h4z", "h5z"]
    expected = evaluate.draw_samples(evaluate.load_run(run_dir), 7, seed=4, progress=False)
    loaded = tf.saved_model.load(str(tmp_path / "export" / "generator"))
    drawn = loaded.sample(count=tf.constant(7), seed=tf.constant(4, tf.int64))["images"].numpy()
    assert drawn.shape == (7, 32, 32, 3)
    np.testing.assert_array_equal(drawn, expected)


# ---------------------------------------------------------------------- the shared noise


def test_seeded_noise_is_kerass_draw_for_an_int_seed():
    import keras
    import tensorflow as tf

    from improved_gan_tf2.models.semi_supervised import seeded_noise

    graph = tf.function(lambda seed: seeded_noise(5, 7, seed))
    for seed in (0, 3, 2 ** 31 - 2, 2 ** 33 + 1, -5):
        expected = keras.random.uniform((5, 7), seed=seed).numpy()
        np.testing.assert_array_equal(seeded_noise(5, 7, seed), expected)
        np.testing.assert_array_equal(graph(tf.constant(seed, tf.int64)), expected)
    assert not np.array_equal(seeded_noise(5, 7, 1), keras.random.uniform((5, 7), seed=2).numpy())


def test_the_standalone_processes_cannot_import_the_package(tmp_path):
    script = tmp_path / "imports.py"
    script.write_text(NO_PACKAGE + "import improved_gan_tf2\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode != 0 and "must load without improved_gan_tf2" in result.stderr


# ---------------------------------------------------------------------- bad input


def _snapshot(directory):
    return {os.path.join(folder, name): os.path.getmtime(os.path.join(folder, name))
            for folder, _, names in os.walk(directory) for name in names}


def test_bad_input_stops_in_one_line_and_writes_nothing(mnist, tmp_path):
    from improved_gan_tf2 import cli

    run_dir = mnist["run"].path
    empty_run = tmp_path / "empty_run"
    empty_run.mkdir()
    (empty_run / "flags.json").write_text(json.dumps({"experiment": "train_mnist_feature_matching"}))
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    cases = {  # name: (run directories, export.command's options, the message)
        "not a run": ([str(tmp_path)], {}, "has no flags.json"),
        "no checkpoint": ([str(empty_run)], {}, "holds no checkpoint"),
        "no such checkpoint": ([run_dir], dict(checkpoint="7"), "has checkpoints 1"),
        "an export there": ([run_dir], dict(out=str(mnist["out"])), "already holds an export; pass --overwrite"),
        "other files there": ([run_dir], dict(out=str(other), overwrite=True), "holds files that are not an export"),
        "unknown format": ([run_dir], dict(out=str(tmp_path / "new"), formats="keras,onnx"), "unknown: onnx"),
        "two runs": ([run_dir, run_dir], {}, "give one run directory"),
        "unwritable": ([run_dir], dict(out="/nonexistent/export"), "/nonexistent is not a writable directory"),
    }
    before = {name: _snapshot(path) for name, path in (("run", run_dir), ("tmp", tmp_path))}
    for name, (run_dirs, options, message) in cases.items():
        with pytest.raises(cli.InputError, match=re.escape(message)):
            export.command(run_dirs, **options)
    # on the command line: one line, exit status 2 (two of the cases, checked before and after the run is read)
    flags = {"checkpoint": "--checkpoint", "out": "--out", "formats": "--format"}
    processes = {name: subprocess.Popen(
        [sys.executable, "-m", "improved_gan_tf2.export", *cases[name][0],
         *(f"{flags[k]}={v}" for k, v in cases[name][1].items())],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV) for name in ("not a run", "unknown format")}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=300)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert process.returncode == 2, (name, stderr[-2000:])
        assert len(lines) == 1 and lines[0].startswith("error: ") and cases[name][2] in lines[0], (name, stderr)
    assert _snapshot(run_dir) == before["run"] and _snapshot(tmp_path) == before["tmp"]


def test_help_exits_0():
    result = _export("--help")
    assert result.returncode == 0 and "--overwrite" in result.stdout + result.stderr


def test_overwrite_replaces_an_export_whole(mnist, tmp_path):
    out = tmp_path / "export"
    first = export.export(mnist["run"].path, out=str(out), formats="keras")
    assert sorted(os.listdir(out)) == ["classifier.keras", "generator.keras", "manifest.json"]
    result = _export(mnist["run"].path, f"--out={out}", "--format=saved_model", "--overwrite")  # docs/export.md
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(out)) == ["classifier", "generator", "manifest.json"]
    second = json.load(open(out / "manifest.json"))
    assert second["created"] >= first["created"] and os.listdir(tmp_path) == ["export"]  # no temporary left


def test_an_interrupted_export_leaves_the_previous_one_whole(mnist, tmp_path, monkeypatch):
    out = tmp_path / "export"
    export.export(mnist["run"].path, out=str(out), formats="keras")
    before = _snapshot(out)

    def fail(model, path):
        open(path, "w").write("half")
        raise KeyboardInterrupt

    monkeypatch.setitem(export.WRITERS, "saved_model", fail)
    with pytest.raises(KeyboardInterrupt):
        export.export(mnist["run"].path, out=str(out), overwrite=True)
    assert _snapshot(out) == before and os.listdir(tmp_path) == ["export"]


# ---------------------------------------------------------------------- the README's examples


def _readme_section():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme[readme.index("## Using a trained model elsewhere"):]
    return section[:section.index("\n## ", 1)]


def test_the_readme_examples_run_as_written(mnist, tmp_path):
    section = _readme_section()
    commands = re.findall(r"```bash\n(.*?)```", section, re.S)
    examples = re.findall(r"```python\n(.*?)```", section, re.S)
    assert commands == ["python -m improved_gan_tf2.export runs/mnist_sample\n"]
    assert len(examples) == 4 and all(len(example.strip().splitlines()) == 5 for example in examples)
    # a checkout's root, holding the main job's run (this one-epoch run) as runs/mnist_sample
    work = tmp_path / "checkout"
    (work / "runs").mkdir(parents=True)
    os.symlink(mnist["run"].path, work / "runs" / "mnist_sample")
    os.symlink(os.path.join(ROOT, "improved_gan_tf2"), work / "improved_gan_tf2")
    result = subprocess.run([sys.executable, *shlex.split(commands[0])[1:]], cwd=work, capture_output=True,
                            text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = []
    for index, example in enumerate(examples):
        saved_model = "tf.saved_model.load" in example
        assert saved_model == ("import improved_gan_tf2" not in example)
        script = tmp_path / f"example_{index}.py"
        script.write_text((NO_PACKAGE if saved_model else "") + example)
        env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"} if saved_model else ENV
        result = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True, env=env,
                                timeout=600)
        assert result.returncode == 0, (example, result.stderr[-3000:])
        outputs.append(result.stdout.strip())
    keras_classifier, keras_generator, saved_classifier, saved_generator = outputs
    predictions = re.match(r"\[[0-9 ]+\]", keras_classifier).group(0)  # five digits' classes
    assert len(predictions.split()) == 5 and saved_classifier.startswith(predictions)
    assert keras_generator == saved_generator == "(100, 28, 28, 1) (100, 28, 28, 1)"


def test_the_export_pages_commands_run_as_written(mnist, tmp_path):
    """docs/export.md's three commands, in a checkout holding the run as runs/mnist_sample (RUN_DIR) and DIR a
    directory beside it: the default export into the run, checkpoint 1 into DIR, then DIR replaced by SavedModels
    only."""
    import shutil

    import docs_pages

    shown = docs_pages.commands(docs_pages.block(
        "docs/export.md", "Exporting a trained run: its classifier and its generator, for use outside this project").text)
    assert len(shown) == 3 and all(words[:3] == ["python", "-m", "improved_gan_tf2.export"] for words in shown)
    work = docs_pages.checkout(tmp_path / "work", {"mnist_sample": mnist["run"].path})
    shutil.rmtree(os.path.join(work, "runs", "mnist_sample", "export"), ignore_errors=True)  # other tests' export
    both = ["classifier", "classifier.keras", "generator", "generator.keras", "manifest.json"]
    expected = [("runs/mnist_sample/export", both), ("DIR", both), ("DIR", ["classifier", "generator", "manifest.json"])]
    for words, (out, files) in zip(shown, expected):
        words = [word.replace("RUN_DIR", "runs/mnist_sample") for word in words]
        result = docs_pages.run(words, work)
        assert result.returncode == 0, (words, result.stderr[-3000:])
        assert sorted(os.listdir(os.path.join(work, out))) == files, words
    manifest = json.load(open(os.path.join(work, "DIR", "manifest.json")))
    assert manifest["checkpoint_number"] == 1
