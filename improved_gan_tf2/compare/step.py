"""Step mode: K training iterations of the original (Theano, through :mod:`.harness`) and of this port from the
same parameters on the same inputs, compared tensor by tensor.

1. Inputs: the data-dependent-init batch (500 images), per step a labelled batch with its labels, an unlabelled
   batch, a second unlabelled batch (feature matching) and the generator noise z of every generator call (the
   discriminator step's and each generator step's), plus ``z_init`` for the init pass. MNIST: the shipped sample
   (``load_mnist(dataset="mnist_sample")``); CIFAR-10/SVHN: a small synthetic set written in the original's
   format and read back with this project's loader.
2. The original: the harness builds the patched script's model (Gaussian noise std 0, dropout p 0), runs its
   ``init_param`` and K iterations, and saves every parameter list.
3. The port: the same networks (``networks.mnist`` or ``networks.cifar_svhn`` with the same ``width_scale``), noise
   and dropout layers set to 0 as well; the original's parameters from before its init are loaded through
   :mod:`improved_gan_tf2.port`, the port's own init runs on the same batch and z and is compared ("init"); then
   the original's post-init parameters are loaded, the parameter average is set to zero and
   ``SemiSupervisedGAN.train_step`` runs K times, unmodified. The z are fed by giving the model instance a
   ``noise`` attribute that returns the next given array (``train_step`` draws its z through ``self.noise``, one
   call per discriminator step and one per generator step); nothing else of the model is replaced.
4. Per step: the losses of both sides and, per parameter tensor, ``max|port - original| / max|original|``
   (both in the original's layout). The parameter averages are also checked against what each convention
   predicts from the original's own parameter trajectory: the original averages the parameters from *before*
   the step's Adam update (``a_k = a_{k-1} + 1e-4 (p_{k-1} - a_{k-1})``, Theano applies all updates of one
   function at once), the port those from *after* it (``p_k``). That deviation is known; by default the port's
   averages are held to the after-update prediction and the direct comparison is shown beside it
   (``--strict_average`` holds them to the original's own).

Exit status 0 when every compared tensor agrees to 1e-5 after step 1 and to 1e-4 after every later step.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from improved_gan_tf2.compare import env as original_env
from improved_gan_tf2.compare.scripts import UsageError

BATCH = 100
INIT_BATCH = 500
NOISE_DIM = 100
AVERAGE_RATE = 1e-4
STEP1_TOL = 1e-5
STEPK_TOL = 1e-4


# ---------------------------------------------------------------------------------------------- inputs


def load_step_data(script, seed, work_dir):
    """``(x_train, y_train)`` in the port's layout (NHWC or flat), float32 as both sides read them."""
    if script.dataset == "mnist":
        from improved_gan_tf2.data import load_mnist

        data = load_mnist(dataset="mnist_sample")
        return data["x_train"], data["y_train"], "the shipped MNIST sample (4,000 training digits)"
    from improved_gan_tf2.compare.original_data import write_synthetic

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
    """The step-mode inputs in the port's layout (images) -- see the module docstring."""
    rng = np.random.RandomState(seed)
    count = 10 if script.dataset == "mnist" else 40
    labelled = np.concatenate([rng.permutation(np.flatnonzero(y_train == c))[:count] for c in range(10)])
    gen_calls = script.generator_steps
    inputs = {
        "x_init": x_train[rng.permutation(len(x_train))[:INIT_BATCH]],
        "z_init": rng.uniform(size=(BATCH, NOISE_DIM)).astype(np.float32),
        "lr": np.float32(script.learning_rate),
        "x_lab": [], "y_lab": [], "x_unl": [], "x_unl2": [],
        "z_disc": rng.uniform(size=(steps, BATCH, NOISE_DIM)).astype(np.float32),
        "z_gen": rng.uniform(size=(steps, gen_calls, BATCH, NOISE_DIM)).astype(np.float32),
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


def run_harness(python, root, script, inputs_path, output_path, width_scale, log=print):
    harness = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
    cmd = [python, harness, f"--scripts_dir={original_env.scripts_dir(root)}", f"--script={script.name}",
           f"--inputs={inputs_path}", f"--output={output_path}", f"--width_scale={width_scale}"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=original_env.theano_env(root), cwd=os.path.dirname(output_path))
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip())
        if line.startswith("harness:"):
            log("original " + line.rstrip())
    if process.wait() != 0:
        tail = "\n".join(lines[-25:])
        raise RuntimeError(f"the original's harness failed (exit {process.returncode}):\n{tail}")
    with np.load(output_path) as data:
        return {k: data[k] for k in data.files}


def original_list(result, prefix):
    n = sum(1 for k in result if k.startswith(prefix + "_") and k[len(prefix) + 1:].isdigit())
    return [result[f"{prefix}_{i}"] for i in range(n)]


# ------------------------------------------------------------------------------------------------- port


