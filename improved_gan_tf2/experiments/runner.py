"""The one runner of every experiment record: build its model, prepare its data, train it.

``flags`` is always the dict of the script's flag values (what ``flags.json`` stores; start from
``experiment.default_flags()`` outside a script). :func:`run` does what the original script does, end to end;
:func:`build_model` and :func:`prepare_data` are its parts, for the tools (evaluation, comparison with the
original, benchmarks) that need a model or the data of an experiment without training it.
"""
import copy
import dataclasses
import functools
import os
import pprint
from typing import Callable, Dict, Optional

import keras
import numpy as np

from improved_gan_tf2 import cli, training
from improved_gan_tf2.data import (
    OriginalEpochOrder,
    original_rng,
    select_labelled,
    select_labelled_custom,
    tiling_problem,
)
from improved_gan_tf2.data import imagenet as imagenet_data
from improved_gan_tf2.experiments import imagenet as imagenet_experiment
from improved_gan_tf2.experiments.registry import ImageNetExperiment, SemiSupervisedExperiment
from improved_gan_tf2.models.imagenet import ImageNetGAN
from improved_gan_tf2.models.semi_supervised import SemiSupervisedGAN
from improved_gan_tf2.optimizers import OriginalAdam, tf1_adam
from improved_gan_tf2.plotting import save_image_grid

#: The data-dependent init runs on this many training images (``trainx[:500]`` in every original script).
INIT_BATCH_SIZE = 500


def _check(experiment):
    if not isinstance(experiment, (SemiSupervisedExperiment, ImageNetExperiment)):
        raise TypeError(f"not an experiment record: {experiment!r}")


def build_model(experiment, flags, strategy=None, optimizer=OriginalAdam, **model_options):
    """The compiled model of ``experiment`` for ``flags``: a ``SemiSupervisedGAN`` with the record's networks,
    losses and the original's Adam for both players, or an ``ImageNetGAN`` built in ``strategy``'s scope.

    For the benchmarks, a semi-supervised model may take another ``optimizer`` (called with the learning rate,
    once per player) and ``model_options`` that override ``SemiSupervisedGAN``'s arguments."""
    _check(experiment)
    if isinstance(experiment, ImageNetExperiment):
        strategy = strategy or _default_strategy()
        with cli.bad_input():
            arguments = imagenet_experiment.model_arguments(flags, strategy.num_replicas_in_sync)
        with strategy.scope():
            gan = ImageNetGAN(**arguments)
            gan.compile(
                discriminator_optimizer=tf1_adam(flags["discriminator_learning_rate"], flags["beta1"], name="d_adam"),
                generator_optimizer=tf1_adam(flags["generator_learning_rate"], flags["beta1"], name="g_adam"),
                jit_compile=flags["jit_compile"],
            )
        return gan
    generator, discriminator = experiment.networks(flags)
    gan = SemiSupervisedGAN(
        generator, discriminator, noise_dim=experiment.noise_dim, unlabeled_weight=flags["unlabeled_weight"],
        generator_loss=experiment.generator_loss, feature_norm=experiment.feature_norm,
        generator_steps=experiment.generator_steps, seed=flags["seed"],
        **{**experiment.model_options(flags), **model_options},
    )
    gan.compile(optimizer(flags["learning_rate"]), optimizer(flags["learning_rate"]), jit_compile=flags["jit_compile"])
    return gan


def _default_strategy():
    import tensorflow as tf

    return tf.distribute.get_strategy()


# ---------------------------------------------------------------------- semi-supervised experiments


