"""Evaluate a trained run as the paper does: test error (Tables 1-2), samples, Inception score and FID (Table 3).

    python -m improved_gan_tf2.evaluate RUN_DIR [--checkpoint=latest|N] [--num_samples=50000]
        [--samples_out=PATH] [--inception_score] [--fid_against=REAL] [--batch_size=B] [--seed=0]
    python -m improved_gan_tf2.evaluate --ensemble RUN_DIR RUN_DIR ...

The run is rebuilt from its ``flags.json`` (which names its experiment, :mod:`improved_gan_tf2.experiments`) and
its checkpoint is restored. For a semi-supervised run: the test error of the averaged and of the raw
discriminator parameters on the run's test set, batched as its original script does. Then ``--num_samples``
generator samples from a fixed ``--seed`` as the uint8 NHWC ``.npz`` that ``python -m inception_score`` reads
(MNIST as one channel; it is repeated to three only for scoring) and a PNG grid; with ``--inception_score`` /
``--fid_against`` the Inception score and FID on the 2015 graph (found as ``inception_score`` finds it; when it is
absent that module's message is printed and the other results are still written). Everything goes to
``evaluation.json`` in the run directory (written atomically), next to the samples. ``--ensemble``: the test error
of the runs' averaged softmax outputs (Table 2's "ensemble of 10 of our models"), with each member's own.

Bad input (not a run directory, a missing checkpoint, ``--num_samples`` < 1, a ``--fid_against`` file of the
wrong shape or range, an unwritable ``--samples_out``) stops with one line and exit status 2 before any work,
and leaves the run directory unchanged.
"""
import glob
import os
import time

import numpy as np

from improved_gan_tf2.startup import quiet_tensorflow

quiet_tensorflow()  # the tools import TensorFlow; its C++ start-up log is not for the user

from improved_gan_tf2 import cli, experiments, run_files, training  # noqa: E402
from improved_gan_tf2.data.pipeline import evaluation_dataset  # noqa: E402
from improved_gan_tf2.experiments.registry import ImageNetExperiment  # noqa: E402
from improved_gan_tf2.plotting import save_grid_png  # noqa: E402
from inception_score.model import Progress, as_rgb  # noqa: E402  (numpy only at import)

EVALUATION_FILE = "evaluation.json"
SAMPLES_FILE = "evaluation_samples.npz"
SAMPLES_KEY = "samples"


class Run:
    """A run directory rebuilt: its experiment, flags, model and the restored checkpoint."""

    def __init__(self, path, experiment, flags, model, checkpoint, step):
        self.path, self.experiment, self.flags, self.model = path, experiment, flags, model
        self.checkpoint, self.step = checkpoint, step

    @property
    def semi_supervised(self):
        return not isinstance(self.experiment, ImageNetExperiment)


# ---------------------------------------------------------------------- finding and restoring a run


def read_run_flags(run_dir):
    """The flags of the run in ``run_dir`` and its experiment record; ``cli.InputError`` if it is not a run."""
    path = os.path.join(run_dir, "flags.json")
    if not os.path.isdir(run_dir):
        problem = "is a file, not a run directory" if os.path.exists(run_dir) else "does not exist"
        raise cli.InputError(f"{run_dir} {problem}; give a run directory (the --out_dir of a training script, or the "
                             f"--checkpoint_dir of train_imagenet.py).")
    cli.require(os.path.lexists(path), run_files.not_a_run_directory(run_dir))
    flags = run_files.read_json(path, "the run's flags", run_files.FLAGS_FIX)
    name = flags.pop(training.EXPERIMENT_KEY, None)
    cli.require(name is not None, f"{path} names no experiment (written before flags.json did): add "
                f"\"{training.EXPERIMENT_KEY}\": \"<script name>\", one of {', '.join(sorted(experiments.EXPERIMENTS))}.")
    try:
        experiment = experiments.get_experiment(name)
    except KeyError as error:
        raise cli.InputError(f"{path}: {error.args[0]}") from None
    return experiment, dict(experiment.default_flags(), **flags)


def _checkpoint_directory(run_dir, experiment):
    imagenet = isinstance(experiment, ImageNetExperiment)
    directory = run_dir if imagenet else os.path.join(run_dir, "checkpoints")
    return directory, training.IMAGENET_CHECKPOINT_NAME if imagenet else "ckpt"


