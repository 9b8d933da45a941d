"""Export a trained run's classifier and generator as models that stand alone (``docs/export.md``).

    python -m improved_gan_tf2.export RUN_DIR [--checkpoint=latest|N] [--out=DIR] [--format=keras,saved_model]
        [--overwrite]

The run is rebuilt and its checkpoint restored as ``evaluate`` does. Into ``--out`` (default ``RUN_DIR/export``):

- ``classifier.keras`` and the SavedModel ``classifier/`` (semi-supervised runs; not for ImageNet, whose run has
  no labelled test set and whose discriminator needs a joint batch of real and generated images): the
  discriminator with the run's averaged parameters, the classifier whose test error ``evaluate`` reports;
  :class:`~improved_gan_tf2.models.exported.ExportedClassifier`. Images in the run's own pixel convention in,
  the K class probabilities and the probability of the "generated" class out. Minibatch discrimination, the one
  batch-mixing layer of these discriminators, is exported in its stored-inference mode, comparing each image
  with ``batch_size - 1`` training images stored once, so that an image gets the same prediction alone as in
  any batch (its test error is then measured too: it differs from ``evaluate``'s, whose test batches compare
  each image with the others of its batch).
- ``generator.keras`` and the SavedModel ``generator/``: noise in, uint8 0..255 NHWC images out as ``evaluate``
  writes them; ``sample(count, seed)`` draws ``evaluate --seed``'s samples.
- ``manifest.json``: the experiment, flags, checkpoint, the test errors ``evaluate`` measures for the checkpoint,
  the models' conventions, the files, and the versions and machine (``environment.describe()``).

The ``.keras`` files load with ``keras.models.load_model`` after ``import improved_gan_tf2``; the SavedModels
(``keras.export.ExportArchive``, as ``model.export`` writes them) with ``tf.saved_model.load`` alone.

Bad input (not a run directory, no checkpoint or not that one, an unknown ``--format``, an ``--out`` that holds
an export without ``--overwrite`` or holds other files) stops with one line and exit status 2 before any work.
Everything is written into a temporary directory beside ``--out`` and renamed into place at the end, so an
interrupted export leaves nothing half-written (and a previous export whole).
"""
import datetime
import json
import os
import shutil
import sys
import tempfile

import numpy as np

from improved_gan_tf2.startup import quiet_tensorflow

quiet_tensorflow()  # the tools import TensorFlow; its C++ start-up log is not for the user

from improved_gan_tf2 import __version__, cli, environment, evaluate, training  # noqa: E402
from improved_gan_tf2.data import MNIST_DATASETS, cifar10, svhn  # noqa: E402
from improved_gan_tf2.data.pipeline import evaluation_dataset  # noqa: E402

#: What ``--format`` may list.
FORMATS = ("keras", "saved_model")
MANIFEST_FILE = "manifest.json"
DEFAULT_OUT = "export"
#: The files of each model in each format (a SavedModel is a directory).
FILES = {"classifier": {"keras": "classifier.keras", "saved_model": "classifier"},
         "generator": {"keras": "generator.keras", "saved_model": "generator"}}
#: Seed of the NumPy choice of the training images whose features minibatch discrimination stores.
REFERENCE_SEED = 0
CLASSIFIER_NOT_FOR_IMAGENET = (
    "no classifier for an ImageNet run: it has no labelled test set to measure one with, and its discriminator "
    "(cross batch norm, halved minibatch features) classifies only a joint batch of real and generated images")


# ---------------------------------------------------------------------- checks before any work