@dataclasses.dataclass
class SemiSupervisedData:
    """What one semi-supervised run trains and tests on, chosen as the original script chooses it."""

    x_lab: np.ndarray
    y_lab: np.ndarray
    x_unl: np.ndarray                      #: the unlabelled training set (every training image)
    x_test: np.ndarray
    y_test: np.ndarray
    x_init: np.ndarray                     #: the data-dependent init batch
    labelled: tuple                        #: the ``select_labelled`` result (permutation and all)
    make_epoch_order: Callable[[], OriginalEpochOrder]  #: a fresh epoch order, at epoch 0
    run_files: Dict[str, np.ndarray]       #: arrays saved in the run directory: ``labelled_indices.npy`` (the
                                           #: labelled examples' indices into the training set) and those the
                                           #: original saved beside its run (``perm.npy``, ``used_inds_<count>.npy``)
    loaded: Optional[dict] = None          #: the arrays as loaded (``load_data``'s result), for the fingerprint

    def fingerprint(self):
        """:func:`training.data_fingerprint` of the loaded arrays: a run refuses to resume on other data."""
        loaded = self.loaded or {"x_train": self.x_unl, "x_test": self.x_test, "y_test": self.y_test}
        arrays = {name: value for name, value in loaded.items() if isinstance(value, np.ndarray)}
        return training.data_fingerprint(arrays, getattr(loaded, "source", ""))


def _labelled_and_order(experiment, data, flags):
    """The labelled subset and a fresh epoch order, from the RNGs the original script uses."""
    x_train, y_train = data["x_train"], data["y_train"]
    seed, count = flags["seed"], flags["count"]
    rng = seed
    with cli.bad_input():
        if experiment.labelled_choice == "seed_data":
            labelled = select_labelled(x_train, y_train, count, flags["seed_data"])
        elif experiment.labelled_choice == "custom":
            labelled = select_labelled_custom(x_train, y_train, data["y_train_true"], count, flags["seed_data"],
                                              balance=flags["balance"])
        else:  # one RNG, as in the original: two seed draws, the labelled choice, then every epoch's order
            rng, _, _ = original_rng(seed)
            labelled = select_labelled(x_train, y_train, count, rng)
    _check_tiling(experiment, data, flags, len(labelled.x_lab))
    order = OriginalEpochOrder(rng, len(labelled.x_lab), len(x_train), tiling=experiment.tiling,
                               unlabelled_copies=experiment.unlabelled_copies)
    return labelled, order


def _largest_count(experiment, data, flags):
    """The largest ``--count`` the labelled choice allows (the smallest class, or a tenth of the set)."""
    if experiment.labelled_choice == "custom" and not flags["balance"]:
        return len(data["x_train"]) // 10
    labels = data["y_train_true"] if experiment.labelled_choice == "custom" else data["y_train"]
    return int(np.bincount(np.asarray(labels), minlength=10)[:10].min())


def _check_tiling(experiment, data, flags, n_lab):
    """Refuse, before any work, a ``--count`` whose floor tiling leaves a batch without labelled examples (the
    original's mean over nothing), naming the nearest counts that work. A short last labelled batch is trained as
    the original's slice makes it."""
    n_unl, batch_size, count = len(data["x_train"]), flags["batch_size"], flags["count"]
    problem = tiling_problem(n_lab, n_unl, batch_size, experiment.tiling)
    if problem is None:
        return
    per_count = n_lab // count  # 10: that many classes

    def works(c):
        return tiling_problem(per_count * c, n_unl, batch_size, experiment.tiling) is None

    largest = _largest_count(experiment, data, flags)
    below = next((c for c in range(min(count, largest + 1) - 1, 0, -1) if works(c)), None)
    above = next((c for c in range(count + 1, largest + 1) if works(c)), None)
    nearest = [c for c in (below, above) if c is not None]
    if len(nearest) == 2:
        advice = f"the nearest counts that work are {below} and {above}"
    elif nearest:
        advice = f"the nearest count that works is {nearest[0]}"
    else:
        advice = f"no count works with --batch_size={batch_size}; change --batch_size"
    raise cli.InputError(f"--count={count}: {problem}; {advice}.")


def first_epoch_init_batch(x_lab, first_epoch, size=INIT_BATCH_SIZE):
    """The CIFAR-10/SVHN scripts' data-dependent-init batch: the first ``size`` rows of epoch 0's tiled, shuffled
    labelled set (``trainx[:500]``); ``first_epoch`` is that epoch's ``EpochIndices``."""
    return np.asarray(x_lab)[first_epoch.lab_idx[:size]]


