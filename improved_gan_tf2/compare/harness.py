"""The original's side of the comparison. Runs with the ORIGINAL's interpreter (Theano + Lasagne, no TensorFlow)::

    ENV/venv/bin/python harness.py --mode=step --scripts_dir=ENV/scripts --script_file=S.py --inputs=IN.npz \\
        --output=OUT.npz --seed=N [--joint_discriminator_pass] [--width_scale=S]
    ENV/venv/bin/python harness.py --mode=loop --scripts_dir=ENV/scripts --script_file=S.py --output=OUT.npz \\
        --seed=N [--joint_discriminator_pass] [--width_scale=S] -- SCRIPT ARGUMENTS

It executes the patched script's own source, with these interventions made from outside its text:

- every random number comes from :mod:`fed_random` (a drop-in of this tool, pure NumPy): ``MRG_RandomStreams``'s
  ``uniform`` and ``normal`` return shared variables ("feed slots") instead of random streams, so the generator's
  z, every Gaussian-noise layer (``normal``) and every dropout mask (``binomial``, which compares a ``uniform``
  with the retain probability) read arrays set before each call of a compiled function. Each slot is tagged, when
  the script builds its graph, with the layer it belongs to and the pass (``lasagne.layers.get_output``'s input:
  ``x_lab``, ``x_unl`` or ``gen_dat``, or the init pass); a call of ``init_param``, ``train_batch_disc`` or
  ``train_batch_gen`` sets every slot it reads to the arrays of that iteration, phase, layer and pass. The layers
  themselves run unchanged with their own sigma and dropout rate: a normal slot is multiplied by the layer's
  ``std``, a dropout slot is compared with its ``retain_prob``.
- the CIFAR/SVHN scripts' data loaders return a dummy batch in step mode (step mode feeds its own batches);
- with ``--width_scale`` every hidden width is scaled as the port's ``width_scale`` does: ``max(1, round(w*S))``.

**step** executes the model-building part (the source up to ``# load MNIST data`` or ``# select labeled data``),
then ``init_param(x_init)`` and K iterations of ``train_batch_disc`` followed by one or three ``train_batch_gen``
on the batches of ``IN.npz``. Written to ``OUT.npz``: both networks' full parameter lists (Lasagne order,
non-trainable weight-norm scales included) before and after the init and after every step, the averaged
discriminator parameters after every step, each step's gradients (the discriminator's before its update, the
generator's before its first update, at the same feeds) and the losses (``loss_lab``, ``loss_unl``,
``train_err``; the generator loss of every generator call, at the parameters that call starts from).

**loop** executes the whole script with the given arguments (its data, its epoch loop, its log lines) and
records the parameters before the init, after it, and at the end of every epoch (before its test pass), and the
epoch means of ``loss_lab``, ``loss_unl`` and ``train_err`` at full precision. With ``--perturb=EPS`` every
initial parameter, and every fed z and Gaussian-noise normal, is multiplied by ``1 +- EPS`` (signs at random): a
control run, with differences at rounding level injected at every step, as two implementations' round-off is.

This file is part of improved-gan-tf2 (written for the comparison tool); it imports nothing of the project.
"""
import argparse
import importlib.util
import os
import sys
import time

MARKERS = ("# load MNIST data", "# select labeled data")
HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("step", "loop"), required=True)
    parser.add_argument("--scripts_dir", required=True, help="the patched copy of the scripts (nn.py, ...)")
    parser.add_argument("--script_file", required=True, help="the script to execute")
    parser.add_argument("--inputs", default=None, help="step mode: the batches")
    parser.add_argument("--output", required=True)
    parser.add_argument("--seed", type=int, required=True, help="seed of the fed random numbers")
    parser.add_argument("--joint_discriminator_pass", action="store_true",
                        help="the port runs the discriminator step's three passes as one (how its random numbers "
                             "are drawn: one call for lab, unl and fake)")
    parser.add_argument("--feature_matching", action="store_true",
                        help="the port's generator step runs a real and a generated pass (feature matching)")
    parser.add_argument("--width_scale", type=float, default=1.0)
    parser.add_argument("--perturb", type=float, default=0.0,
                        help="loop mode: multiply every initial parameter, z and Gaussian-noise normal by (1 +- "
                             "PERTURB), signs at random (a control run: rounding-level differences at every step)")
    parser.add_argument("script_args", nargs="*", help="loop mode: the script's own arguments (after --)")
    return parser.parse_args(argv)


