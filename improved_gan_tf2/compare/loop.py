"""Loop mode: both sides run their whole training loop for E epochs on the same data, from the same initial
parameters, with the same random numbers, and every epoch is compared.

- The original: the patched script itself, run by :mod:`.harness` in loop mode (its data loading, labelled choice,
  labelled tiling, init batch, learning-rate schedule, test loop and per-epoch line), with z, Gaussian noise and
  dropout fed from :mod:`.dropins.fed_random`; it records the parameters before and after the init and at the end
  of every epoch, and the epoch means of ``loss_lab``, ``loss_unl`` and ``train_err``.
- The port: the project's runner (:func:`improved_gan_tf2.experiments.runner.run`, the code path of the scripts in
  ``mnist_svhn_cifar/``) with the same flags, the original's initial parameters loaded before its own
  data-dependent init and the same random numbers fed (:mod:`.feeds`), training eagerly.
- Compared per epoch: the per-epoch line's four figures as printed (``loss_lab``, ``loss_unl``, ``train err``,
  ``test err``), the same losses at full precision, the test error of the averaged parameters, and every parameter
  tensor of both networks and every parameter average (:class:`.judge.Judge`).

What the loop exercises that step mode does not: the labelled choice and tiling (CIFAR-10/SVHN: a ``--count`` whose
labelled set does not divide the unlabelled one, so that floor and ceil tiling differ), the epoch order, the init batch, the
learning-rate ramp (a ramp short enough to act within E epochs, the same on both sides: the original's ``epoch /
400.`` or ``epoch / 300.`` is replaced by ``epoch / R`` with ``R = (E - 1) / 2.5``, so the last epoch runs at half
the rate), evaluation with the averaged parameters, the SVHN scripts' test windows and, for the custom-labels
script, its labels file and data split (on the shipped sample: 1,000 training and 4,000 test digits instead of
8,000 and 2,000). MNIST trains on 1,000 digits here (:data:`MNIST_LOOP_TRAIN`), 10 iterations an epoch.
"""
import contextlib
import dataclasses
import io
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from improved_gan_tf2.compare import env as original_env
from improved_gan_tf2.compare import judge as judging
from improved_gan_tf2.compare import step as stepping
from improved_gan_tf2.compare.patcher import Patch, apply_patches
from improved_gan_tf2.compare.run import LINE
from improved_gan_tf2.compare.scripts import UsageError

#: Labelled examples per class in loop mode. CIFAR-10/SVHN: 330 labelled of 1,000 synthetic images, so that
#: ceil tiling (the scripts': 1,320 rows) and floor tiling (990 rows, a short last batch) differ. MNIST: the
#: scripts' 10; the original MNIST scripts only run when 10 * count divides the unlabelled set (a short last
#: labelled batch fails in ``output_before_softmax_lab[T.arange(args.batch_size), labels]``), and then floor and
#: ceil tiling are the same.
LOOP_COUNTS = {"mnist": 10, "cifar10": 33, "svhn": 33}
#: MNIST's training digits in loop mode (the shipped sample's first ones): 10 iterations an epoch, so that a few
#: epochs stay within the ~30 iterations in which the two sides agree to rounding level. Beyond that MNIST's
#: training is chaotic at this scale: in a 40-iteration epoch the control run's own distance from the original grew
#: from 6e-10 to 1.2e-5 (2e4-fold), and the port's from 1e-8 to 1e-2 in the custom-labels script.
MNIST_LOOP_TRAIN = 1000
CUSTOM_TRAIN_EXAMPLES = MNIST_LOOP_TRAIN
#: Loop mode's limit: this many times the control run's largest relative distance from the original at that epoch
#: (over every tensor and loss compared).
LOOP_MULTIPLE = 100.0
#: The control run's relative perturbation of every initial parameter, z and Gaussian-noise normal: 2**-44
#: (5.7e-14, 256 units in the last place of a float64): the size of the port's rounding differences, which are
#: larger than one unit (other summation orders, oneDNN kernels).
CONTROL_PERTURBATION = 2.0 ** -44
RAMPS = {"cifar10": "epoch/400.", "svhn": "epoch/300."}


def ramp_epochs(epochs):
    """``R`` with ``3 - (E - 1) / R = 0.5``: the last of E epochs at half the learning rate (None for E = 1)."""
    return None if epochs < 2 else (epochs - 1) / 2.5