def _check_data_dir(experiment, flags):
    """A ``--data_dir`` that does not exist (or is a file) is named in one line with the fix, before any loader
    lists every file it would have looked for there."""
    data_dir, dataset = flags.get("data_dir"), flags.get("dataset")
    if data_dir is None or dataset == "mnist_sample" or os.path.isdir(data_dir):
        return
    problem = "is a file, not a directory" if os.path.exists(data_dir) else "does not exist"
    choices = next((spec.choices for spec in experiment.flags if spec.name == "dataset"), ())
    if "mnist_sample" in choices:
        alternative = "or pass --dataset=mnist_sample to run on the 5,000 MNIST digits shipped with this repository"
    else:
        kind = "svhn" if "svhn" in experiment.script else "cifar10"
        alternative = (f"or write a synthetic stand-in there for a quick check with python -m "
                       f"improved_gan_tf2.data.writers --synthetic={kind} --out={data_dir}")
    raise cli.InputError(f"--data_dir={data_dir} {problem}; pass the directory that holds the data files, "
                         f"{alternative}.")


def prepare_data(experiment, flags):
    """Load the experiment's data, choose the labelled examples and the init batch as the original does, and
    check ``--batch_size`` against the sets; input errors raise ``cli.InputError`` (or a data error)."""
    _check_data_dir(experiment, flags)
    data = experiment.load_data(flags)
    labelled, first_order = _labelled_and_order(experiment, data, flags)
    batch_size = flags["batch_size"]
    cli.require(batch_size <= min(len(data["x_train"]), len(data["x_test"])),
                f"--batch_size={batch_size} is larger than the training or test set of {flags['dataset']}.")

    def make_epoch_order():  # a deep copy, RNG state and all: every call starts at epoch 0 of the same sequence
        return copy.deepcopy(first_order)

    if experiment.init_batch == "permuted":  # MNIST: the first 500 permuted training images
        x_init = labelled.x_permuted[:INIT_BATCH_SIZE]
    else:
        x_init = first_epoch_init_batch(labelled.x_lab, make_epoch_order().next_epoch())
    run_files = {"labelled_indices.npy": labelled.indices}  # which training examples were labelled, in order
    if experiment.labelled_choice == "custom":
        run_files["perm.npy"] = labelled.permutation
        if flags["balance"]:
            run_files[f"used_inds_{flags['count']}.npy"] = labelled.used_inds
    return SemiSupervisedData(labelled.x_lab, labelled.y_lab, data["x_train"], data["x_test"], data["y_test"],
                              x_init, labelled, make_epoch_order, run_files, data)


def run_flags(experiment, flags):
    """The flags a run directory records: the script's flags and the experiment's name."""
    return {**flags, training.EXPERIMENT_KEY: experiment.script}


def _run_semi_supervised(experiment, flags, prepare_model=None, callbacks=()):
    keras.utils.set_random_seed(flags["seed"])
    if experiment.check_flags is not None:
        experiment.check_flags(flags)
    # first the run directory (usable? locked by another run? made with other flags?), then the data; nothing is
    # written there until both are checked
    run_directory = training.RunDirectory(flags["out_dir"], run_flags(experiment, flags))
    try:
        data = prepare_data(experiment, flags)
        run_directory.check_data(data.fingerprint())  # recorded by fit_semi_supervised, once the run resumes
        for name, array in data.run_files.items():
            np.save(os.path.join(run_directory.path, name), array)
        gan = build_model(experiment, flags)
        if prepare_model is not None:
            prepare_model(gan, data)
        return training.fit_semi_supervised(
            gan, run_directory,
            x_lab=data.x_lab, y_lab=data.y_lab, x_unl=data.x_unl, x_test=data.x_test, y_test=data.y_test,
            x_init=data.x_init, epoch_order=data.make_epoch_order(), batch_size=flags["batch_size"],
            epochs=flags["epochs"], learning_rate_schedule=functools.partial(experiment.learning_rate,
                                                                             flags["learning_rate"]),
            make_grid=experiment.sample_grid, evaluation_tail=experiment.evaluation_tail, callbacks=callbacks,
        )
    finally:
        run_directory.close()


# ---------------------------------------------------------------------- ImageNet