def load_fed_random():
    path = os.path.join(HERE, "dropins", "fed_random.py")
    spec = importlib.util.spec_from_file_location("fed_random", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model_source(path):
    """The model-building part of a script: its source up to the first line in :data:`MARKERS`."""
    with open(path) as stream:
        text = stream.read()
    cuts = [text.find("\n" + m) for m in MARKERS if text.find("\n" + m) >= 0]
    if not cuts:
        raise SystemExit(f"harness: {path} has none of the lines {MARKERS} that end its model-building part")
    return text[:min(cuts) + 1], text[min(cuts) + 1:]


class Slot:
    """One feed slot: a shared variable standing in for one random draw of the graph."""

    def __init__(self, variable, kind, layer, inputs, init):
        self.variable = variable
        self.kind = kind          # "z", "normal" (Gaussian noise) or "uniform" (a dropout mask)
        self.layer = layer        # the Lasagne layer (None for z)
        self.inputs = inputs      # the symbolic input of the get_output call that built it
        self.init = init          # built by the init pass


class Interventions:
    """The patches to classes made before the script's source runs: feed slots for every random draw, and the
    width scaling."""

    def __init__(self, width_scale):
        import numpy as np
        import theano
        import lasagne
        import theano.sandbox.rng_mrg as rng_mrg

        import cudnn_standins
        import nn

        self.slots = []
        self.width_scale = float(width_scale)
        self.using_standins = cudnn_standins.USING_STANDINS
        self.random_classes = (nn.GaussianNoiseLayer, lasagne.layers.GaussianNoiseLayer, lasagne.layers.DropoutLayer)
        self.noise_classes = (nn.GaussianNoiseLayer, lasagne.layers.GaussianNoiseLayer)
        floatx = theano.config.floatX
        context = {"layer": None, "ndim": None, "inputs": None, "init": False}
        me = self

        def new_slot(kind, ndim):
            shared = theano.shared(np.zeros((1,) * ndim, dtype=floatx), name=f"feed_{kind}_{len(me.slots)}")
            me.slots.append(Slot(shared, kind, context["layer"], context["inputs"], context["init"]))
            return shared

        def fed_uniform(self, size, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None, **kwargs):
            if context["layer"] is None:  # the generator's z: a constant size
                return new_slot("z", len(tuple(size)))
            return new_slot("uniform", context["ndim"])

        def fed_normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None, **kwargs):
            if context["layer"] is None:
                raise SystemExit("harness: a normal draw outside a noise layer; this script is not one the "
                                 "comparison knows")
            return avg + std * new_slot("normal", context["ndim"])

        # (methods replaced on the class itself: the layers hold instances made by their own constructors)
        rng_mrg.MRG_RandomStreams.uniform = fed_uniform
        rng_mrg.MRG_RandomStreams.normal = fed_normal

        for cls in self.random_classes:
            wrap_get_output_for(cls, context)
        original_get_output = lasagne.layers.get_output

        def get_output(layer_or_layers, inputs=None, **kwargs):
            saved = dict(context)
            context.update(inputs=inputs, init=bool(kwargs.get("init", False)))
            try:
                return original_get_output(layer_or_layers, inputs, **kwargs)
            finally:
                context.update(saved)

        lasagne.layers.get_output = get_output

        if self.width_scale != 1.0:
            self._scale_widths(nn, lasagne, cudnn_standins)

    def scaled(self, width):
        return max(1, int(round(width * self.width_scale)))

    def _scale_widths(self, nn, lasagne, cudnn_standins):
        scaled = self.scaled
        patch_init(cudnn_standins.dnn.Conv2DDNNLayer, "num_filters", scaled)
        patch_init(lasagne.layers.NINLayer, "num_units", scaled)
        # the generator's 4*4*512 units; the discriminator's 10 logits stay
        patch_init(lasagne.layers.DenseLayer, "num_units", lambda n: 4 * 4 * scaled(512) if n == 4 * 4 * 512 else n)
        patch_init(lasagne.layers.ReshapeLayer, "shape", lambda s: (s[0], scaled(s[1])) + tuple(s[2:]))
        patch_init(nn.Deconv2DLayer, "target_shape",
                   lambda t: t if t[1] == 3 else (t[0], scaled(t[1])) + tuple(t[2:]))


