"""Step mode: K training iterations of the original (Theano, through :mod:`.harness`) and of this port from the
same parameters on the same inputs, compared tensor by tensor.

1. Inputs: the data-dependent-init batch (500 images), per step a labelled batch with its labels, an unlabelled
   batch, a second unlabelled batch (feature matching) and the generator noise z of every generator call (the
   discriminator step's and each generator step's), plus ``z_init`` for the init pass. MNIST: the shipped sample
   (``load_mnist(dataset="mnist_sample")``); CIFAR-10/SVHN: a small synthetic set written in the original's
   format and read back with this project's loader.
2. The original: the harness builds the patched script's model (Gaussian noise std 0, dropout p 0), runs its
   ``init_param`` and K iterations, and saves every parameter list.
3. The port: the same networks (the script's experiment record, with the same ``width_scale``), noise
   and dropout layers set to 0 as well; the original's parameters from before its init are loaded through
   :mod:`improved_gan_tf2.port`, the port's own init runs on the same batch and z and is compared ("init"); then
   the original's post-init parameters are loaded, the parameter average is set to zero and
   ``SemiSupervisedGAN.train_step`` runs K times, unmodified. The z are fed by giving the model instance a
   ``noise`` attribute that returns the next given array (``train_step`` draws its z through ``self.noise``, one
   call per discriminator step and one per generator step); nothing else of the model is replaced.
4. Per step: the losses of both sides and, per parameter tensor, ``max|port - original| / max|original|``
   (both in the original's layout), the parameter averages included. Both sides average the parameters from
   *before* the step's Adam update (``a_k = a_{k-1} + 1e-4 (p_{k-1} - a_{k-1})``: Theano applies all updates of
   one function at once); the original's averages are also checked against that rule on its own parameters.

Exit status 0 when every compared tensor agrees to 1e-5 after step 1 and to 1e-4 after the init and every later
step, or its gradients at the original's states passed at every step (see :class:`Report`: float64 gradients of
both sides within 1e-6, or float32 ones within twice the original's own float32 error; such tensors are listed by
name); a gradient that passes neither fails.
"""
import contextlib
import os
import tempfile
import time

import numpy as np

from improved_gan_tf2.compare import env as original_env
from improved_gan_tf2.compare.run import SYNTHETIC_COUNT
from improved_gan_tf2.compare.scripts import UsageError

BATCH = 100
INIT_BATCH = 500
NOISE_DIM = 100
AVERAGE_RATE = 1e-4
STEP1_TOL = 1e-5
INIT_TOL = 1e-4   # the init's statistics are means over up to 500 x 32 x 32 values
STEPK_TOL = 1e-4
GRAD_TOL = 1e-5
GRAD64_TOL = 1e-6  # both sides in float64 at the same state


# ---------------------------------------------------------------------------------------------- inputs


def load_step_data(script, seed, work_dir):
    """``(x_train, y_train)`` in the port's layout (NHWC or flat), float32 as both sides read them."""
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
    """The step-mode inputs in the port's layout (images) -- see the module docstring."""
    rng = np.random.RandomState(seed)
    count = 10 if script.dataset == "mnist" else SYNTHETIC_COUNT
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


def run_harness(python, root, script, inputs_path, output_path, width_scale, log=print, floatx="float32",
                gradients_at=None):
    harness = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
    cmd = [python, harness, f"--scripts_dir={original_env.scripts_dir(root)}", f"--script={script.name}",
           f"--inputs={inputs_path}", f"--output={output_path}", f"--width_scale={width_scale}"]
    if gradients_at:
        cmd.append(f"--gradients_at={gradients_at}")
    env = original_env.theano_env(root)
    if floatx != "float32":  # the last occurrence of a Theano flag wins
        env["THEANO_FLAGS"] += f",floatX={floatx}"
    label = "original" if floatx == "float32" else f"original({floatx})"

    def on_line(line):
        if line.startswith("harness:"):
            log(label + " " + line.rstrip())

    def failure(returncode, lines):
        tail = "\n".join(line.rstrip() for line in lines[-25:])
        return f"the original's harness failed (exit {returncode}):\n{tail}"

    original_env.stream_process(cmd, on_line, failure, env=env, cwd=os.path.dirname(output_path))
    with np.load(output_path) as data:
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
    """The port's GAN for ``script``, its Gaussian noise and dropout set to 0 (as the harness does). With
    ``dtype="float64"`` every layer computes in float64 (Keras' floatx, and the CIFAR/SVHN networks' float32
    output layers, during the build)."""
    import keras

    from improved_gan_tf2.layers import GaussianNoise

    if dtype != "float32":
        with keras_floatx(dtype, networks=True):
            return build_port(script, width_scale)

    from improved_gan_tf2 import experiments

    flags = dict(script.experiment.default_flags(), unlabeled_weight=1.0, learning_rate=script.learning_rate,
                 width_scale=width_scale)
    gan = experiments.build_model(script.experiment, flags)
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