def _run_imagenet(experiment, flags):
    if flags["is_train"]:  # before building the model: bad data fails at once, in one line
        with cli.bad_input():
            imagenet_data.check_dataset(flags["dataset"], flags["image_width"], flags["tfds_data_dir"],
                                        flags["num_classes"])
    keras.utils.set_random_seed(flags["seed"])
    strategy = training.make_strategy(flags["strategy"])
    chief = training.is_chief(strategy)
    print("strategy: %s, %d replica(s)" % (type(strategy).__name__, strategy.num_replicas_in_sync))
    # before building the model: an impossible --towers fails at once, in one line
    with cli.bad_input():
        imagenet_experiment.towers_per_replica(flags, strategy.num_replicas_in_sync)
    if chief:
        os.makedirs(flags["checkpoint_dir"], exist_ok=True)
        os.makedirs(flags["sample_dir"], exist_ok=True)
    gan = build_model(experiment, flags, strategy)
    towers = gan.towers_per_replica * strategy.num_replicas_in_sync
    print("towers: %d per update (%d per replica) x %d real images = %d real images per update"
          % (towers, gan.towers_per_replica, flags["batch_size"], towers * flags["batch_size"]))
    manager, restored = training.open_imagenet_checkpoints(gan, flags["checkpoint_dir"])
    if restored:
        print(" [*] Load SUCCESS (%s, step %d)" % (restored, int(gan.step.numpy())))
    else:
        print(" [!] Load failed...")

    if not flags["is_train"]:
        cli.require(manager.latest_checkpoint is not None,
                    "--nois_train needs a checkpoint in %s; train first." % flags["checkpoint_dir"])
        samples = np.concatenate([gan.sample(flags["batch_size"], seed=i).numpy()
                                  for i in range(flags["num_test_batches"])])
        cols = int(np.sqrt(samples.shape[0]))
        rows = samples.shape[0] // cols
        path = os.path.join(flags["sample_dir"], "test.png")
        if chief:
            save_image_grid(samples, (rows, cols), path)
            print("wrote %s (%dx%d samples)" % (path, rows, cols))
        return None

    with cli.bad_input():
        dataset = imagenet_data.distribute(strategy, gan.towers_per_replica * flags["batch_size"], flags["dataset"],
                                           flags["image_width"], seed=flags["seed"], data_dir=flags["tfds_data_dir"])
    if chief:
        training.write_json_atomic(os.path.join(flags["checkpoint_dir"], "flags.json"), run_flags(experiment, flags))
    monitor = training.ImageNetTrainingMonitor(
        manager if chief else None, flags["sample_dir"], flags["tensorboard_dir"], flags["print_every_secs"],
        flags["sample_every_secs"], flags["checkpoint_every_secs"], chief=chief,
    )
    steps = flags["max_steps"] - int(gan.step.numpy()) if flags["max_steps"] else 10 ** 15
    guard = training.NonFiniteGuard(manager, where=lambda epoch, batch: "step %d" % int(gan.step.numpy()))
    print("TRAINING")
    diverged = False
    try:
        if steps > 0:
            gan.fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=[guard, monitor], verbose=0, shuffle=False)
    except KeyboardInterrupt:
        print("Interrupted at step %d." % int(gan.step.numpy()))
    except training.NonFiniteError:
        diverged = True  # nothing non-finite is saved
        raise
    finally:
        if chief and not diverged:
            print(" [*] Saved %s" % training.save_checkpoint(manager, gan))
    print("DONE TRAINING")
    return None


# ---------------------------------------------------------------------- entry point


def run(experiment, flags, prepare_model=None, callbacks=()):
    """Run ``experiment`` with ``flags`` as its original script does: a semi-supervised experiment trains in (and
    resumes) the run directory ``--out_dir`` and returns its summary; ImageNet trains for ``--max_steps`` (or
    writes ``test.png`` with ``--nois_train``).

    Semi-supervised only, for tools (the comparison with the original): ``prepare_model(gan, data)`` is called
    once the model is built, before training (``data``: the :class:`SemiSupervisedData`), and ``callbacks`` are
    added after the run's own."""
    _check(experiment)
    if isinstance(experiment, ImageNetExperiment):
        pprint.PrettyPrinter().pprint(flags)
        return _run_imagenet(experiment, flags)
    print(flags)
    return _run_semi_supervised(experiment, flags, prepare_model, callbacks)