def wrap_get_output_for(cls, context):
    """Make ``cls.get_output_for`` record, while it runs, which layer draws and the rank of its input."""
    original = cls.get_output_for

    def get_output_for(self, input, *args, **kwargs):
        saved = dict(context)
        context.update(layer=self, ndim=input.ndim)
        try:
            return original(self, input, *args, **kwargs)
        finally:
            context.update(saved)

    cls.get_output_for = get_output_for


def patch_init(cls, name, transform):
    """Make ``cls(...)`` pass ``transform(value)`` for its constructor argument ``name`` (given or default)."""
    import inspect

    original = cls.__init__
    signature = inspect.signature(original)

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        bound.arguments[name] = transform(bound.arguments[name])
        original(*bound.args, **bound.kwargs)

    cls.__init__ = __init__


def stub_data_loaders(batch_size=100):
    """Step mode feeds its own batches: the CIFAR/SVHN scripts' loaders return a dummy set instead of reading."""
    import numpy as np
    import cifar10_data
    import svhn_data

    def cifar_load(data_dir, subset="train"):
        return np.zeros((batch_size, 3, 32, 32), np.float32), np.arange(batch_size, dtype=np.uint8) % 10

    def svhn_load(data_dir, subset="train"):
        return np.zeros((32, 32, 3, batch_size), np.uint8), np.arange(batch_size) % 10

    cifar10_data.load = cifar_load
    svhn_data.load = svhn_load


def param_names(layers):
    import lasagne

    names, seen = [], set()
    for index, layer in enumerate(lasagne.layers.get_all_layers(layers)):
        for p in layer.get_params():
            if p not in seen:
                seen.add(p)
                names.append(f"{index}:{type(layer).__name__}.{p.name}")
    return names


class Feeder:
    """Sets the feed slots a compiled function reads before each of its calls."""

    def __init__(self, interventions, namespace, seed, joint, feature_matching, fed_random, perturb=0.0):
        import numpy as np
        import theano

        self.np = np
        self.floatx = theano.config.floatX
        self.fed = fed_random
        self.seed = seed
        self.joint = joint
        self.slots = interventions.slots
        disc_layers = namespace.get("disc_layers") or namespace["layers"]
        self.ordinal = {}
        for layer in disc_layers:
            if isinstance(layer, interventions.random_classes):
                self.ordinal[id(layer)] = len(self.ordinal)
        self.noise_classes = interventions.noise_classes
        self.pass_of_input = {id(namespace["x_lab"]): "lab", id(namespace["x_unl"]): "unl",
                              id(namespace["gen_dat"]): "fake"}
        self.feature_matching = feature_matching
        self.perturb = float(perturb)
        self.signs = np.random.RandomState(54321)
        self.batch_size = int(namespace["args"].batch_size)
        self._used = {}
        for slot in self.slots:
            if slot.kind != "z" and id(slot.layer) not in self.ordinal:
                raise SystemExit(f"harness: a random layer outside the discriminator ({type(slot.layer).__name__})")

    def slots_of(self, function):
        key = id(function)
        if key not in self._used:
            implicit = {id(i.variable) for i in function.maker.inputs if i.implicit}
            self._used[key] = [s for s in self.slots if id(s.variable) in implicit]
        return self._used[key]

    def pass_name(self, slot, kind):
        if slot.init:
            return self.fed.INIT
        base = self.pass_of_input.get(id(slot.inputs))
        if base is None:
            raise SystemExit("harness: a random draw in a pass the comparison does not know")
        return self.fed.REAL if kind == "gen" and base == "unl" else base

    def set(self, function, where, kind, rows):
        """Set every slot ``function`` reads for the call at ``where`` (``"init"`` or ``"<t>/<phase>"``) of phase
        kind ``kind``; ``rows`` maps each pass to its number of rows in this call."""
        fed, np = self.fed, self.np
        arrays = {}
        for slot in self.slots_of(function):
            if slot.kind == "z":
                value = fed.z(self.seed, where, self.batch_size)
            else:
                name = self.pass_name(slot, kind)
                calls = fed.calls(kind, self.joint, self.feature_matching)
                passes = next(c for c in calls if name in c)
                counts = [rows[p] for p in passes]
                layer = self.ordinal[id(slot.layer)]
                features = fed.port_features(slot.layer.input_shape[1:])
                key = (layer, passes)
                if key not in arrays:
                    draw = fed.noise_normals if slot.kind == "normal" else fed.dropout_uniforms
                    arrays[key] = draw(self.seed, where, layer, passes, counts, features)
                value = fed.to_original_layout(fed.split_rows(arrays[key], passes, counts, name))
                if slot.kind == "uniform":
                    value = 1.0 - value  # the original keeps a unit where uniform < retain_prob
            if self.perturb and slot.kind != "uniform":  # the control run: z and normals off by a few ulps
                value = value * (1.0 + self.perturb * self.signs.choice([-1.0, 1.0], size=np.shape(value)))
            slot.variable.set_value(np.asarray(value, dtype=self.floatx))