class SameState:
    """A second port GAN, loaded with the ORIGINAL's parameters of a step, to compare what one step computes with
    no error carried over from earlier steps: the gradients at the original's own state (both networks, every
    step) and, at step 1, the port's Adam update applied to the original's gradient."""

    def __init__(self, script, width_scale, dtype="float32"):
        from improved_gan_tf2 import port

        self.gan, _ = build_port(script, width_scale, dtype)
        self.dtype = dtype
        self.script = script
        self.disc_slots = [s for s in port.original_parameter_slots(self.gan.discriminator)
                           if s.trainable and s.variable is not None]
        self.gen_slots = [s for s in port.original_parameter_slots(self.gan.generator)
                          if s.trainable and s.variable is not None]

    def _load(self, disc, gen):
        from improved_gan_tf2 import port

        if disc is not None:
            port.load_original_params(self.gan.discriminator, disc)
        if gen is not None:
            port.load_original_params(self.gan.generator, gen)

    def disc_gradients(self, disc, gen, batch, z):
        """The discriminator cost's gradients as ``train_step`` computes them, in the original's layout (Keras'
        floatx set to this instance's dtype while it computes)."""
        import tensorflow as tf

        from improved_gan_tf2 import losses

        with keras_floatx(self.dtype):
            self._load(disc, gen)
            gan = self.gan
            x_lab, y_lab, x_unl, _ = batch
            x_lab, x_unl = tf.cast(x_lab, self.dtype), tf.cast(x_unl, self.dtype)
            generated = tf.cast(gan.generator(tf.cast(z, self.dtype), training=True), self.dtype)
            with tf.GradientTape() as tape:
                (logits_lab, _), (logits_unl, _), (logits_gen, _) = gan._discriminate([x_lab, x_unl, generated])
                loss = losses.supervised_loss(logits_lab, y_lab) + gan.unlabeled_weight * losses.unsupervised_loss(
                    logits_unl, logits_gen, gan.label_smoothing)
            grads = tape.gradient(loss, [s.variable for s in self.disc_slots])
            return [s.to_original(np.asarray(g)) for s, g in zip(self.disc_slots, grads)]

    def gen_gradients(self, disc, gen, batch, z):
        """The generator cost's gradients as ``train_step`` computes them (its first generator update), with Keras'
        floatx set to this instance's dtype."""
        import tensorflow as tf

        with keras_floatx(self.dtype):
            self._load(disc, gen)
            gan = self.gan
            features_real = None
            if gan.generator_loss == "feature_matching":
                _, features_real = gan.discriminator(tf.cast(batch[3], self.dtype), training=True)
            with tf.GradientTape() as tape:
                loss = gan.generator_loss_of(tf.cast(z, self.dtype), features_real)
            grads = tape.gradient(loss, [s.variable for s in self.gen_slots])
            return [s.to_original(np.asarray(g)) for s, g in zip(self.gen_slots, grads)]

    def adam_first_step(self, network, params, gradients, learning_rate):
        """The port's ``OriginalAdam`` (t = 1, zero moments) applied to the original's parameters with the
        original's gradients; the resulting parameters in the original's layout (trainable ones)."""
        from improved_gan_tf2.optimizers import OriginalAdam

        if network == "disc":
            self._load(params, None)
            slots = self.disc_slots
        else:
            self._load(None, params)
            slots = self.gen_slots
        optimizer = OriginalAdam(learning_rate)
        variables = [s.variable for s in slots]
        optimizer.build(variables)
        optimizer.apply_gradients([(np.asarray(s.to_keras(g), np.float32), v)
                                   for s, g, v in zip(slots, gradients, variables)])
        return [s.to_original(np.asarray(v.numpy())) for s, v in zip(slots, variables)]


