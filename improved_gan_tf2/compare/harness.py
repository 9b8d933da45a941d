"""The original's side of the comparison. Runs with the ORIGINAL's interpreter (Theano + Lasagne, no TensorFlow)::

    ENV/venv/bin/python harness.py --mode=step --scripts_dir=ENV/scripts --script_file=S.py --inputs=IN.npz \\
        --output=OUT.npz --seed=N [--joint_discriminator_pass] [--width_scale=S]
    ENV/venv/bin/python harness.py --mode=loop --scripts_dir=ENV/scripts --script_file=S.py --output=OUT.npz \\
        --seed=N [--joint_discriminator_pass] [--width_scale=S] -- SCRIPT ARGUMENTS

It executes the patched script's own source, with the interventions of :mod:`.instrumentation` made from outside
its text (every random number fed from :mod:`fed_random`, a drop-in of this tool; ``--width_scale`` scaling every
hidden width as the port's ``width_scale`` does), and, in step mode, the CIFAR/SVHN scripts' data loaders
returning a dummy batch (step mode feeds its own batches).

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

This file is part of improved-gan-tf2 (written for the comparison tool); it imports nothing of the project, and
loads its siblings ``instrumentation.py`` and ``dropins/fed_random.py`` by path.
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


def load_sibling(*parts):
    """A module of this directory loaded by path (the original's interpreter has no improved_gan_tf2 package)."""
    path = os.path.join(HERE, *parts)
    name = os.path.splitext(parts[-1])[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The interventions in the original's classes (:mod:`.instrumentation`; it imports Theano and Lasagne only where
#: they are used, so loading it here costs nothing).
instrumentation = load_sibling("instrumentation.py")


def model_source(path):
    """The model-building part of a script: its source up to the first line in :data:`MARKERS`."""
    with open(path) as stream:
        text = stream.read()
    cuts = [text.find("\n" + m) for m in MARKERS if text.find("\n" + m) >= 0]
    if not cuts:
        raise SystemExit(f"harness: {path} has none of the lines {MARKERS} that end its model-building part")
    return text[:min(cuts) + 1], text[min(cuts) + 1:]


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


def build(args):
    """Execute the model-building part of the script with the interventions; returns
    ``(namespace, interventions, feeder, rest_of_source, path)``."""
    scripts_dir = os.path.abspath(args.scripts_dir)
    sys.path[:] = [scripts_dir] + [p for p in sys.path if os.path.abspath(p or ".") != HERE]
    fed_random = load_sibling("dropins", "fed_random.py")
    interventions = instrumentation.Interventions(args.width_scale)
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
    feeder = instrumentation.Feeder(interventions, namespace, args.seed, args.joint_discriminator_pass,
                                    args.feature_matching, fed_random, args.perturb)
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
    functions = instrumentation.FedFunctions(feeder, namespace)
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

    def after_init():
        snapshot(out, "init_disc", all_disc)
        snapshot(out, "init_gen", all_gen)

    functions = instrumentation.FedFunctions(feeder, namespace, before_init=before_init, after_init=after_init,
                                             after_disc=after_disc, before_test=before_test)
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