def checkpoint_path(run_dir, experiment, checkpoint="latest"):
    """The checkpoint prefixes of ``run_dir`` to try for ``checkpoint`` (``"latest"``: every checkpoint there,
    newest first; or a number: epochs completed, or the ImageNet step), and that number (for ``"latest"``, the
    newest's); ``cli.InputError`` naming the ones there are otherwise."""
    directory, prefix = _checkpoint_directory(run_dir, experiment)
    paths, _, problem = training.checkpoint_files(directory, prefix) if os.path.isdir(directory) else ([], None, None)
    if problem and paths:
        print(f"note: {problem}; reading the checkpoint files themselves")
    available = sorted({training.checkpoint_number(p) for p in paths if os.path.lexists(p + ".index")})
    cli.require(available, f"{run_dir} holds no checkpoint (nothing in {directory}).")
    if str(checkpoint) == "latest":
        return [p for p in paths if os.path.lexists(p + ".index")], available[-1]
    try:
        number = int(checkpoint)
    except ValueError:
        raise cli.InputError(f"--checkpoint={checkpoint}: give 'latest' or a checkpoint number "
                             f"({', '.join(map(str, available))}).") from None
    path = os.path.join(directory, f"{prefix}-{number}")
    if number not in available and (path in paths or glob.glob(glob.escape(path) + ".data-*")):
        raise cli.InputError(f"--checkpoint={checkpoint}: {path}.index is missing, so that checkpoint cannot be "
                             f"read; restore it from a copy, or give another (--checkpoint="
                             f"{' or '.join(map(str, available))}).")
    cli.require(number in available, f"--checkpoint={checkpoint}: {run_dir} has checkpoints "
                f"{', '.join(map(str, available))}; give one of them.")
    return [path], number


def load_run(run_dir, checkpoint="latest"):
    """Rebuild the run of ``run_dir`` (its experiment's model with its flags) and restore ``checkpoint`` (for
    ``"latest"``, the newest checkpoint that restores)."""
    run_dir = os.path.abspath(run_dir)
    experiment, flags = read_run_flags(run_dir)
    return _restore_run(run_dir, experiment, flags, checkpoint_path(run_dir, experiment, checkpoint)[0])


def _restore_run(run_dir, experiment, flags, paths):
    """:func:`load_run` once the flags are read and the checkpoints found: build the model and restore the first
    of ``paths`` that restores (:func:`training.restore_newest`), saying which were skipped and why. Changes
    nothing in the run directory (a resumed run moves damaged checkpoints aside)."""
    model = experiments.build_model(experiment, flags)
    if isinstance(experiment, ImageNetExperiment):
        saved = training.imagenet_checkpoint(model)
    else:
        saved, _ = training.epoch_checkpoint(**training.semi_supervised_checkpoint_objects(model))
    restored, skipped = training.restore_newest(saved, paths)
    if restored is None:
        directory, prefix = _checkpoint_directory(run_dir, experiment)
        details = "; ".join(f"{os.path.basename(p)}: {why}" for p, why in skipped)
        others = sorted({training.checkpoint_number(p) for p in training.checkpoint_files(directory, prefix)[0]
                         if os.path.lexists(p + ".index")} - {training.checkpoint_number(p) for p, _ in skipped})
        if len(paths) == 1:
            advice = (f"evaluate another (--checkpoint={' or '.join(map(str, others))})" if others else
                      "restore it from a copy")
            raise cli.InputError(f"{paths[0]} does not restore into the {experiment.script} model of flags.json "
                                 f"({details}); {advice}, or resume the run, which moves damaged checkpoints aside.")
        raise cli.InputError(f"no checkpoint in {directory} restores into the {experiment.script} model of "
                             f"flags.json ({details}); if the code changed since they were written, use that "
                             f"version, else restore them from a copy.")
    for path, why in skipped:
        print(f"note: skipped checkpoint {path} ({why}); using {os.path.basename(restored)}")
    return Run(run_dir, experiment, flags, model, restored, training.checkpoint_number(restored))


# ---------------------------------------------------------------------- what is measured