def parse_formats(text):
    """``--format``'s comma list as a tuple of :data:`FORMATS`; ``cli.InputError`` for anything else."""
    names = [name.strip() for name in str(text).split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    cli.require(names and not unknown, f"--format={text}: give one or more of {','.join(FORMATS)} (comma-separated)"
                f"{'; unknown: ' + ', '.join(unknown) if unknown else ''}.")
    return tuple(dict.fromkeys(names))


def check_out_dir(out, overwrite):
    """Refuse an ``out`` that is a file, holds other files, or holds an export (unless ``overwrite``), or whose
    parent cannot be written; returns its absolute path."""
    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    cli.require(not os.path.lexists(out) or os.path.isdir(out), f"--out={out} is a file; give a directory.")
    if os.path.isdir(out) and os.listdir(out):
        if os.path.exists(os.path.join(out, MANIFEST_FILE)):
            cli.require(overwrite, f"--out={out} already holds an export; pass --overwrite to replace it, or another "
                        f"--out.")
        else:
            raise cli.InputError(f"--out={out} holds files that are not an export; give an empty or new directory.")
    cli.require(os.path.isdir(parent) and os.access(parent, os.W_OK),
                f"--out={out}: {parent} is not a writable directory.")
    return out


# ---------------------------------------------------------------------- conventions


def image_convention(flags):
    """The classifier's input, in the run's own pixel convention (what the data loaders give the model)."""
    dataset = flags["dataset"]
    if dataset in MNIST_DATASETS:
        return dict(shape=[None, 784], dtype="float32", range=[0.0, 1.0],
                    layout="flat rows: each 28x28 image row-major (as MNIST's files), one row per image",
                    scaling="pixels / 255, pixels uint8 0..255 (0 = background)")
    offset, divisor = (cifar10.OFFSET, cifar10.DIVISOR) if dataset in cifar10.DATASETS else \
        (svhn.OFFSET, svhn.DIVISOR)
    return dict(shape=[None, 32, 32, 3], dtype="float32", range=[-offset / divisor, (255 - offset) / divisor],
                layout="NHWC, RGB", scaling=f"(pixels - {offset:g}) / {divisor:g}, pixels uint8 0..255")


def classifier_conventions(run, stored_layers, reference_size):
    conventions = {
        "input": {"name": "images", **image_convention(run.flags)},
        "outputs": {
            "class_probabilities": f"float32 (n, {run.model.discriminator.outputs[0].shape[-1]}): p(class k | image "
                                   f"is real) = softmax(logits), k = the data set's labels 0..9",
            "generated_probability": "float32 (n,): p(generated | image) = 1 / (1 + sum_k exp(logits_k)), the "
                                     "K+1-th class of paper Sec. 5",
        },
        "parameters": "the run's averaged discriminator parameters (those of evaluate's test error)",
        "batch_independent": True,
    }
    if stored_layers:
        conventions["stored_inference"] = {
            "layers": stored_layers, "reference_rows": reference_size,
            "reference": f"minibatch discrimination compares each image with the features of {reference_size} "
                         f"training images (NumPy RandomState({REFERENCE_SEED}).choice of {reference_size + 1}, "
                         f"the first {reference_size} kept), stored at export; evaluate compares each test image "
                         f"with the other images of its test batch instead"}
    return conventions


def generator_conventions(run, generator):
    from improved_gan_tf2.layers import GeneratorBatchNorm

    imagenet = not run.semi_supervised
    inputs = {spec.name: {"shape": [None, *spec.shape[1:]], "dtype": "float32",
                          "distribution": "uniform [-1, 1)" if imagenet else "uniform [0, 1)"}
              for spec in generator.noise_specs()}
    if not any(isinstance(layer, GeneratorBatchNorm) for layer in generator.generator._flatten_layers()):
        rows = ("each row is normalized with the generator's fixed reference batch (virtual batch norm): a row's "
                "image does not depend on the other rows")
    else:
        rows = (f"the generator's batch norm normalizes with the statistics of the rows given together (as in "
                f"training and in evaluate): a row's image depends on the other rows, and a call needs at least 2 "
                f"rows; evaluate's samples are batches of {generator.batch_size}")
    return {
        "inputs": inputs,
        "output": {"name": "images", "shape": [None, *generator.image_shape], "dtype": "uint8", "range": [0, 255],
                   "layout": "NHWC" + (", one channel" if generator.image_shape[-1] == 1 else ", RGB")},
        "rows": rows,
        "sample": {"count": "int32 scalar >= 1", "seed": "int64 scalar",
                   "draws": f"batch i of {generator.batch_size} rows from seed + i, cut to count: the samples of "
                            f"python -m improved_gan_tf2.evaluate --num_samples=count --seed=seed"},
        "batch_size": generator.batch_size,
    }


# ---------------------------------------------------------------------- the models


def build_classifier(run, x_train):
    """The run's classifier (:class:`ExportedClassifier`): a copy of the discriminator with the averaged
    parameters, minibatch discrimination in its stored-inference mode with rows of ``x_train``."""
    from improved_gan_tf2 import store_inference_state
    from improved_gan_tf2.models.exported import ExportedClassifier, copy_weights, stored_inference_copy

    network = run.model.discriminator
    reference_size = max(1, int(run.flags["batch_size"]) - 1)
    discriminator, stored_layers = stored_inference_copy(network, reference_size)
    averaged = dict(zip((id(v) for v in network.trainable_variables), run.model.parameter_average.values()))
    copy_weights(network, discriminator, [averaged.get(id(w), w.value) for w in network.weights])
    if stored_layers:
        rows = np.random.RandomState(REFERENCE_SEED).choice(len(x_train), reference_size + 1, replace=False)
        store_inference_state(discriminator, np.asarray(x_train[rows], np.float32))
    conventions = classifier_conventions(run, stored_layers, reference_size)
    return ExportedClassifier(discriminator, conventions=conventions, name="classifier")


def build_generator(run):
    """The run's generator (:class:`ExportedGenerator`) as ``evaluate`` draws its samples, with its conventions."""
    exported = evaluate.sampling_generator(run)
    exported.conventions = generator_conventions(run, exported)
    return exported


def classifier_test_error(classify, x_test, y_test, batch_size, tail):
    """The test error of ``classify`` (images -> class probabilities) in ``evaluate``'s test batches and weights
    (``evaluation_dataset``); ``(error, wrong, examples)``."""
    dataset, count = evaluation_dataset(x_test, y_test, batch_size, tail=tail)
    wrong = weight = 0.0
    for batch in dataset:
        images, labels = batch[0], batch[1].numpy()
        weights = batch[2].numpy() if len(batch) > 2 else np.ones(len(labels), np.float32)
        predictions = np.argmax(np.asarray(classify(images)), axis=1)
        wrong += float(np.sum(weights * (predictions != labels)))
        weight += float(np.sum(weights))
    return float(np.float32(wrong) / np.float32(weight)), int(round(wrong)), int(count)


def save_keras(model, path):
    model.save(path)


def save_saved_model(model, path):
    """``model`` as a SavedModel with the endpoints (signatures) ``serve`` (also ``serving_default``), for a
    generator ``sample(count, seed)``, and ``conventions()`` (the JSON of ``model.conventions``)."""
    import keras
    import tensorflow as tf

    from improved_gan_tf2.models.exported import ExportedGenerator

    archive = keras.export.ExportArchive()
    archive.track(model)
    if isinstance(model, ExportedGenerator):
        specs = model.noise_specs()
        if len(specs) == 1:
            archive.add_endpoint("serve", lambda z: {"images": model(z)}, input_signature=specs)
        else:
            archive.add_endpoint("serve", lambda noise: {"images": model(noise)}, input_signature=[specs])
        archive.add_endpoint("sample", model.sample_function())  # evaluate's graph
    else:
        archive.add_endpoint("serve", lambda images: model(images), input_signature=[
            tf.TensorSpec((None,) + model.image_shape, tf.float32, name="images")])
    text = json.dumps(model.conventions, sort_keys=True)
    archive.add_endpoint("conventions", lambda: {"json": tf.constant(text)}, input_signature=[])
    archive.write_out(path, verbose=False)


WRITERS = {"keras": save_keras, "saved_model": save_saved_model}


# ---------------------------------------------------------------------- the tool


def export(run_dir, checkpoint="latest", out=None, formats=FORMATS, overwrite=False):
    """Export the run of ``run_dir`` (see the module docstring) into ``out``; returns the manifest."""
    formats = parse_formats(",".join(formats) if isinstance(formats, (list, tuple)) else formats)
    run_dir = os.path.abspath(run_dir)
    experiment, _ = evaluate.read_run_flags(run_dir)
    evaluate.checkpoint_path(run_dir, experiment, checkpoint)
    out = check_out_dir(out or os.path.join(run_dir, DEFAULT_OUT), overwrite)

    run = evaluate.load_run(run_dir, checkpoint)
    manifest = {
        "tool": "python -m improved_gan_tf2.export", "package_version": __version__,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "run": run_dir, "experiment": experiment.script, "original": experiment.original,
        "flags": run.flags, "checkpoint": run.checkpoint, "checkpoint_number": run.step,
    }
    models = {}
    if run.semi_supervised:
        data = experiment.load_data(run.flags)
        manifest["evaluate"] = evaluate.test_errors(run, data)
        print(f"evaluate's test error: {manifest['evaluate']['test_err']:.4f} (averaged parameters, "
              f"{manifest['evaluate']['test_errors']} of {manifest['evaluate']['test_examples']})")
        classifier = build_classifier(run, data["x_train"])
        error, wrong, count = classifier_test_error(lambda x: classifier(x)["class_probabilities"], data["x_test"],
                                                    data["y_test"], run.flags["batch_size"],
                                                    experiment.evaluation_tail)
        models["classifier"] = classifier
        manifest["classifier"] = {"test_err": error, "test_errors": wrong, "test_examples": count,
                                  **classifier.conventions}
        print(f"exported classifier's test error: {error:.4f} ({wrong} of {count})")
    else:
        manifest["evaluate"] = None
        manifest["classifier"] = None
        manifest["classifier_note"] = CLASSIFIER_NOT_FOR_IMAGENET
        print(f"note: {CLASSIFIER_NOT_FOR_IMAGENET}.")
    models["generator"] = build_generator(run)
    manifest["generator"] = dict(models["generator"].conventions)
    for name in models:
        manifest[name]["files"] = {fmt: FILES[name][fmt] for fmt in formats}
    manifest["versions"] = environment.describe()

    temporary = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=os.path.dirname(out))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o777 & ~umask)  # mkdtemp's 0700 would make the export private
    try:
        for name, model in models.items():
            for fmt in formats:
                WRITERS[fmt](model, os.path.join(temporary, FILES[name][fmt]))
        training.write_json_atomic(os.path.join(temporary, MANIFEST_FILE), manifest)
        _replace_directory(temporary, out)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    files = ", ".join(FILES[name][fmt] for name in models for fmt in formats)
    print(f"wrote {out}: {files}, {MANIFEST_FILE}")
    return manifest