class FedFunctions:
    """Wrappers of the script's compiled functions that set the feeds before each call and count iterations:
    ``t`` is the number of ``train_batch_disc`` calls so far minus one, ``j`` the generator calls since the last
    one. ``hooks`` (optional callables): ``before_init()``, ``after_init()``, ``after_disc(outputs)``,
    ``before_test()``."""

    NAMES = ("init_param", "train_batch_disc", "train_batch_gen", "test_batch", "samplefun")

    def __init__(self, feeder, namespace, **hooks):
        self.feeder = feeder
        self.t = -1
        self.j = 0
        self.hooks = hooks
        self.original = {name: namespace[name] for name in self.NAMES if name in namespace}
        for name in self.original:
            namespace[name] = getattr(self, name)

    def _hook(self, name, *args):
        if self.hooks.get(name):
            self.hooks[name](*args)

    def rows_disc(self, x_lab, x_unl):
        return {"lab": len(x_lab), "unl": len(x_unl), "fake": self.feeder.batch_size}

    def rows_gen(self, gen_inputs):
        rows = {"fake": self.feeder.batch_size}
        if gen_inputs:
            rows["real"] = len(gen_inputs[0])
        return rows

    def init_param(self, x_init):
        self._hook("before_init")
        function = self.original["init_param"]
        self.feeder.set(function, "init", "init", {"init": len(x_init)})
        out = function(x_init)
        self._hook("after_init")
        return out

    def train_batch_disc(self, x_lab, labels, x_unl, lr):
        self.t += 1
        self.j = 0
        function = self.original["train_batch_disc"]
        self.feeder.set(function, f"{self.t}/disc", "disc", self.rows_disc(x_lab, x_unl))
        out = function(x_lab, labels, x_unl, lr)
        self._hook("after_disc", out)
        return out

    def train_batch_gen(self, *args):
        function = self.original["train_batch_gen"]
        self.feeder.set(function, f"{self.t}/gen{self.j}", "gen", self.rows_gen(args[:-1]))
        self.j += 1
        return function(*args)

    def test_batch(self, *args):
        function = self.original["test_batch"]
        if self.feeder.slots_of(function):
            raise SystemExit("harness: the test function reads random draws")
        self._hook("before_test")
        return function(*args)

    def samplefun(self, *args):
        function = self.original["samplefun"]
        self.feeder.set(function, f"{self.t}/sample", "gen", {"fake": self.feeder.batch_size})
        return function(*args)