def test_errors(run, data=None):
    """Test error of the averaged and the raw discriminator parameters on the run's test set (of ``data``, the
    experiment's ``load_data`` result, loaded here by default), batched as the original script does."""
    data = run.experiment.load_data(run.flags) if data is None else data
    dataset, count = evaluation_dataset(data["x_test"], data["y_test"], run.flags["batch_size"],
                                        tail=run.experiment.evaluation_tail)
    result = run.model.evaluate(dataset, return_dict=True, verbose=0)
    return {"test_err": float(result["test_err"]), "test_err_raw": float(result["test_err_raw"]),
            "test_examples": int(count), "test_errors": int(round(float(result["test_err"]) * count))}


def logged_test_error(run):
    """The averaged parameters' test error the training loop logged for the restored epoch (``history.csv``)."""
    path = os.path.join(run.path, "history.csv")
    if not run.semi_supervised:
        return None
    try:
        log = run_files.read_epoch_log(path, "the evaluation goes on without it")
    except cli.INPUT_ERRORS as error:
        print(f"note: no logged test error to compare: {error}")
        return None
    if log is not None and log.torn is not None:
        print(f"note: the last line of {path} is cut short; a resumed run drops it")
    if log is None or "val_test_err" not in log.header:
        return None
    index = log.header.index("val_test_err")
    values = [float(fields[index]) for _, epoch, fields, _ in log.rows if epoch == run.step - 1]
    return values[-1] if values else None


def value_range(run):
    """The range of the run's generator output: [0, 1] for MNIST (sigmoid), [-1, 1] otherwise (tanh)."""
    return (0.0, 1.0) if run.flags.get("dataset", "").startswith("mnist") else (-1.0, 1.0)


def sampling_generator(run, batch_size=None):
    """The run's generator as an :class:`~improved_gan_tf2.models.exported.ExportedGenerator` of ``batch_size``
    (the run's by default): uint8 NHWC samples drawn in the one graph that exported generators hold too, so that
    these samples and an export's are the same numbers."""
    from improved_gan_tf2.models.exported import ExportedGenerator

    generator = run.model.generator
    if run.semi_supervised:
        shape = tuple(generator.outputs[0].shape[1:])  # flat MNIST rows become 28x28x1
        image_shape = shape if len(shape) == 3 else (int(round(np.sqrt(shape[0]))),) * 2 + (1,)
        options = dict(noise="semi_supervised", noise_dim=run.model.noise_dim)
    else:
        image_shape = (generator.image_size, generator.image_size, 3)
        options = dict(noise="imagenet", model_seed=run.model.seed)
    return ExportedGenerator(generator, batch_size=int(batch_size or run.flags["batch_size"]),
                             value_range=value_range(run), image_shape=image_shape, name="generator", **options)