def build_port(script, width_scale):
    """The port's GAN for ``script``, its Gaussian noise and dropout set to 0 (as the harness does)."""
    import keras

    from improved_gan_tf2.layers import GaussianNoise

    if script.dataset == "mnist":
        from improved_gan_tf2.networks.mnist import mnist_feature_matching_gan

        gan = mnist_feature_matching_gan(unlabeled_weight=1.0, learning_rate=script.learning_rate)
    else:
        from improved_gan_tf2.networks.cifar_svhn import cifar_svhn_gan

        gan = cifar_svhn_gan(script.port_experiment, learning_rate=script.learning_rate, width_scale=width_scale)
    silenced = []
    for layer in gan.discriminator.layers:
        if isinstance(layer, GaussianNoise):
            layer.stddev = 0.0
            silenced.append(layer.name)
        elif isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
            silenced.append(layer.name)
    return gan, silenced


class NoiseFeed:
    """Stands in for ``SemiSupervisedGAN.noise``: returns the given z arrays in order."""

    def __init__(self):
        self.queue = []

    def push(self, *arrays):
        self.queue.extend(arrays)

    def __call__(self, batch_size):
        if not self.queue:
            raise RuntimeError("the port drew more z than the original did")
        z = self.queue.pop(0)
        return z

    def check_empty(self, where):
        if self.queue:
            raise RuntimeError(f"{where}: the port drew {len(self.queue)} z fewer than the original did")


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


def set_port_averages_to_zero(gan):
    for average in gan.parameter_average.averages:
        average.assign(np.zeros(average.shape, average.dtype.as_numpy_dtype))


# ------------------------------------------------------------------------------------------- comparison


def rel_diff(original, port):
    original = np.asarray(original, np.float64)
    port = np.asarray(port, np.float64)
    if original.shape != port.shape:
        return float("inf")
    scale = np.abs(original).max() if original.size else 0.0
    diff = np.abs(original - port).max() if original.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def predicted_averages(trajectory, trainable_mask, convention):
    """Averages after each step from the original's full parameter lists ``trajectory[0..K]`` (0: after init):
    ``before`` uses ``p_{k-1}`` at step k (the original), ``after`` uses ``p_k`` (the port)."""
    current = [np.zeros(p.shape, np.float64) for p, t in zip(trajectory[0], trainable_mask) if t]
    out = []
    for k in range(1, len(trajectory)):
        source = trajectory[k - 1] if convention == "before" else trajectory[k]
        params = [np.asarray(p, np.float64) for p, t in zip(source, trainable_mask) if t]
        current = [a + AVERAGE_RATE * (p - a) for a, p in zip(current, params)]
        out.append([a.copy() for a in current])
    return out


class Report:
    def __init__(self, log):
        self.log = log
        self.first_failure = None
        self.max_diff = 0.0

    def tensors(self, step, group, names, originals, ports, tol, counted=True, note=""):
        worst = 0.0
        for name, a, b in zip(names, originals, ports):
            d = rel_diff(a, b)
            worst = max(worst, d)
            flag = ""
            if d > tol:
                flag = "  <-- exceeds %.0e" % tol if counted else "  (not counted)"
                if counted and self.first_failure is None:
                    self.first_failure = f"step {step}, {group} tensor {name}: rel diff {d:.3e} > {tol:.0e}"
            self.log(f"  {group:<9} {name:<52} {str(tuple(np.shape(a))):<18} {d:.3e}{flag}")
        if counted:
            self.max_diff = max(self.max_diff, worst)
        self.log(f"  {group:<9} max {worst:.3e}{note}")
        return worst


def _slot_names(model, original_names):
    from improved_gan_tf2 import port

    slots = port.original_parameter_slots(model)
    if len(slots) != len(original_names):
        raise RuntimeError(f"{model.name}: the port has {len(slots)} parameter slots, the original "
                           f"{len(original_names)} parameters ({', '.join(map(str, original_names))})")
    return [f"{s.name} [{o}]" for s, o in zip(slots, original_names)]


# ------------------------------------------------------------------------------------------------ driver


