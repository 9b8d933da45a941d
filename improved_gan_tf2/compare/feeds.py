"""The port's side of the fed random numbers: the same z, Gaussian-noise uniforms and dropout uniforms that
:mod:`.harness` sets in the original's graph, given to an unmodified ``SemiSupervisedGAN`` through three
instance-level hooks (nothing of the model's code is replaced):

- ``gan.noise`` (the model draws every z through it) returns :func:`fed_random.z` of the call;
- each ``GaussianNoise`` layer's ``draw_uniforms`` (its one random draw) returns the call's uniforms, which the
  layer turns into normals with its own Box-Muller and its own ``stddev``;
- each ``keras.layers.Dropout``'s ``call`` runs TensorFlow's own dropout arithmetic (``tf.nn.dropout``'s, scale
  ``1 / (1 - rate)`` and keep ``u >= rate``, with the layer's own ``rate``) on the call's uniforms.

Which arrays a call gets follows the iteration: the model's first z draw of an iteration (the discriminator
step's) starts it, and each random layer then expects the calls of :func:`fed_random.calls` in order (the
discriminator step's, then each generator step's). A layer that draws more or less often than that stops the
comparison with a :class:`FeedError` naming it. Train eagerly (``train_step`` called directly, or
``run_eagerly=True``): the hooks are Python.
"""
import functools

import numpy as np

from improved_gan_tf2.compare.dropins import fed_random


class FeedError(RuntimeError):
    """The port drew random numbers in a pattern the original's passes do not have."""


def random_layers(model):
    """The discriminator's random layers (Gaussian noise, dropout), in the network's order."""
    import keras

    from improved_gan_tf2.layers import GaussianNoise

    return [layer for layer in model.layers if isinstance(layer, (GaussianNoise, keras.layers.Dropout))]


def _dropout(inputs, rate, uniforms):
    """``tf.nn.dropout``'s arithmetic with given uniforms (TensorFlow's own implementation where it can be
    reached: ``nn_ops._dropout`` with a sampler that returns them)."""
    import tensorflow as tf

    x = tf.convert_to_tensor(inputs)
    sample = tf.constant(uniforms, x.dtype)
    try:
        from tensorflow.python.ops import nn_ops

        return nn_ops._dropout(x, rate, None, uniform_sampler=lambda shape, dtype: sample,
                               dummy_rng_step=lambda: None, name=None, default_name="fed_dropout")
    except (ImportError, AttributeError, TypeError):  # another TensorFlow: the same arithmetic, written out
        scale = tf.constant(1.0 / (1.0 - rate), x.dtype)
        return tf.where(sample >= rate, x * scale, tf.zeros_like(x))


class PortFeed:
    """Installs the hooks on ``gan`` and hands out the arrays of :mod:`fed_random` for ``seed``."""

    def __init__(self, gan, seed):
        self.gan = gan
        self.seed = int(seed)
        self.joint = bool(gan.joint_discriminator_pass)
        self.feature_matching = gan.generator_loss == "feature_matching"
        self.generator_steps = int(gan.generator_steps)
        self.layers = random_layers(gan.discriminator)
        self.dtype = gan.discriminator.weights[0].dtype
        self.t = -1
        self.z_queue = []
        self.queues = [[] for _ in self.layers]

    def install(self):
        from improved_gan_tf2.layers import GaussianNoise

        self.gan.noise = self.z
        for index, layer in enumerate(self.layers):
            if isinstance(layer, GaussianNoise):
                layer.draw_uniforms = functools.partial(self.noise_uniforms, index)
            else:
                layer.call = functools.partial(self.dropout, index, layer)
        return self

    def describe(self):
        parts = []
        for layer in self.layers:
            value = getattr(layer, "stddev", None)
            parts.append(f"{layer.name}({'stddev' if value is not None else 'rate'} "
                         f"{value if value is not None else layer.rate})")
        return ", ".join(parts) or "none"

    # ------------------------------------------------------------------ the iteration's plan

    def expect_init(self):
        """The next draws are the data-dependent init's: one z, one call of each layer."""
        self.check_done("before the init")
        self.z_queue = ["init"]
        self.queues = [[("init", (fed_random.INIT,))] for _ in self.layers]

    def _next_iteration(self):
        self.check_done(f"iteration {self.t}" if self.t >= 0 else "the init")
        self.t += 1
        phases = ["disc"] + [f"gen{j}" for j in range(self.generator_steps)]
        self.z_queue = [f"{self.t}/{phase}" for phase in phases]
        plan = []
        for phase in phases:
            kind = fed_random.phase_kind(phase)
            plan += [(f"{self.t}/{phase}", passes)
                     for passes in fed_random.calls(kind, self.joint, self.feature_matching)]
        self.queues = [list(plan) for _ in self.layers]

    def check_done(self, where):
        left = [(layer.name, len(queue)) for layer, queue in zip(self.layers, self.queues) if queue]
        if self.z_queue or left:
            raise FeedError(f"{where}: the port drew fewer random numbers than the original's passes use: "
                            f"{len(self.z_queue)} z draw(s) and "
                            + (", ".join(f"{n} call(s) of {name}" for name, n in left) or "no layer call")
                            + " left")

    def _pop(self, index):
        queue = self.queues[index]
        if not queue:
            raise FeedError(f"iteration {self.t}: the port's layer {self.layers[index].name} drew random numbers "
                            f"more often than the original's passes do")
        return queue.pop(0)

    # ------------------------------------------------------------------ the hooks

    def z(self, batch_size):
        import tensorflow as tf

        if not self.z_queue:
            self._next_iteration()
        where = self.z_queue.pop(0)
        return tf.constant(fed_random.z(self.seed, where, int(batch_size)), self.dtype)

    def noise_uniforms(self, index, half, dtype):
        import tensorflow as tf

        where, passes = self._pop(index)
        pairs = fed_random.uniforms(self.seed, fed_random.call_key(where, index, passes), (2, int(half)))
        return tf.constant(pairs, dtype)

    def dropout(self, index, layer, inputs, training=None):
        if not training or layer.rate == 0:
            return inputs
        where, passes = self._pop(index)
        shape = tuple(int(s) for s in inputs.shape)
        return _dropout(inputs, layer.rate, fed_random.uniforms(self.seed, fed_random.call_key(where, index, passes),
                                                                shape))


class Recorder:
    """The gradients each optimizer applies and every generator loss, recorded as ``train_step`` runs (the
    optimizers' ``apply_gradients`` and the model's ``generator_loss_of`` wrapped on the instances)."""

    def __init__(self, gan):
        self.gradients = {"disc": [], "gen": []}
        self.generator_losses = []
        for key, optimizer in (("disc", gan.discriminator_optimizer), ("gen", gan.generator_optimizer)):
            optimizer.apply_gradients = self._recording(key, optimizer.apply_gradients)
        loss_of = gan.generator_loss_of

        def generator_loss_of(*args, **kwargs):
            loss = loss_of(*args, **kwargs)
            self.generator_losses.append(float(np.asarray(loss)))
            return loss

        gan.generator_loss_of = generator_loss_of

    def _recording(self, key, apply_gradients):
        def recorded(grads_and_vars, *args, **kwargs):
            pairs = list(grads_and_vars)
            self.gradients[key].append([np.asarray(g) for g, _ in pairs])
            return apply_gradients(pairs, *args, **kwargs)

        return recorded

    def clear(self):
        self.gradients = {"disc": [], "gen": []}
        self.generator_losses = []
