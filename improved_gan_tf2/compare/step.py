"""Step mode: the data-dependent init and K training iterations of the original (Theano, through :mod:`.harness`)
and of this port from the same state on the same inputs and the same random numbers, compared tensor by tensor.

1. Inputs: the init batch (500 images) and, per step, a labelled batch with its labels, an unlabelled batch and a
   second unlabelled batch (feature matching). MNIST: the shipped sample; CIFAR-10/SVHN: a small synthetic set
   written in the original's format and read back with this project's loader. The random numbers -- the
   generator's z of every call, every Gaussian-noise layer's normals and every dropout mask, at the scripts' own
   sigma and dropout rates -- come from :mod:`.dropins.fed_random`, fed to both sides (:mod:`.harness`,
   :mod:`.feeds`).
2. Precision: ``float64`` (the default) runs both sides in float64 (Theano ``floatX=float64``; the port built
   with float64 variables, optimizer state, averages and metrics); ``float32`` runs both in float32 and the
   original a second time in float64, whose distance from its float32 run is the original's own spread.
3. The original's parameters from before its data-dependent init are loaded into the port
   (:mod:`improved_gan_tf2.port`), the port's own init runs on the same batch and noise and is compared; then the
   original's post-init parameters are loaded, the average set to zero and the unmodified
   ``SemiSupervisedGAN.train_step`` runs K times. After every step: every parameter tensor of both networks, the
   parameter averages, ``loss_lab``, ``loss_unl``, ``train_err`` and every generator loss, judged by
   :class:`.judge.Judge` (no waiver; the zero-update exception is shown by both sides' gradients).

Exit status 0 when every comparison passes, 1 otherwise (with the first divergence named). The last line is
``max_rel_diff=<float> steps=<K> script=<NAME> precision=<P>``.
"""
import contextlib
import os
import tempfile
import time

import numpy as np

from improved_gan_tf2.compare import env as original_env
from improved_gan_tf2.compare import judge as judging
from improved_gan_tf2.compare.run import SYNTHETIC_COUNT
from improved_gan_tf2.compare.scripts import UsageError

BATCH = 100
INIT_BATCH = 500
AVERAGE_RATE = 1e-4
DEFAULT_STEPS = 5


# ---------------------------------------------------------------------------------------------- inputs


def load_step_data(script, seed, work_dir):
    """``(x_train, y_train, description)`` in the port's layout (NHWC or flat), float32 as both sides read them."""
    if script.dataset == "mnist":
        from improved_gan_tf2.data import load_mnist

        data = load_mnist(dataset="mnist_sample")
        return data["x_train"], data["y_train"], "the shipped MNIST sample (4,000 training digits)"
    from improved_gan_tf2.data.writers import write_synthetic

    write_synthetic(script.dataset, work_dir, n_train=1000, n_test=200, seed=seed)
    if script.dataset == "cifar10":
        from improved_gan_tf2.data import load_cifar10

        data = load_cifar10(work_dir, dataset="cifar10_batches")
    else:
        from improved_gan_tf2.data import load_svhn

        data = load_svhn(work_dir, dataset="svhn_mat")
    return data["x_train"], data["y_train"], (f"a synthetic {script.dataset} set of 1,000 images in the original's "
                                              f"format, read back with this project's loader")


