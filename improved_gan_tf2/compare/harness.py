"""The original's side of step mode. Runs with the ORIGINAL's interpreter (Theano + Lasagne, no TensorFlow):

    ENV/venv/bin/python harness.py --scripts_dir=ENV/scripts --script=NAME --inputs=IN.npz --output=OUT.npz
        [--width_scale=S]

It executes the model-building part of the patched script (the source up to the line that starts the data
handling, ``# load MNIST data`` or ``# select labeled data``): the networks, losses, Adam updates, parameter
averages and the compiled Theano functions, exactly as the script builds them, with three interventions made
from outside the script text:

- the generator noise: ``MRG_RandomStreams.uniform`` returns a shared variable, set before every call of a
  function that runs the generator to the z given in ``IN.npz`` (``z_init``, ``z_disc[k]``, ``z_gen[k, j]``);
- Gaussian noise and dropout are off: ``nn.GaussianNoiseLayer`` and Lasagne's ``GaussianNoiseLayer`` are built
  with sigma 0, ``DropoutLayer`` with p 0 (both layers then return their input);
- the CIFAR/SVHN scripts' data loaders return a dummy batch (step mode feeds its own), and with
  ``--width_scale`` every hidden width (convolutions, NIN, the generator's 512/256/128) is scaled as the port's
  ``width_scale`` does: ``max(1, round(width * S))``.

With ``--gradients_at=OTHER.npz`` it only evaluates gradients at the states recorded in another run's output
(the reference: the float32 run's states, in float64). Otherwise: ``init_param(x_init)`` (data-dependent init) and K steps, each ``train_batch_disc(x_lab, y_lab, x_unl, lr)``
followed by ``train_batch_gen`` once (feature matching, on ``x_unl2[k]``) or three times (minibatch). Written to
``OUT.npz``: the full parameter lists (``lasagne.layers.get_all_params``, Lasagne order, non-trainable weight-norm
scales included) of both networks before and after the init and after every step, the averaged discriminator
parameters after every step, the gradients of every step (trainable lists), and the losses (loss_lab, loss_unl, train_err of the discriminator call; the
generator loss of every generator call, evaluated on the parameters that call starts from).

This file is part of improved-gan-tf2 (written for the comparison tool); it imports nothing of the project.
"""
import argparse
import os
import sys
import time