def build(args):
    """Execute the model-building part of the script with the interventions; returns
    ``(namespace, interventions, feeder, rest_of_source, path)``."""
    scripts_dir = os.path.abspath(args.scripts_dir)
    sys.path[:] = [scripts_dir] + [p for p in sys.path if os.path.abspath(p or ".") != HERE]
    fed_random = load_fed_random()
    interventions = Interventions(args.width_scale)
    if args.mode == "step":
        stub_data_loaders()
    path = os.path.abspath(args.script_file)
    model, rest = model_source(path)
    sys.argv = [path] + list(args.script_args)
    namespace = {"__name__": "__igan_harness__", "__file__": path}
    exec(compile(model, path, "exec"), namespace)
    z_slots = [s for s in interventions.slots if s.kind == "z"]
    if len(z_slots) != 1:
        raise SystemExit(f"harness: expected one theano_rng.uniform call for the generator's z, saw {len(z_slots)}")
    feeder = Feeder(interventions, namespace, args.seed, args.joint_discriminator_pass, args.feature_matching,
                    fed_random, args.perturb)
    return namespace, interventions, feeder, rest, path


def all_params(namespace):
    import lasagne

    disc_layers = namespace.get("disc_layers") or namespace["layers"]
    return (disc_layers, namespace["gen_layers"], lasagne.layers.get_all_params(disc_layers),
            lasagne.layers.get_all_params(namespace["gen_layers"]))


def describe(namespace, interventions, args, started, out):
    import numpy as np

    disc_layers, gen_layers, all_disc, all_gen = all_params(namespace)
    disc_params, gen_params = set(namespace["disc_params"]), set(namespace["gen_params"])
    out.update(disc_names=np.array(param_names(disc_layers)), gen_names=np.array(param_names(gen_layers)),
               disc_trainable=np.array([p in disc_params for p in all_disc]),
               gen_trainable=np.array([p in gen_params for p in all_gen]),
               using_standins=np.array(interventions.using_standins))
    random_layers = [f"{type(layer).__name__}({getattr(layer, 'sigma', getattr(layer, 'p', '?'))})"
                     for layer in disc_layers if isinstance(layer, interventions.random_classes)]
    print(f"harness: {os.path.basename(args.script_file)}: model built and compiled in {time.time() - started:.0f}s; "
          f"cuDNN {'CPU stand-ins' if interventions.using_standins else 'real lasagne.layers.dnn'}; floatX "
          f"{__import__('theano').config.floatX}; random numbers fed (seed {args.seed}) to z and "
          f"{', '.join(random_layers) or 'no other layer'}"
          + (f"; widths x{args.width_scale}" if args.width_scale != 1.0 else ""), flush=True)
    return all_disc, all_gen


def snapshot(out, prefix, params):
    import numpy as np

    for i, p in enumerate(params):
        out[f"{prefix}_{i}"] = np.array(p.get_value())