def to_original_layout(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x


def make_inputs(script, steps, seed, x_train, y_train):
    """The step-mode batches in the port's layout (images); the random numbers are not here (fed_random)."""
    rng = np.random.RandomState(seed)
    count = 10 if script.dataset == "mnist" else SYNTHETIC_COUNT
    labelled = np.concatenate([rng.permutation(np.flatnonzero(y_train == c))[:count] for c in range(10)])
    inputs = {
        "x_init": x_train[rng.permutation(len(x_train))[:INIT_BATCH]],
        "lr": np.float64(script.learning_rate),
        "generator_steps": np.int64(script.generator_steps),
        "x_lab": [], "y_lab": [], "x_unl": [], "x_unl2": [],
    }
    for _ in range(steps):
        idx = rng.permutation(labelled)[:BATCH]
        inputs["x_lab"].append(x_train[idx])
        inputs["y_lab"].append(y_train[idx].astype(np.int32))
        inputs["x_unl"].append(x_train[rng.randint(0, len(x_train), BATCH)])
        inputs["x_unl2"].append(x_train[rng.randint(0, len(x_train), BATCH)])
    for key in ("x_lab", "y_lab", "x_unl", "x_unl2"):
        inputs[key] = np.stack(inputs[key])
    return inputs


def original_inputs(inputs):
    out = dict(inputs)
    out["x_init"] = to_original_layout(inputs["x_init"])
    for key in ("x_lab", "x_unl", "x_unl2"):
        out[key] = np.stack([to_original_layout(x) for x in inputs[key]])
    return out


# --------------------------------------------------------------------------------------------- original


def harness_command(python, root, script_file, mode, output, seed, gan_shape, width_scale, inputs=None,
                    script_args=(), perturb=0.0):
    """The command line of :mod:`.harness`. ``gan_shape``: ``(joint_discriminator_pass, feature_matching)`` of
    the port's model, which decide how the random numbers are drawn."""
    harness = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
    joint, feature_matching = gan_shape
    cmd = [python, harness, f"--mode={mode}", f"--scripts_dir={original_env.scripts_dir(root)}",
           f"--script_file={script_file}", f"--output={output}", f"--seed={seed}", f"--width_scale={width_scale}"]
    cmd += ["--joint_discriminator_pass"] if joint else []
    cmd += ["--feature_matching"] if feature_matching else []
    cmd += [f"--inputs={inputs}"] if inputs else []
    cmd += [f"--perturb={perturb!r}"] if perturb else []
    if script_args:
        cmd += ["--"] + list(script_args)
    return cmd


def run_harness(cmd, root, floatx, cwd, log=print, on_line=None):
    """Run the harness command in the original's environment with ``floatX=floatx``; returns its output lines."""
    env = original_env.theano_env(root)
    env["THEANO_FLAGS"] += f",floatX={floatx}"  # the last occurrence of a Theano flag wins
    label = f"original({floatx})"

    def each_line(line):
        if line.startswith("harness:"):
            log(label + " " + line.rstrip())
        if on_line is not None:
            on_line(line)

    def failure(returncode, lines):
        tail = "\n".join(line.rstrip() for line in lines[-25:])
        return f"the original's harness failed (exit {returncode}):\n{tail}"

    return original_env.stream_process(cmd, each_line, failure, env=env, cwd=cwd)


def read_npz(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def original_list(result, prefix):
    n = sum(1 for k in result if k.startswith(prefix + "_") and k[len(prefix) + 1:].isdigit())
    return [result[f"{prefix}_{i}"] for i in range(n)]


# ------------------------------------------------------------------------------------------------- port


@contextlib.contextmanager
def keras_floatx(dtype, networks=False):
    """Keras' floatx set to ``dtype`` inside the block (constants Keras creates follow it). With ``networks=True``
    also the global dtype policy (once materialised, it no longer follows floatx) and the CIFAR/SVHN networks'
    float32 output layers' dtype, so that networks built inside compute in ``dtype``."""
    import keras

    floatx = keras.config.floatx()
    if networks:
        import improved_gan_tf2.networks.cifar_svhn as cifar_svhn

        policy, output_dtype = keras.config.dtype_policy(), cifar_svhn.OUTPUT_DTYPE
    keras.config.set_floatx(dtype)
    if networks:
        keras.config.set_dtype_policy(dtype)
        cifar_svhn.OUTPUT_DTYPE = dtype
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        if networks:
            keras.config.set_dtype_policy(policy)
            cifar_svhn.OUTPUT_DTYPE = output_dtype


def build_port(script, width_scale, dtype="float32"):
    """The port's GAN for ``script`` at the original's defaults (``width_scale`` aside), every layer computing in
    ``dtype`` (Keras' floatx, and the CIFAR/SVHN networks' float32 output layers, during the build)."""
    from improved_gan_tf2 import experiments

    flags = dict(script.experiment.default_flags(), unlabeled_weight=1.0, learning_rate=script.learning_rate,
                 width_scale=width_scale)
    with keras_floatx(dtype, networks=True):
        return experiments.build_model(script.experiment, flags)


def port_lists(gan):
    from improved_gan_tf2 import port

    return port.original_params(gan.discriminator), port.original_params(gan.generator)


def port_averages(gan):
    """The port's parameter averages in the original's trainable order and layout."""
    from improved_gan_tf2 import port

    by_id = {id(v): a for v, a in zip(gan.parameter_average._variables, gan.parameter_average.averages)}
    out = []
    for slot in port.original_parameter_slots(gan.discriminator):
        if slot.trainable and slot.variable is not None:
            out.append(np.ascontiguousarray(slot.to_original(np.asarray(by_id[id(slot.variable)].numpy()))))
    return out


def trainable_slots(model):
    from improved_gan_tf2 import port

    return [s for s in port.original_parameter_slots(model) if s.trainable and s.variable is not None]


def to_original_gradients(model, gradients):
    """The port's gradients (its trainable variables' order) in the original's trainable order and layout."""
    by_id = {id(v): g for v, g in zip(model.trainable_variables, gradients)}
    return [np.ascontiguousarray(s.to_original(np.asarray(by_id[id(s.variable)]))) for s in trainable_slots(model)]


def set_port_averages_to_zero(gan):
    for average in gan.parameter_average.averages:
        average.assign(np.zeros(average.shape, average.dtype.as_numpy_dtype))


def predicted_averages(trajectory, trainable_mask):
    """The original's averages after each step from its full parameter lists ``trajectory[0..K]`` (0: after init):
    ``a_k = a_{k-1} + 1e-4 (p_{k-1} - a_{k-1})``, the parameters from before step k's update."""
    current = [np.zeros(p.shape, np.float64) for p, t in zip(trajectory[0], trainable_mask) if t]
    out = []
    for k in range(1, len(trajectory)):
        params = [np.asarray(p, np.float64) for p, t in zip(trajectory[k - 1], trainable_mask) if t]
        current = [a + AVERAGE_RATE * (p - a) for a, p in zip(current, params)]
        out.append([a.copy() for a in current])
    return out


def slot_names(model, original_names):
    from improved_gan_tf2 import port

    slots = port.original_parameter_slots(model)
    if len(slots) != len(original_names):
        raise RuntimeError(f"{model.name}: the port has {len(slots)} parameter slots, the original "
                           f"{len(original_names)} parameters ({', '.join(map(str, original_names))})")
    return [f"{s.name} [{o}]" for s, o in zip(slots, original_names)]


class Names:
    """The compared tensors' names (port slot and original parameter) and trainable masks, from one harness
    output and the port's model."""

    def __init__(self, gan, result):
        self.disc = slot_names(gan.discriminator, result["disc_names"])
        self.gen = slot_names(gan.generator, result["gen_names"])
        self.disc_mask = [bool(t) for t in result["disc_trainable"]]
        self.gen_mask = [bool(t) for t in result["gen_trainable"]]
        self.disc_trainable = [n for n, t in zip(self.disc, self.disc_mask) if t]
        self.gen_trainable = [n for n, t in zip(self.gen, self.gen_mask) if t]


def check_precision(precision):
    if precision not in judging.PRECISIONS:
        raise UsageError(f"--precision must be float64 or float32, got {precision!r}")
    return precision


def check_width_scale(script, width_scale):
    width_scale = 1.0 if width_scale is None else float(width_scale)
    if script.dataset == "mnist" and width_scale != 1.0:
        raise UsageError("--width_scale applies to the CIFAR-10/SVHN scripts only")
    if not width_scale > 0:
        raise UsageError(f"--width_scale must be > 0, got {width_scale}")
    return width_scale


def gan_shape(gan):
    return gan.joint_discriminator_pass, gan.generator_loss == "feature_matching"


# ------------------------------------------------------------------------------------------------ driver


def run_step_mode(script, args, log=print):
    """Step mode (see the module docstring); returns the exit status."""
    from improved_gan_tf2.compare import feeds

    precision = check_precision(getattr(args, "precision", "float64"))
    width_scale = check_width_scale(script, args.width_scale)
    root = original_env.env_dir(args.env_dir)
    python = original_env.check_env(root, args.original_dir)
    work = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix=f"compare_step_{script.name}_"))
    os.makedirs(work, exist_ok=True)
    started = time.time()

    x_train, y_train, source = load_step_data(script, args.seed, work)
    inputs = make_inputs(script, args.steps, args.seed, x_train, y_train)
    inputs_path = os.path.join(work, "inputs.npz")
    np.savez(inputs_path, **original_inputs(inputs))
    gan = build_port(script, width_scale, precision)
    feed = feeds.PortFeed(gan, args.seed).install()
    recorder = feeds.Recorder(gan)
    log(f"step mode: {script.name}, {args.steps} steps, batch {BATCH}, lr {script.learning_rate}, precision "
        f"{precision}, data: {source}" + (f", widths x{width_scale}" if width_scale != 1.0 else ""))
    log(f"random numbers fed to both sides (seed {args.seed}): z of every generator call and {feed.describe()}; "
        f"{script.generator_steps} generator update(s) per discriminator update")

    script_file = os.path.join(original_env.scripts_dir(root), script.file)

    def original(floatx):
        path = os.path.join(work, f"original_{floatx}.npz")
        if getattr(args, "reuse_original", False) and os.path.exists(path):
            log(f"reusing {path} (--reuse_original)")
        else:
            cmd = harness_command(python, root, script_file, "step", path, args.seed, gan_shape(gan), width_scale,
                                  inputs=inputs_path)
            run_harness(cmd, root, floatx, work, log)
        return read_npz(path)

    result = original(precision)
    control = original("float64") if precision == "float32" else None

    def controls(prefix):
        return original_list(control, prefix) if control is not None else None

    import tensorflow as tf

    from improved_gan_tf2 import port

    names = Names(gan, result)
    judge = judging.Judge(precision, log, learning_rate=script.learning_rate)
    dtype = precision
    init_disc, init_gen = original_list(result, "init_disc"), original_list(result, "init_gen")

    # init: the original's pre-init parameters, the port's own data-dependent init on the same batch and noise
    with keras_floatx(dtype):
        port.load_original_params(gan.discriminator, original_list(result, "pre_disc"))
        port.load_original_params(gan.generator, original_list(result, "pre_gen"))
        feed.expect_init()
        gan.initialize(tf.constant(inputs["x_init"], dtype), BATCH)
        feed.check_done("the init")
        disc_now, gen_now = port_lists(gan)
        log("init (the port's data-dependent init from the original's initial parameters):")
        judge.compare("init", "disc", names.disc, init_disc, disc_now, controls("init_disc"))
        judge.compare("init", "gen", names.gen, init_gen, gen_now, controls("init_gen"))

        # steps from the original's post-init parameters, zero moments and averages
        port.load_original_params(gan.discriminator, init_disc)
        port.load_original_params(gan.generator, init_gen)
        set_port_averages_to_zero(gan)
        trajectory = [init_disc] + [original_list(result, f"step{k}_disc") for k in range(1, args.steps + 1)]
        before = predicted_averages(trajectory, names.disc_mask)
        sanity = 0.0
        for k in range(1, args.steps + 1):
            for metric in gan.metrics:
                metric.reset_state()
            recorder.clear()
            batch = tuple(tf.constant(inputs[key][k - 1], dt) for key, dt in
                          (("x_lab", dtype), ("y_lab", "int32"), ("x_unl", dtype), ("x_unl2", dtype)))
            log(f"step {k}:")
            logs = {name: float(value) for name, value in gan.train_step(batch).items()}
            feed.check_done(f"step {k}")
            port_grad_disc = to_original_gradients(gan.discriminator, recorder.gradients["disc"][0])
            port_grad_gen = to_original_gradients(gan.generator, recorder.gradients["gen"][0])
            judge.zero_updates.observe(names.disc_trainable, original_list(result, f"step{k}_grad_disc"),
                                       port_grad_disc)
            judge.zero_updates.observe(names.gen_trainable, original_list(result, f"step{k}_grad_gen"),
                                       port_grad_gen)
            o_lab, o_unl, o_err = result["losses"][k - 1]
            o_gen = list(result["gen_losses"][k - 1])
            loss_names = ["loss_lab", "loss_unl", "train_err"] + [f"loss_gen[{j}]" for j in range(len(o_gen))]
            judge.losses(f"step {k}", loss_names, [o_lab, o_unl, o_err] + o_gen,
                         [logs["loss_lab"], logs["loss_unl"], logs["train_err"]] + recorder.generator_losses,
                         list(control["losses"][k - 1]) + list(control["gen_losses"][k - 1])
                         if control is not None else None)
            disc_now, gen_now = port_lists(gan)
            where = f"step {k}"
            judge.compare(where, "disc", names.disc, trajectory[k], disc_now, controls(f"step{k}_disc"), k,
                          names.disc_trainable)
            judge.compare(where, "gen", names.gen, original_list(result, f"step{k}_gen"), gen_now,
                          controls(f"step{k}_gen"), k, names.gen_trainable)
            original_avg = original_list(result, f"step{k}_avg")
            sanity = max(sanity, max(judging.rel_diff(p, a) for p, a in zip(before[k - 1], original_avg)))
            judge.compare(where, "avg", names.disc_trainable, original_avg, port_averages(gan),
                          controls(f"step{k}_avg"), k, names.disc_trainable)

    log(f"time: {time.time() - started:.0f}s; inputs and the original's output in {work}")
    log(f"the original's averages follow a_k = a_(k-1) + 1e-4 (p_(k-1) - a_(k-1)) (before the step's update) on its "
        f"own parameters to {sanity:.1e}")
    return finish(judge, log, f"steps={args.steps} script={script.name} precision={precision}")


def finish(judge, log, tail):
    """The closing lines of step and loop mode; the exit status."""
    for line in judge.summary_lines():
        log(line)
    log(f"compared {judge.checked} tensors and losses; the largest relative difference: {judge.max_diff:.3e} "
        f"({judge.max_where})")
    if judge.first_failure:
        log(f"FIRST DIVERGENCE: {judge.first_failure}")
    log(f"max_rel_diff={judge.max_diff:.3e} {tail}")
    return 1 if judge.first_failure else 0