MARKERS = ("# load MNIST data", "# select labeled data")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scripts_dir", required=True)
    parser.add_argument("--script", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--width_scale", type=float, default=1.0)
    parser.add_argument("--gradients_at", default=None,
                        help="an OUT.npz of another run: only compute, at each of its states, the gradients that "
                             "a run writes (no init, no updates); used with floatX=float64 as the reference")
    return parser.parse_args(argv)


def model_source(path):
    with open(path) as stream:
        text = stream.read()
    cuts = [text.find("\n" + m) for m in MARKERS if text.find("\n" + m) >= 0]
    if not cuts:
        raise SystemExit(f"harness: {path} has none of the lines {MARKERS} that end its model-building part")
    return text[:min(cuts) + 1]


class Interventions:
    """The patches to classes made before the script's source runs."""

    def __init__(self, width_scale):
        import numpy as np
        import theano
        import lasagne
        import theano.sandbox.rng_mrg as rng_mrg

        import cudnn_standins
        import nn

        self.noise = []
        self.width_scale = float(width_scale)
        self.using_standins = cudnn_standins.USING_STANDINS
        interventions = self
        floatx = theano.config.floatX

        def feedable_uniform(self, size, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None, **kwargs):
            shape = tuple(int(s) for s in size)
            shared = theano.shared(np.zeros(shape, dtype=floatx), name="z_feed")
            interventions.noise.append(shared)
            return shared

        # (a method replaced on the class itself: Theano's own code refers to the class by its module name)
        rng_mrg.MRG_RandomStreams.uniform = feedable_uniform

        # Constructors are wrapped in place (the classes call super(ClassName, self), so they cannot be replaced
        # by subclasses under their own names).
        patch_init(nn.GaussianNoiseLayer, "sigma", lambda sigma: 0.0)
        patch_init(lasagne.layers.GaussianNoiseLayer, "sigma", lambda sigma: 0.0)
        patch_init(lasagne.layers.DropoutLayer, "p", lambda p: 0.0)

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


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    scripts_dir = os.path.abspath(args.scripts_dir)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [scripts_dir] + [p for p in sys.path if os.path.abspath(p or ".") != here]
    import numpy as np
    import theano
    import theano.tensor as T
    import lasagne

    started = time.time()
    interventions = Interventions(args.width_scale)
    stub_data_loaders()
    path = os.path.join(scripts_dir, args.script + ".py")
    source = model_source(path)
    sys.argv = [path]
    namespace = {"__name__": "__igan_harness__", "__file__": path}
    exec(compile(source, path, "exec"), namespace)
    if len(interventions.noise) != 1:
        raise SystemExit(f"harness: expected one theano_rng.uniform call (the generator's z), saw "
                         f"{len(interventions.noise)}")
    z = interventions.noise[0]
    inputs = dict(np.load(args.inputs))
    floatx = theano.config.floatX
    disc_layers = namespace.get("disc_layers") or namespace["layers"]
    gen_layers = namespace["gen_layers"]
    all_disc = lasagne.layers.get_all_params(disc_layers)
    all_gen = lasagne.layers.get_all_params(gen_layers)
    averages = namespace["disc_param_avg"]
    minibatch = "minibatch" in args.script
    x_unl_sym = namespace["x_unl"]
    loss_gen_fn = theano.function([] if minibatch else [x_unl_sym], namespace["loss_gen"])
    print(f"harness: {args.script}: model built and compiled in {time.time() - started:.0f}s; "
          f"cuDNN {'CPU stand-ins' if interventions.using_standins else 'real lasagne.layers.dnn'}; "
          "Gaussian noise std 0, dropout p 0; generator z fed from the inputs"
          + (f"; widths x{args.width_scale}" if args.width_scale != 1.0 else ""), flush=True)

    out = {"disc_names": np.array(param_names(disc_layers)), "gen_names": np.array(param_names(gen_layers)),
           "using_standins": np.array(interventions.using_standins)}

    def snapshot(prefix, params):
        for i, p in enumerate(params):
            out[f"{prefix}_{i}"] = np.array(p.get_value())

    if args.gradients_at is None:
        snapshot("pre_disc", all_disc)
        snapshot("pre_gen", all_gen)
        z.set_value(inputs["z_init"].astype(floatx))
        namespace["init_param"](inputs["x_init"].astype(floatx))
        snapshot("init_disc", all_disc)
        snapshot("init_gen", all_gen)

    # the gradients of every step: the discriminator's before its update, the generator's before its first update
    weight = namespace["args"].unlabeled_weight
    disc_cost = namespace["loss_lab"] + weight * namespace["loss_unl"]
    disc_grads = theano.function([namespace["x_lab"], namespace["labels"], x_unl_sym],
                                 T.grad(disc_cost, namespace["disc_params"]))
    gen_grads = theano.function([] if minibatch else [x_unl_sym],
                                T.grad(namespace["loss_gen"], namespace["gen_params"]))

    def disc_batch(k):
        """Step k's (x_lab, y_lab, x_unl), as the discriminator's functions take them."""
        return (inputs["x_lab"][k].astype(floatx), inputs["y_lab"][k].astype(np.int32),
                inputs["x_unl"][k].astype(floatx))

    def gen_batch(k):
        """Step k's inputs of the generator's functions: x_unl2 (feature matching) or none (minibatch)."""
        return [] if minibatch else [inputs["x_unl2"][k].astype(floatx)]

    def record_gradients(k, network, grads):
        for i, g in enumerate(grads):
            out[f"step{k + 1}_grad_{network}_{i}"] = np.array(g)

    if args.gradients_at is not None:
        states = dict(np.load(args.gradients_at))

        def load(prefix, params):
            for i, p in enumerate(params):
                p.set_value(states[f"{prefix}_{i}"].astype(floatx))

        for k in range(len(inputs["x_lab"])):
            before = "init" if k == 0 else f"step{k}"
            load(f"{before}_disc", all_disc)
            load(f"{before}_gen", all_gen)
            z.set_value(inputs["z_disc"][k].astype(floatx))
            record_gradients(k, "disc", disc_grads(*disc_batch(k)))
            load(f"step{k + 1}_disc", all_disc)
            z.set_value(inputs["z_gen"][k, 0].astype(floatx))
            record_gradients(k, "gen", gen_grads(*gen_batch(k)))
        np.savez(args.output, **out)
        print(f"harness: wrote the gradients at the states of {args.gradients_at} to {args.output} "
              f"({time.time() - started:.0f}s)", flush=True)
        return

    lr = np.asarray(inputs["lr"], dtype=floatx)
    steps = len(inputs["x_lab"])
    gen_calls = inputs["z_gen"].shape[1]
    losses = np.zeros((steps, 3), np.float64)
    gen_losses = np.zeros((steps, gen_calls), np.float64)
    for k in range(steps):
        x_lab, y_lab, x_unl = disc_batch(k)
        z.set_value(inputs["z_disc"][k].astype(floatx))
        record_gradients(k, "disc", disc_grads(x_lab, y_lab, x_unl))
        losses[k] = [float(v) for v in namespace["train_batch_disc"](x_lab, y_lab, x_unl, lr)]
        for j in range(gen_calls):
            z.set_value(inputs["z_gen"][k, j].astype(floatx))
            gen_inputs = gen_batch(k)
            if j == 0:
                record_gradients(k, "gen", gen_grads(*gen_inputs))
            gen_losses[k, j] = float(loss_gen_fn(*gen_inputs))
            namespace["train_batch_gen"](*(gen_inputs + [lr]))
        snapshot(f"step{k + 1}_disc", all_disc)
        snapshot(f"step{k + 1}_gen", all_gen)
        snapshot(f"step{k + 1}_avg", averages)
        print(f"harness: step {k + 1}: loss_lab={losses[k, 0]:.6f} loss_unl={losses[k, 1]:.6f} "
              f"train_err={losses[k, 2]:.4f} loss_gen={', '.join(f'{v:.6f}' for v in gen_losses[k])}", flush=True)
    out["losses"] = losses
    out["gen_losses"] = gen_losses
    disc_params, gen_params = set(namespace["disc_params"]), set(namespace["gen_params"])
    out["disc_trainable"] = np.array([p in disc_params for p in all_disc])
    out["gen_trainable"] = np.array([p in gen_params for p in all_gen])
    np.savez(args.output, **out)
    print(f"harness: wrote {args.output} ({time.time() - started:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