def draw_samples(run, num_samples, seed=0, batch_size=None, progress=True):
    """``num_samples`` generator samples as uint8 NHWC: batches of ``batch_size`` (the run's own by default: the
    generators' batch norm uses the batch's statistics, as in training), batch ``i`` from seed ``seed + i``;
    ``progress``: a bar on a terminal, a plain line at each tenth otherwise
    (:class:`inception_score.model.Progress`)."""
    batch_size = int(batch_size or run.flags["batch_size"])
    generator = sampling_generator(run, batch_size)
    bar = Progress(num_samples, "sample") if progress else None
    out = []
    for i in range(-(-num_samples // batch_size)):
        out.append(generator.sample(batch_size, seed + i).numpy())
        if bar is not None:
            bar.update(min((i + 1) * batch_size, num_samples))
    if bar is not None:
        bar.close()
    return np.concatenate(out)[:num_samples]


def check_real_images(path):
    """The ``--fid_against`` images (as ``python -m inception_score`` reads them), checked: NHWC, 1 or 3
    channels, values in 0..255."""
    from inception_score.__main__ import CliError, load_images

    try:
        images = load_images(path)
    except CliError as error:
        raise cli.InputError(f"--fid_against: {error}") from None
    images = np.asarray(images) if not isinstance(images, np.ndarray) else images
    cli.require(images.ndim == 4 and images.shape[-1] in (1, 3) and len(images) >= 2,
                f"--fid_against={path}: expected images of shape (N >= 2, H, W, 1 or 3), got {images.shape}.")
    cli.require(np.isfinite(images).all() and images.min() >= 0 and images.max() <= 255 and images.max() > 10,
                f"--fid_against={path}: pixel values must be in 0..255 (found {images.min():g} to {images.max():g}).")
    return as_rgb(images)


def inception_graph_note(model_dir=None):
    """None when the Inception graph can be found (or fetched); else its message on one line."""
    from inception_score import model as inception

    try:
        inception.find_graph(model_dir)
    except inception.InceptionGraphNotFoundError as error:
        return " ".join(str(error).split())
    return None


def write_npz_atomic(path, **arrays):
    temporary = f"{path}.tmp.npz"
    np.savez_compressed(temporary, **arrays)
    os.replace(temporary, path)


def evaluate(run_dir, checkpoint="latest", num_samples=50000, samples_out=None, inception_score=False,
             fid_against=None, batch_size=None, seed=0, model_dir=None, splits=10, progress=True):
    """Evaluate the run of ``run_dir`` (see the module docstring); returns what it writes to evaluation.json."""
    cli.require(num_samples >= 1, f"--num_samples must be at least 1, got {num_samples}.")
    cli.require(batch_size is None or batch_size >= 1, f"--batch_size must be at least 1, got {batch_size}.")
    run_dir = os.path.abspath(run_dir)
    experiment, flags = read_run_flags(run_dir)
    paths, _ = checkpoint_path(run_dir, experiment, checkpoint)
    samples_out = os.path.abspath(samples_out or os.path.join(run_dir, SAMPLES_FILE))
    out_dir = os.path.dirname(samples_out)
    cli.require(os.path.isdir(out_dir) and os.access(out_dir, os.W_OK),
                f"--samples_out={samples_out}: {out_dir} is not a writable directory.")
    cli.require(os.access(run_dir, os.W_OK), f"{run_dir} is not writable: evaluation.json goes there.")
    grid_path = os.path.join(run_dir, "samples", "evaluation.png")
    for path, what in ((samples_out, "the samples"), (os.path.join(run_dir, EVALUATION_FILE), "the evaluation"),
                       (grid_path, "the samples' grid")):
        run_files.require_file_slot(path, what)
    real = check_real_images(fid_against) if fid_against else None
    cli.require(not inception_score or num_samples >= splits,
                f"--num_samples={num_samples} is fewer than the {splits} splits of the Inception score.")

    timings = {}
    begin = time.time()
    run = _restore_run(run_dir, experiment, flags, paths)
    timings["restore"] = time.time() - begin
    result = {"run": run_dir, "experiment": experiment.script, "checkpoint": run.checkpoint,
              "checkpoint_number": run.step, "seed": seed, "num_samples": num_samples}
    if run.semi_supervised:
        begin = time.time()
        result.update(test_errors(run))
        result["logged_test_err"] = logged_test_error(run)
        timings["test"] = time.time() - begin
        print(f"test error: {result['test_err']:.4f} averaged parameters, {result['test_err_raw']:.4f} raw "
              f"({result['test_errors']} of {result['test_examples']})")

    begin = time.time()
    print(f"Drawing {num_samples} samples (seed {seed})")
    samples = draw_samples(run, num_samples, seed, batch_size, progress)
    write_npz_atomic(samples_out, **{SAMPLES_KEY: samples})
    grid = experiment.sample_grid(samples.astype(np.float64) / 255.0) if run.semi_supervised else \
        _imagenet_grid(samples)
    save_grid_png(grid_path, grid)
    timings["sampling"] = time.time() - begin
    result.update(samples=samples_out, grid=grid_path)

    if inception_score or real is not None:
        note = inception_graph_note(model_dir)
        if note is not None:
            print(f"note: no Inception score or FID: {note}")
            result["inception_note"] = note
        else:
            from inception_score import model as inception

            begin = time.time()
            features, probs = inception.run_inception(as_rgb(samples), 100, model_dir, verbose=progress)
            if inception_score:
                mean, std = inception.inception_score_from_predictions(probs, splits)
                result["inception_score"], result["inception_score_std"] = float(mean), float(std)
                print(f"Inception score: {mean:.4f} ± {std:.4f}")
            if real is not None:
                real_features, _ = inception.run_inception(real, 100, model_dir, verbose=progress, what=fid_against)
                result["fid"] = inception.frechet_distance(*inception.feature_statistics(features),
                                                           *inception.feature_statistics(real_features))
                result["fid_against"] = os.path.abspath(fid_against)
                print(f"FID: {result['fid']:.4f}")
            timings["inception"] = time.time() - begin
    result["seconds"] = timings
    training.write_json_atomic(os.path.join(run_dir, EVALUATION_FILE), result)
    print(f"wrote {os.path.join(run_dir, EVALUATION_FILE)}, {samples_out} and {grid_path}")
    return result


def _imagenet_grid(samples):
    from improved_gan_tf2.plotting import tile_images

    count = min(64, len(samples))
    side = int(np.sqrt(count))
    return tile_images(samples[:side * side] / 255.0, tile_shape=(side, side), border=0)


def ensemble(run_dirs, checkpoint="latest"):
    """Test error of the runs' averaged softmax outputs (each run's averaged parameters), with each member's own
    error, over the test set's full batches (the CIFAR-10 and MNIST scripts' rule; for SVHN the last, overlapping
    window is left out). The runs must share their test set."""
    import tensorflow as tf

    cli.require(len(run_dirs) >= 2, "--ensemble needs at least two run directories.")
    runs = [load_run(d, checkpoint) for d in run_dirs]
    cli.require(all(r.semi_supervised for r in runs), "--ensemble: every run must be a semi-supervised classifier.")
    data = [r.experiment.load_data(r.flags) for r in runs]
    first = data[0]
    cli.require(all(np.array_equal(d["y_test"], first["y_test"]) and d["x_test"].shape == first["x_test"].shape
                    for d in data), "--ensemble: the runs do not share their test set.")
    members, total = [], 0.0
    for run in runs:
        dataset, count = evaluation_dataset(first["x_test"], first["y_test"], run.flags["batch_size"],
                                            tail="drop")
        probabilities = np.concatenate([tf.nn.softmax(run.model(x)).numpy() for x, _ in dataset])
        labels = np.concatenate([y.numpy() for _, y in dataset])
        members.append({"run": run.path, "test_err": float(np.mean(probabilities.argmax(1) != labels))})
        total = total + probabilities
    result = {"members": members, "test_examples": int(len(labels)),
              "ensemble_test_err": float(np.mean(total.argmax(1) != labels))}
    for member in members:
        print(f"{member['test_err']:.4f}  {member['run']}")
    print(f"ensemble of {len(runs)}: test error {result['ensemble_test_err']:.4f} on {len(labels)} examples")
    return result


def main(argv):
    from absl import flags

    f = flags.FLAGS
    run_dirs = argv[1:]
    if not run_dirs:
        raise cli.InputError("give a run directory: python -m improved_gan_tf2.evaluate RUN_DIR [flags]")
    if f.ensemble:
        return ensemble(run_dirs, f.checkpoint)
    cli.require(len(run_dirs) == 1, f"give one run directory (or --ensemble for several), got {len(run_dirs)}.")
    return evaluate(run_dirs[0], f.checkpoint, f.num_samples, f.samples_out, f.inception_score, f.fid_against,
                    f.batch_size, f.seed, f.model_dir, f.splits)


def define_flags():
    from absl import flags

    flags.DEFINE_string("checkpoint", "latest", "Checkpoint to evaluate: 'latest' or its number (epochs completed; "
                        "the step for ImageNet).")
    flags.DEFINE_integer("num_samples", 50000, "Generator samples to draw (the paper scores 50,000).")
    flags.DEFINE_string("samples_out", None, f"Where the samples go (default: RUN_DIR/{SAMPLES_FILE}), a uint8 "
                        f"NHWC array under the key '{SAMPLES_KEY}'.")
    flags.DEFINE_boolean("inception_score", False, "Also the Inception score of the samples (the 2015 graph).")
    flags.DEFINE_string("fid_against", None, "Real images (.npy/.npz/directory, 0..255): also the FID of the samples "
                        "against them.")
    flags.DEFINE_integer("batch_size", None, "Samples per generator call (default: the run's batch size; the "
                         "generators' batch norm uses the batch's statistics).")
    flags.DEFINE_integer("seed", 0, "Seed of the samples (batch i uses seed + i).")
    flags.DEFINE_string("model_dir", None, "Where the Inception graph is (else $INCEPTION_DIR, else the cache).")
    flags.DEFINE_integer("splits", 10, "Parts the Inception score is averaged over (the original's 10).")
    flags.DEFINE_boolean("ensemble", False, "Evaluate the given runs as an ensemble: the test error of their "
                         "averaged softmax outputs (Table 2).")


if __name__ == "__main__":
    define_flags()
    cli.run(lambda argv: main(argv) and None, positional=True)