def _replace_directory(source, target):
    """Rename ``source`` to ``target``; an existing ``target`` is moved aside first and removed only after."""
    if os.path.isdir(target) and not os.listdir(target):
        os.rmdir(target)
    previous = None
    if os.path.exists(target):
        previous = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old-", dir=os.path.dirname(target))
        os.rename(target, os.path.join(previous, "export"))
    try:
        os.rename(source, target)
    except BaseException:
        if previous is not None:
            os.rename(os.path.join(previous, "export"), target)
        raise
    finally:
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)


def command(run_dirs, checkpoint="latest", out=None, formats=",".join(FORMATS), overwrite=False):
    """The command line's work once its flags are parsed: :func:`export` of the one run directory given."""
    cli.require(len(run_dirs) == 1, "give one run directory: python -m improved_gan_tf2.export RUN_DIR [flags]"
                if not run_dirs else f"give one run directory, got {len(run_dirs)}.")
    return export(run_dirs[0], checkpoint, out, formats, overwrite)


def main(argv):
    from absl import flags

    f = flags.FLAGS
    return command(argv[1:], f.checkpoint, f.out, f.format, f.overwrite)


def define_flags():
    from absl import flags

    flags.DEFINE_string("checkpoint", "latest", "Checkpoint to export: 'latest' or its number (epochs completed; "
                        "the step for ImageNet).")
    flags.DEFINE_string("out", None, f"Directory of the export (default: RUN_DIR/{DEFAULT_OUT}).")
    flags.DEFINE_string("format", ",".join(FORMATS), "Formats to write, comma-separated: 'keras' (.keras files, "
                        "loaded with keras.models.load_model after import improved_gan_tf2) and/or 'saved_model' "
                        "(SavedModels, loaded with tf.saved_model.load alone).")
    flags.DEFINE_boolean("overwrite", False, "Replace an export already in --out.")


#: absl's help flags, which end the process with status 1 (as the other tools, until issue #22 makes it 0 in cli).
HELP_FLAGS = frozenset({"--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml"})


def run_main():
    """The command line: :func:`main` under ``cli.run``, ``--help`` ending with status 0."""
    define_flags()
    try:
        cli.run(lambda argv: main(argv) and None, positional=True)
    except SystemExit as stop:
        if stop.code == 1 and HELP_FLAGS & set(sys.argv[1:]):
            sys.exit(0)
        raise


if __name__ == "__main__":
    run_main()