def run_step_mode(script, args, log=print):
    root = original_env.env_dir(args.env_dir)
    python = original_env.check_env(root, args.original_dir)
    width_scale = 1.0 if args.width_scale is None else float(args.width_scale)
    if script.dataset == "mnist" and width_scale != 1.0:
        raise UsageError("--width_scale applies to the CIFAR-10/SVHN scripts only")
    if not width_scale > 0:
        raise UsageError(f"--width_scale must be > 0, got {width_scale}")
    work = args.work_dir or tempfile.mkdtemp(prefix=f"compare_step_{script.name}_")
    os.makedirs(work, exist_ok=True)
    work = os.path.abspath(work)
    started = time.time()

    x_train, y_train, source = load_step_data(script, args.seed, work)
    inputs = make_inputs(script, args.steps, args.seed, x_train, y_train)
    inputs_path = os.path.join(work, "inputs.npz")
    np.savez(inputs_path, **original_inputs(inputs))
    log(f"step mode: {script.name}, {args.steps} steps, batch {BATCH}, lr {script.learning_rate}, data: {source}"
        + (f", widths x{width_scale}" if width_scale != 1.0 else ""))
    log("both sides: Gaussian noise std 0 and dropout p 0; the same z for every generator call "
        f"({script.generator_steps} generator update(s) per discriminator update)")
    result = run_harness(python, root, script, inputs_path, os.path.join(work, "original.npz"), width_scale, log)

    import tensorflow as tf

    from improved_gan_tf2 import port

    gan, silenced = build_port(script, width_scale)
    log(f"port: noise/dropout layers set to 0: {', '.join(silenced)}")
    feed = NoiseFeed()
    gan.noise = feed  # the z hook: train_step and initialize draw z through self.noise
    disc_names = _slot_names(gan.discriminator, result["disc_names"])
    gen_names = _slot_names(gan.generator, result["gen_names"])
    disc_mask = [bool(t) for t in result["disc_trainable"]]
    avg_names = [n for n, t in zip(disc_names, disc_mask) if t]
    report = Report(log)

    # init: the original's pre-init parameters, the port's own data-dependent init on the same batch and z
    port.load_original_params(gan.discriminator, original_list(result, "pre_disc"))
    port.load_original_params(gan.generator, original_list(result, "pre_gen"))
    feed.push(inputs["z_init"])
    gan.initialize(inputs["x_init"], BATCH)
    feed.check_empty("init")
    disc_now, gen_now = port_lists(gan)
    log("init (the port's data-dependent init from the original's initial parameters):")
    report.tensors(0, "disc", disc_names, original_list(result, "init_disc"), disc_now, STEP1_TOL)
    report.tensors(0, "gen", gen_names, original_list(result, "init_gen"), gen_now, STEP1_TOL)

    # steps from the original's post-init parameters
    port.load_original_params(gan.discriminator, original_list(result, "init_disc"))
    port.load_original_params(gan.generator, original_list(result, "init_gen"))
    set_port_averages_to_zero(gan)
    trajectory = [original_list(result, "init_disc")] + [original_list(result, f"step{k}_disc")
                                                         for k in range(1, args.steps + 1)]
    before = predicted_averages(trajectory, disc_mask, "before")
    after = predicted_averages(trajectory, disc_mask, "after")
    average_notes = []
    for k in range(1, args.steps + 1):
        tol = STEP1_TOL if k == 1 else STEPK_TOL
        feed.push(inputs["z_disc"][k - 1], *inputs["z_gen"][k - 1])
        for metric in gan.metrics:
            metric.reset_state()
        batch = tuple(tf.convert_to_tensor(inputs[key][k - 1]) for key in ("x_lab", "y_lab", "x_unl", "x_unl2"))
        logs = {name: float(value) for name, value in gan.train_step(batch).items()}
        feed.check_empty(f"step {k}")
        o_lab, o_unl, o_err = result["losses"][k - 1]
        o_gen = result["gen_losses"][k - 1]
        log(f"step {k}:")
        log(f"  losses    original loss_lab={o_lab:.6f} loss_unl={o_unl:.6f} train_err={o_err:.4f} "
            f"loss_gen={', '.join(f'{v:.6f}' for v in o_gen)}")
        log(f"  losses    port     loss_lab={logs['loss_lab']:.6f} loss_unl={logs['loss_unl']:.6f} "
            f"train_err={logs['train_err']:.4f} loss_gen={logs['loss_gen']:.6f}"
            + (" (the last generator update's)" if len(o_gen) > 1 else ""))
        disc_now, gen_now = port_lists(gan)
        report.tensors(k, "disc", disc_names, trajectory[k], disc_now, tol)
        report.tensors(k, "gen", gen_names, original_list(result, f"step{k}_gen"), gen_now, tol)
        averages = port_averages(gan)
        original_avg = original_list(result, f"step{k}_avg")
        sanity = max(rel_diff(p, a) for p, a in zip(before[k - 1], original_avg))
        report.tensors(k, "avg", avg_names, original_avg, averages, tol, counted=args.strict_average,
                       note="  (port vs the original's averages: KNOWN DEVIATION, the port averages the "
                            "parameters after the Adam step)")
        worst = report.tensors(k, "avg-after", avg_names, after[k - 1], averages, tol,
                               counted=not args.strict_average,
                               note="  (port vs the after-update convention applied to the original's parameters)")
        average_notes.append((k, sanity, worst))
        log(f"  the original's averages vs the before-update convention on its own parameters: max {sanity:.3e}")

    log(f"time: {time.time() - started:.0f}s; inputs and the original's output in {work}")
    log("averages: the original's a_k = a_(k-1) + 1e-4 (p_(k-1) - a_(k-1)) (before the step's update) holds to "
        f"{max(n[1] for n in average_notes):.1e}; the port's a_k = a_(k-1) + 1e-4 (p_k - a_(k-1)) (after it) "
        f"holds to {max(n[2] for n in average_notes):.1e} -- the known deviation of the port's model"
        + ("" if args.strict_average else " (not counted; --strict_average counts it)"))
    if report.first_failure:
        log(f"FIRST DIVERGENCE: {report.first_failure}")
    log(f"max_rel_param_diff={report.max_diff:.3e} steps={args.steps} script={script.name}")
    return 1 if report.first_failure else 0