def run_step(args):
    import numpy as np
    import theano
    import theano.tensor as T

    started = time.time()
    namespace, interventions, feeder, _, _ = build(args)
    floatx = theano.config.floatX
    inputs = dict(np.load(args.inputs))
    out = {}
    all_disc, all_gen = describe(namespace, interventions, args, started, out)
    functions = FedFunctions(feeder, namespace)
    x_unl_sym = namespace["x_unl"]
    minibatch = x_unl_sym not in theano.gof.graph.inputs([namespace["loss_gen"]])  # its loss reads no real batch
    loss_gen_fn = theano.function([] if minibatch else [x_unl_sym], namespace["loss_gen"])
    weight = namespace["args"].unlabeled_weight
    disc_cost = namespace["loss_lab"] + weight * namespace["loss_unl"]
    disc_grads = theano.function([namespace["x_lab"], namespace["labels"], x_unl_sym],
                                 T.grad(disc_cost, namespace["disc_params"]))
    gen_grads = theano.function([] if minibatch else [x_unl_sym],
                                T.grad(namespace["loss_gen"], namespace["gen_params"]))

    snapshot(out, "pre_disc", all_disc)
    snapshot(out, "pre_gen", all_gen)
    namespace["init_param"](inputs["x_init"].astype(floatx))
    snapshot(out, "init_disc", all_disc)
    snapshot(out, "init_gen", all_gen)

    lr = np.asarray(inputs["lr"], dtype=floatx)
    steps = len(inputs["x_lab"])
    gen_calls = int(inputs["generator_steps"])
    losses = np.zeros((steps, 3), np.float64)
    gen_losses = np.zeros((steps, gen_calls), np.float64)
    for k in range(steps):
        x_lab, y_lab = inputs["x_lab"][k].astype(floatx), inputs["y_lab"][k].astype(np.int32)
        x_unl = inputs["x_unl"][k].astype(floatx)
        gen_inputs = [] if minibatch else [inputs["x_unl2"][k].astype(floatx)]
        # the gradients at the same feeds as the step (the same iteration and phase)
        where = f"{k}/disc"
        feeder.set(disc_grads, where, "disc", functions.rows_disc(x_lab, x_unl))
        for i, g in enumerate(disc_grads(x_lab, y_lab, x_unl)):
            out[f"step{k + 1}_grad_disc_{i}"] = np.array(g)
        losses[k] = [float(v) for v in namespace["train_batch_disc"](x_lab, y_lab, x_unl, lr)]
        for j in range(gen_calls):
            where = f"{k}/gen{j}"
            rows = functions.rows_gen(gen_inputs)
            if j == 0:
                feeder.set(gen_grads, where, "gen", rows)
                for i, g in enumerate(gen_grads(*gen_inputs)):
                    out[f"step{k + 1}_grad_gen_{i}"] = np.array(g)
            feeder.set(loss_gen_fn, where, "gen", rows)
            gen_losses[k, j] = float(loss_gen_fn(*gen_inputs))
            namespace["train_batch_gen"](*(gen_inputs + [lr]))
        snapshot(out, f"step{k + 1}_disc", all_disc)
        snapshot(out, f"step{k + 1}_gen", all_gen)
        snapshot(out, f"step{k + 1}_avg", namespace["disc_param_avg"])
        print(f"harness: step {k + 1}: loss_lab={losses[k, 0]:.6f} loss_unl={losses[k, 1]:.6f} "
              f"train_err={losses[k, 2]:.4f} loss_gen={', '.join(f'{v:.6f}' for v in gen_losses[k])}", flush=True)
    out["losses"] = losses
    out["gen_losses"] = gen_losses
    np.savez(args.output, **out)
    print(f"harness: wrote {args.output} ({time.time() - started:.0f}s)", flush=True)


def run_loop(args):
    import numpy as np

    started = time.time()
    namespace, interventions, feeder, rest, path = build(args)
    out = {}
    all_disc, all_gen = describe(namespace, interventions, args, started, out)
    state = {"epoch": 0, "sums": np.zeros(3), "calls": 0, "stats": []}

    def after_disc(values):
        state["sums"] += [float(v) for v in values]
        state["calls"] += 1

    def before_test():
        if state["calls"]:  # the first test call after training: the epoch's end
            e = state["epoch"]
            snapshot(out, f"epoch{e}_disc", all_disc)
            snapshot(out, f"epoch{e}_gen", all_gen)
            snapshot(out, f"epoch{e}_avg", namespace["disc_param_avg"])
            state["stats"].append(state["sums"] / state["calls"])
            state.update(epoch=e + 1, sums=np.zeros(3), calls=0)

    def before_init():
        snapshot(out, "pre_disc", all_disc)
        snapshot(out, "pre_gen", all_gen)
        if args.perturb:
            signs = np.random.RandomState(12345)
            for p in all_disc + all_gen:
                value = p.get_value()
                p.set_value(value * (1.0 + args.perturb * signs.choice([-1.0, 1.0], size=value.shape)))

    functions = FedFunctions(feeder, namespace, after_disc=after_disc, before_test=before_test,
                             before_init=before_init,
                             after_init=lambda: (snapshot(out, "init_disc", all_disc), snapshot(out, "init_gen", all_gen)))
    exec(compile("\n" * rest_offset(path, rest) + rest, path, "exec"), namespace)
    out["epoch_stats"] = np.array(state["stats"], np.float64).reshape(-1, 3)
    out["iterations"] = np.array(functions.t + 1)
    np.savez(args.output, **out)
    print(f"harness: wrote {args.output} ({time.time() - started:.0f}s)", flush=True)


def rest_offset(path, rest):
    """The number of lines before ``rest`` in the script (so that tracebacks name the script's own lines)."""
    with open(path) as stream:
        text = stream.read()
    return text[:len(text) - len(rest)].count("\n")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.mode == "step":
        if not args.inputs:
            raise SystemExit("harness: --mode=step needs --inputs")
        run_step(args)
    else:
        run_loop(args)


if __name__ == "__main__":
    main()
