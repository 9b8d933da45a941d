"""How the harness instruments the original from outside its text (runs with the ORIGINAL's interpreter).

- Feed slots: ``MRG_RandomStreams``'s ``uniform`` and ``normal`` return shared variables instead of random streams,
  so the generator's z, every Gaussian-noise layer (``normal``) and every dropout mask (``binomial``, which compares
  a ``uniform`` with the retain probability) read arrays set before each call of a compiled function. Each slot is
  tagged, when the script builds its graph, with the layer it belongs to and the pass
  (``lasagne.layers.get_output``'s input: ``x_lab``, ``x_unl`` or ``gen_dat``, or the init pass). The layers run
  unchanged with their own sigma and dropout rate: a normal slot is multiplied by the layer's ``std``, a dropout
  slot is compared with its ``retain_prob``.
- :class:`Feeder` sets every slot a compiled function reads to the arrays of :mod:`fed_random` (a drop-in of this
  tool, pure NumPy) for that iteration, phase, layer and pass; :class:`FedFunctions` wraps the script's compiled
  functions so that each call of ``init_param``, ``train_batch_disc`` and ``train_batch_gen`` does so first.
- With a width scale other than 1, every hidden width is scaled as the port's ``width_scale`` does:
  ``max(1, round(w*S))``.

Loaded by path from :mod:`.harness` (it imports nothing of the project; Theano and Lasagne are imported where used,
so that the port's tests can read this file without them).
"""


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