def loop_patches(script, ramp):
    """The patches loop mode makes to the patched script (beyond ``compare setup``'s): the ramp, and the
    custom-labels script's 8,000 training examples."""
    patches = []
    if ramp is not None and script.dataset in RAMPS:
        patches.append(Patch(script.file, RAMPS[script.dataset], f"epoch/{ramp!r}",
                             f"learning-rate ramp epoch/{ramp!r}", "a ramp that acts within the compared epochs"))
    if script.experiment.labelled_choice == "custom":
        n = CUSTOM_TRAIN_EXAMPLES
        for old, new, count in (("[0:8000]", f"[0:{n}]", 2), ("[:8000]", f"[:{n}]", 1), ("[8000:]", f"[{n}:]", 2)):
            patches.append(Patch(script.file, old, new, f"{old} -> {new}", "the shipped sample has 5,000 digits",
                                 count))
    return patches


def write_loop_data(script, data_dir, seed):
    """The data both sides read, in the original's formats; returns ``(port flags, original args, description)``."""
    from improved_gan_tf2.data import load_mnist
    from improved_gan_tf2.data.writers import write_mnist_npz, write_synthetic

    os.makedirs(data_dir, exist_ok=True)
    if script.dataset != "mnist":
        write_synthetic(script.dataset, data_dir, n_train=1000, n_test=200)
        dataset = "cifar10_batches" if script.dataset == "cifar10" else "svhn_mat"
        return ({"dataset": dataset, "data_dir": data_dir}, [f"--data_dir={data_dir}"],
                f"a synthetic {script.dataset} set (1,000 / 200)")
    sample = load_mnist(dataset="mnist_sample")
    path = os.path.join(data_dir, "mnist.npz")
    if script.experiment.labelled_choice != "custom":
        n = MNIST_LOOP_TRAIN
        write_mnist_npz(path, sample["x_train"][:n], sample["y_train"][:n], sample["x_test"], sample["y_test"],
                        n_valid=n // 5)
        return ({"dataset": "mnist_npz", "data_dir": data_dir}, [],
                f"the shipped MNIST sample's first {n:,} training digits and its 1,000 test digits")
    # the custom-labels script trains on the first test images: the sample's 5,000 digits as the test set
    x_all = np.concatenate([sample["x_train"], sample["x_test"]])
    y_all = np.concatenate([sample["y_train"], sample["y_test"]])
    write_mnist_npz(path, sample["x_test"], sample["y_test"], x_all, y_all)
    rng = np.random.RandomState(seed)
    labels = y_all.astype(np.int32)  # the original feeds np.load(--labels) to a T.ivector as it is
    labels = labels.copy()
    noisy = rng.rand(len(labels)) < 0.1
    labels[noisy] = rng.randint(0, 10, noisy.sum())
    labels_path = os.path.join(data_dir, "labels.npy")
    np.save(labels_path, labels)
    return ({"dataset": "mnist_npz", "data_dir": data_dir, "labels": labels_path,
             "train_examples": CUSTOM_TRAIN_EXAMPLES}, [f"--labels={labels_path}", "--balance=True"],
            f"the shipped MNIST sample's 5,000 digits as the test set (the first {CUSTOM_TRAIN_EXAMPLES:,} train, the "
            f"rest test), labels with 10% replaced at random ({labels_path})")


def float64_images(load_data, dataset):
    """``load_data`` whose images are float64, scaled in float64 from the same uint8 values as the original does
    with ``floatX=float64`` (the port's loaders round to float32; SVHN's ``/ 127.5`` is not exact there)."""
    def load(flags):
        data = dict(load_data(flags))
        for key, value in list(data.items()):
            if key.startswith("x_") and isinstance(value, np.ndarray) and value.dtype == np.float32:
                if dataset == "svhn":
                    pixels = np.rint(value.astype(np.float64) * 127.5 + 127.5)
                    data[key] = (-127.5 + pixels) / 127.5
                else:
                    data[key] = value.astype(np.float64)
        return data

    return load


def epoch_recorder(get_gan, store):
    """A Keras callback keeping the port's parameters after the init (``store["init"]``) and each epoch's logs,
    parameters and averages (``store["epochs"]``); ``get_gan()`` gives the model once it is built."""
    import keras

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            store["init"] = stepping.port_lists(get_gan())

        def on_epoch_end(self, epoch, logs=None):
            gan = get_gan()
            disc, gen = stepping.port_lists(gan)
            store["epochs"].append({"logs": dict(logs or {}), "disc": disc, "gen": gen,
                                    "avg": stepping.port_averages(gan)})

    return Recorder()


class Tee(io.TextIOBase):
    """Stands in for standard output: each line is written to ``target`` (the standard output it replaces) with a
    ``port:`` prefix, and kept."""

    def __init__(self, target):
        self.target, self.buffer, self.text = target, "", []

    def write(self, text):
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            self.text.append(line)
            self.target.write("port: " + line + "\n")
        return len(text)

    def flush(self):
        self.target.flush()


def figures(line):
    """The four printed figures of a per-epoch line (the time left out)."""
    match = LINE.match(line)
    return match.groups()[2:] if match else None


def printed_figures_agree(a, b):
    """Whether two per-epoch lines print the same four figures, each allowed one unit in its last printed place
    (a value within rounding of the printed precision's boundary may print either way; the full-precision values
    are judged apart)."""
    fa, fb = (figures(a) if a else None), (figures(b) if b else None)
    if fa is None or fb is None:
        return False
    return all(abs(float(x) - float(y)) <= 1.5 * 10.0 ** -len(x.split(".")[-1]) for x, y in zip(fa, fb))


def run_loop_mode(script, args, log=print):
    from improved_gan_tf2 import port
    from improved_gan_tf2.compare import feeds
    from improved_gan_tf2.experiments import runner

    precision = stepping.check_precision(getattr(args, "precision", "float64"))
    if precision != "float64":
        raise UsageError("loop mode runs in float64 only (--precision=float64): in float32 the two sides' own "
                         "round-off separates their trajectories within a few steps")
    if args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    width_scale = stepping.check_width_scale(script, args.width_scale)
    root = original_env.env_dir(args.env_dir)
    python = original_env.check_env(root, args.original_dir)
    work = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix=f"compare_loop_{script.name}_"))
    data_dir = os.path.join(work, "data")
    started = time.time()

    port_data, original_args, source = write_loop_data(script, data_dir, args.seed)
    ramp = ramp_epochs(args.epochs) if script.experiment.ramp_epochs is not None else None
    count = LOOP_COUNTS[script.dataset]
    experiment = script.experiment
    if ramp is not None:
        experiment = dataclasses.replace(experiment, ramp_epochs=ramp)
    experiment = dataclasses.replace(experiment, load_data=float64_images(experiment.load_data, script.dataset))
    flags = dict(experiment.default_flags(), seed=args.seed, count=count, epochs=args.epochs,
                 out_dir=os.path.join(work, "port_run"), width_scale=width_scale, jit_compile=False, **port_data)
    if "seed_data" in flags:
        flags["seed_data"] = args.seed
    flags = {k: v for k, v in flags.items() if k in experiment.default_flags()}
    log(f"loop mode: {script.name}, {args.epochs} epoch(s), seed {args.seed}, --count={count}, precision float64, "
        f"data: {source}" + (f", widths x{width_scale}" if width_scale != 1.0 else "")
        + (f", learning-rate ramp min(3 - epoch / {ramp:g}, 1) on both sides" if ramp is not None else ""))

    # the original: its script with loop mode's patches, next to its data (the MNIST scripts read mnist.npz there)
    with open(os.path.join(original_env.scripts_dir(root), script.file)) as stream:
        text = apply_patches(stream.read(), loop_patches(script, ramp), script.file)
    script_file = os.path.join(data_dir, script.file)
    with open(script_file, "w") as stream:
        stream.write(text)
    script_args = [f"--seed={args.seed}", f"--count={count}", f"--epochs={args.epochs}"] + original_args
    if "seed_data" in flags:
        script_args.append(f"--seed_data={args.seed}")
    shape = stepping.gan_shape(stepping.build_port(script, width_scale, "float64"))  # how the port draws

    def original(name, perturb=0.0):
        """One run of the original (``perturb``: the control run); its output and its log lines."""
        output, log_path = os.path.join(work, name + ".npz"), os.path.join(work, name + ".log")
        if getattr(args, "reuse_original", False) and os.path.exists(output) and os.path.exists(log_path):
            log(f"reusing {output} (--reuse_original)")
        else:
            cmd = stepping.harness_command(python, root, script_file, "loop", output, args.seed, shape, width_scale,
                                           script_args=script_args, perturb=perturb)
            label = "control" if perturb else "original"
            lines = stepping.run_harness(cmd, root, "float64", data_dir, log,
                                         on_line=lambda line: LINE.match(line) and log(f"{label}: " + line.rstrip()))
            with open(log_path, "w") as stream:
                stream.write("".join(lines))
        with open(log_path) as stream:
            return stepping.read_npz(output), stream.read().splitlines()

    result, original_lines = original("original_loop")
    log(f"the control: the original again, every initial parameter and every fed z and Gaussian-noise normal "
        f"multiplied by 1 +- {CONTROL_PERTURBATION:.1e} (256 units in the last place): how far rounding-level "
        "differences at every step carry over the epochs")
    control, control_log = original("original_loop_control", CONTROL_PERTURBATION)
    control_lines = [line for line in control_log if LINE.match(line)]


    # the port: the runner, in float64, from the original's initial parameters, with the same random numbers
    store = {"epochs": []}
    state = {}

    def prepare_model(gan, data):
        port.load_original_params(gan.discriminator, stepping.original_list(result, "pre_disc"))
        port.load_original_params(gan.generator, stepping.original_list(result, "pre_gen"))
        state["feed"] = feeds.PortFeed(gan, args.seed).install()
        state["feed"].expect_init()
        state["gan"] = gan
        gan.run_eagerly = True

    shutil.rmtree(flags["out_dir"], ignore_errors=True)  # the tool's own run directory: never resumed
    tee = Tee(sys.stdout)
    port_error = None
    with stepping.keras_floatx("float64", networks=True), contextlib.redirect_stdout(tee):
        try:
            runner.run(experiment, flags, prepare_model=prepare_model,
                       callbacks=[epoch_recorder(lambda: state["gan"], store)])
            state["feed"].check_done(f"iteration {state['feed'].t}")
        except Exception as error:  # noqa: BLE001 -- the port failing is a result to report, not a crash
            port_error = f"{type(error).__name__}: {error}"
    if "gan" not in state or "init" not in store:
        raise RuntimeError(f"the port's run failed before training: {port_error}")
    gan = state["gan"]
    records = store["epochs"]

    names = stepping.Names(gan, result)
    judge = judging.Judge("float64", log, learning_rate=script.learning_rate)
    if port_error:
        log(f"the port's run failed after {len(records)} epoch(s): {port_error}")
        judge.fail(f"the port's run failed after {len(records)} epoch(s): {port_error}")
    groups = (("disc", names.disc), ("gen", names.gen), ("avg", names.disc_trainable))
    original_epoch_lines = [line for line in original_lines if LINE.match(line)]
    port_lines = [line for line in tee.text if LINE.match(line)]

    def spread(prefix_of, losses_of):
        """The control's largest relative distance from the original over every tensor and loss of one point."""
        values = [judging.rel_diff(o, c) for group, _ in groups if prefix_of(group)
                  for o, c in zip(stepping.original_list(result, prefix_of(group)),
                                  stepping.original_list(control, prefix_of(group)))]
        values += [judging.rel_diff(o, c) for o, c in losses_of]
        return max(values)

    init_spread = spread(lambda g: f"init_{g}" if g != "avg" else None, [])
    init_limit = LOOP_MULTIPLE * max(init_spread, judging.FLOAT64_FLOOR)
    log(f"init (the port's data-dependent init from the original's initial parameters); the control's spread "
        f"{init_spread:.1e}, limit {init_limit:.1e}:")
    judge.compare("init", "disc", names.disc, stepping.original_list(result, "init_disc"), store["init"][0],
                  limit=init_limit)
    judge.compare("init", "gen", names.gen, stepping.original_list(result, "init_gen"), store["init"][1],
                  limit=init_limit)
    iterations_per_epoch = int(result["iterations"]) // max(args.epochs, 1)
    for e in range(args.epochs):
        where = f"epoch {e}"
        a = original_epoch_lines[e] if e < len(original_epoch_lines) else None
        b = port_lines[e] if e < len(port_lines) else None
        c = control_lines[e] if e < len(control_lines) else None
        if e >= len(records) or a is None or c is None:
            judge.fail(f"{where}: the per-epoch lines differ: original {a!r}, port {b!r}")
            break
        test_errors = [float(figures(line)[3]) for line in (a, c)]
        epoch_spread = spread(lambda g: f"epoch{e}_{g}", zip(list(result["epoch_stats"][e]) + test_errors[:1],
                                                            list(control["epoch_stats"][e]) + test_errors[1:]))
        limit = LOOP_MULTIPLE * max(epoch_spread, judging.FLOAT64_FLOOR)
        log(f"{where}: the control's spread {epoch_spread:.1e}, limit {limit:.1e}")
        log(f"  original: {a}")
        log(f"  port:     {b}")
        if not printed_figures_agree(a, b):
            judge.fail(f"{where}: the per-epoch lines differ: original {a!r}, port {b!r}")
            log("  <-- the printed figures differ")
        logs = records[e]["logs"]
        judge.losses(where, ["loss_lab", "loss_unl", "train_err", "test_err"],
                     list(result["epoch_stats"][e]) + test_errors[:1],
                     [logs["loss_lab"], logs["loss_unl"], logs["train_err"], logs["val_test_err"]], limit=limit)
        steps = (e + 1) * iterations_per_epoch
        for group, group_names in groups:
            judge.compare(where, group, group_names, stepping.original_list(result, f"epoch{e}_{group}"),
                          records[e][group], steps=steps, trainable_names=names.disc_trainable + names.gen_trainable,
                          limit=limit)
    log(f"time: {time.time() - started:.0f}s; data, the original's output and the port's run in {work}")
    return stepping.finish(judge, log, f"epochs={args.epochs} script={script.name} precision=float64")