# ------------------------------------------------------------------------------------------- comparison


def rel_diff(original, port):
    original = np.asarray(original, np.float64)
    port = np.asarray(port, np.float64)
    if original.shape != port.shape:
        return float("inf")
    scale = np.abs(original).max() if original.size else 0.0
    diff = np.abs(original - port).max() if original.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


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


class Report:
    """Collects the per-tensor comparisons of the port (float32) with the original (float32).

    Gradients (every step, at the original's own state): besides float32 against float32, both sides compute them
    in float64 at the same state (the original with ``floatX=float64``, the port with float64 layers). A gradient
    passes when the float64 ones agree to ``GRAD64_TOL`` -- the check of the arithmetic itself, free of float32
    round-off, which can put a pre-activation on either side of a leaky-ReLU kink (or a feature-matching
    difference on either side of zero) and so change a float32 gradient by far more than its rounding -- or when
    the float32 ones differ by at most twice the original's own float32 error (its float32 gradient against its
    float64 one). The second case covers the float64 check's own resolution: TensorFlow's ``LeakyRelu`` keeps its
    slope as a float32 attribute (0.2 + 3e-9) also for float64 tensors, so a pre-activation within ~1e-8 of zero
    can land on different sides in the two float64 computations.

    Parameters: a tensor beyond the tolerance still passes when its gradients passed at every step so far:
    Adam's normalisation (``lr g / sqrt(g^2 + 1e-8)``: for ``|g| < 1e-4`` it divides by about 1e-4 instead of
    ``|g|``) turns the float32 round-off of either side into parameter changes, and later steps amplify them.
    Such tensors are listed by name, with the original's own spread (its float32 run against its float64 run)
    beside them for scale.
    """

    def __init__(self, log):
        self.log = log
        self.first_failure = None
        self.max_diff = 0.0        # largest port-vs-original parameter difference of the compared groups
        self.grad_ok = {}          # (group, name) -> the port's gradient passed at every step so far
        self.accepted = {}         # (group, name) -> (step, port diff, original's own spread or None)

    def _fail(self, message):
        if self.first_failure is None:
            self.first_failure = message

    def gradients(self, step, group, names, originals, ports, references=None, ports64=None):
        """``originals``/``ports``: float32 gradients at the original's state; ``references``/``ports64``: the
        same gradients computed in float64 by the original and by the port, at the same state."""
        worst = 0.0
        n = len(names)
        references = references if references is not None else [None] * n
        ports64 = ports64 if ports64 is not None else [None] * n
        for name, a, b, c, e in zip(names, originals, ports, references, ports64):
            d = rel_diff(a, b)
            worst = max(worst, d)
            key = (group, name)
            extra, flag = "", ""
            if c is not None and e is not None:
                d64, e_orig = rel_diff(c, e), rel_diff(c, a)
                ok = d64 <= GRAD64_TOL or d <= max(GRAD_TOL, 2 * e_orig)
                extra = f"  float64: port vs original {d64:.1e}; float32 vs float64: original {e_orig:.1e}, " \
                        f"port {rel_diff(e, b):.1e}"
                if not ok:
                    flag = "  <-- differs in float64 and beyond the original's own float32 error"
                    self._fail(f"step {step}, gradient of {group} tensor {name}: in float64 the port and the original "
                               f"differ by {d64:.2e} (> {GRAD64_TOL:.0e}), in float32 by {d:.2e} (> twice the "
                               f"original's own float32 error {e_orig:.2e})")
            else:
                ok = d <= GRAD_TOL
            self.grad_ok[key] = self.grad_ok.get(key, True) and ok
            self.log(f"  grad-{group:<4} {name:<52} {str(tuple(np.shape(a))):<18} {d:.3e}{extra}{flag}")
        self.log(f"  grad-{group:<4} max {worst:.3e}  (port vs original in float32, gradients at the original's state)")
        return worst

    def tensors(self, step, group, names, originals, ports, tol, note="", controls=None, grad_group=None):
        worst = 0.0
        controls = controls if controls is not None else [None] * len(names)
        for name, a, b, c in zip(names, originals, ports, controls):
            d = rel_diff(a, b)
            worst = max(worst, d)
            spread = rel_diff(c, a) if c is not None else None
            extra = f"  original f32-vs-f64 {spread:.2e}" if spread is not None else ""
            flag = ""
            if d > tol and grad_group is not None and self.grad_ok.get((grad_group, name), False):
                flag = "  (accepted: its gradients passed at every step)"
                self.accepted.setdefault((group, name), (step, d, spread))
            elif d > tol:
                flag = "  <-- exceeds %.0e" % tol
                self._fail(f"step {step}, {group} tensor {name}: rel diff {d:.3e} > {tol:.0e}")
            self.log(f"  {group:<9} {name:<52} {str(tuple(np.shape(a))):<18} {d:.3e}{extra}{flag}")
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
    def original(name, floatx="float32", gradients_at=None):
        path = os.path.join(work, name)
        if getattr(args, "reuse_original", False) and os.path.exists(path):
            log(f"reusing {path} (--reuse_original)")
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        return run_harness(python, root, script, inputs_path, path, width_scale, log, floatx=floatx,
                           gradients_at=gradients_at)

    result = original("original.npz")
    control = reference = None
    if not args.no_float64_control:
        log("the original in float64 (floatX=float64, same inputs): (a) its gradients at every state of the float32 "
            "run, which the port's float64 gradients must match; (b) its own run, whose distance from the float32 "
            "run is the original's own round-off spread")
        reference = original("original_float64_gradients.npz", "float64", os.path.join(work, "original.npz"))
        control = original("original_float64.npz", "float64")

    def controls(prefix):
        return original_list(control, prefix) if control is not None else None

    def references(prefix):
        return original_list(reference, prefix) if reference is not None else None

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
    gen_mask = [bool(t) for t in result["gen_trainable"]]
    gen_trainable_names = [n for n, t in zip(gen_names, gen_mask) if t]
    report = Report(log)
    same = SameState(script, width_scale)
    same64 = SameState(script, width_scale, "float64") if reference is not None else None
    init_disc, init_gen = original_list(result, "init_disc"), original_list(result, "init_gen")
    gen_lists = [init_gen] + [original_list(result, f"step{k}_gen") for k in range(1, args.steps + 1)]

    # init: the original's pre-init parameters, the port's own data-dependent init on the same batch and z
    port.load_original_params(gan.discriminator, original_list(result, "pre_disc"))
    port.load_original_params(gan.generator, original_list(result, "pre_gen"))
    feed.push(inputs["z_init"])
    gan.initialize(inputs["x_init"], BATCH)
    feed.check_empty("init")
    disc_now, gen_now = port_lists(gan)
    log("init (the port's data-dependent init from the original's initial parameters):")
    report.tensors(0, "disc", disc_names, init_disc, disc_now, INIT_TOL, controls=controls("init_disc"))
    report.tensors(0, "gen", gen_names, init_gen, gen_now, INIT_TOL, controls=controls("init_gen"))

    # steps from the original's post-init parameters
    port.load_original_params(gan.discriminator, init_disc)
    port.load_original_params(gan.generator, init_gen)
    set_port_averages_to_zero(gan)
    trajectory = [init_disc] + [original_list(result, f"step{k}_disc") for k in range(1, args.steps + 1)]
    before = predicted_averages(trajectory, disc_mask)
    average_notes = []
    for k in range(1, args.steps + 1):
        tol = STEP1_TOL if k == 1 else STEPK_TOL
        feed.push(inputs["z_disc"][k - 1], *inputs["z_gen"][k - 1])
        for metric in gan.metrics:
            metric.reset_state()
        batch = tuple(tf.convert_to_tensor(inputs[key][k - 1]) for key in ("x_lab", "y_lab", "x_unl", "x_unl2"))
        log(f"step {k}:")
        original_grad_disc = original_list(result, f"step{k}_grad_disc")
        original_grad_gen = original_list(result, f"step{k}_grad_gen")
        disc_state = (trajectory[k - 1], gen_lists[k - 1], batch, inputs["z_disc"][k - 1])
        gen_state = (trajectory[k], gen_lists[k - 1], batch, inputs["z_gen"][k - 1][0])
        report.gradients(k, "disc", avg_names, original_grad_disc, same.disc_gradients(*disc_state),
                         references(f"step{k}_grad_disc"), same64.disc_gradients(*disc_state) if same64 else None)
        report.gradients(k, "gen", gen_trainable_names, original_grad_gen, same.gen_gradients(*gen_state),
                         references(f"step{k}_grad_gen"), same64.gen_gradients(*gen_state) if same64 else None)
        if k == 1:
            report.tensors(k, "adam-disc", avg_names, [p for p, t in zip(trajectory[1], disc_mask) if t],
                           same.adam_first_step("disc", trajectory[0], original_grad_disc, script.learning_rate),
                           STEP1_TOL, note="  (the port's Adam on the original's gradient, from the original's state)")
            if script.generator_steps == 1:
                report.tensors(k, "adam-gen", gen_trainable_names, [p for p, t in zip(gen_lists[1], gen_mask) if t],
                               same.adam_first_step("gen", gen_lists[0], original_grad_gen, script.learning_rate),
                               STEP1_TOL, note="  (likewise for the generator)")
        logs = {name: float(value) for name, value in gan.train_step(batch).items()}
        feed.check_empty(f"step {k}")
        o_lab, o_unl, o_err = result["losses"][k - 1]
        o_gen = result["gen_losses"][k - 1]
        log(f"  losses    original loss_lab={o_lab:.6f} loss_unl={o_unl:.6f} train_err={o_err:.4f} "
            f"loss_gen={', '.join(f'{v:.6f}' for v in o_gen)}")
        log(f"  losses    port     loss_lab={logs['loss_lab']:.6f} loss_unl={logs['loss_unl']:.6f} "
            f"train_err={logs['train_err']:.4f} loss_gen={logs['loss_gen']:.6f}"
            + (" (the last generator update's)" if len(o_gen) > 1 else ""))
        disc_now, gen_now = port_lists(gan)
        report.tensors(k, "disc", disc_names, trajectory[k], disc_now, tol, controls=controls(f"step{k}_disc"),
                       grad_group="disc")
        report.tensors(k, "gen", gen_names, gen_lists[k], gen_now, tol, controls=controls(f"step{k}_gen"),
                       grad_group="gen")
        averages = port_averages(gan)
        original_avg = original_list(result, f"step{k}_avg")
        sanity = max(rel_diff(p, a) for p, a in zip(before[k - 1], original_avg))
        worst = report.tensors(k, "avg", avg_names, original_avg, averages, tol, grad_group="disc",
                               controls=controls(f"step{k}_avg"))
        average_notes.append((k, sanity, worst))
        log(f"  the original's averages vs the before-update convention on its own parameters: max {sanity:.3e}")

    log(f"time: {time.time() - started:.0f}s; inputs and the original's output in {work}")
    log("averages: the original's a_k = a_(k-1) + 1e-4 (p_(k-1) - a_(k-1)) (before the step's update) holds to "
        f"{max(n[1] for n in average_notes):.1e} on its own parameters; the port's averages are the original's to "
        f"{max(n[2] for n in average_notes):.1e}")
    if report.accepted:
        log("beyond the tolerance, accepted because the tensor's gradients passed at every step (float64: port vs "
            f"original within {GRAD64_TOL:.0e}, or float32 within twice the original's own float32 error); Adam's "
            "normalisation turns float32 round-off into parameter changes:")
        for (group, name), (step, diff, spread) in report.accepted.items():
            log(f"  {group} {name}: from step {step} (port vs original {diff:.2e}"
                + (f"; the original's own float32-vs-float64 spread {spread:.2e})" if spread is not None else ")"))
    if report.first_failure:
        log(f"FIRST DIVERGENCE: {report.first_failure}")
    log(f"max_rel_param_diff={report.max_diff:.3e} steps={args.steps} script={script.name}")
    return 1 if report.first_failure else 0
