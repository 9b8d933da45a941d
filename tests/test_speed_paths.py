"""The faster paths of the training step (``docs/speed.md``) compute what the plain ones compute, bit for bit:
the weight-normalized layers' own gradient of the norm (``layers.weight_norm._normalizing_factors``, fewer passes
over the kernel than autodiff makes), ``OriginalAdam``'s update of all parameters in one XLA computation inside a
``tf.function``, and the parameter average's."""
import numpy as np
import pytest
import tensorflow as tf

from improved_gan_tf2 import layers as L
from improved_gan_tf2 import optimizers
from improved_gan_tf2.layers import weight_norm


def autodiff_factors(kernel, scale, epsilon, norm_axes):
    """The formula as the layers wrote it before, differentiated by TensorFlow."""
    return scale / tf.sqrt(epsilon + tf.reduce_sum(tf.square(kernel), axis=norm_axes))


@pytest.mark.parametrize("shape,norm_axes", [
    ((784, 250), 0),                   # dense
    ((3, 3, 16, 24), (0, 1, 2)),       # convolution
    ((5, 5, 24, 16), (0, 1, 3)),       # transposed convolution: units on axis 2
])
@pytest.mark.parametrize("epsilon", [0.0, 1e-6])
def test_norm_gradient_is_autodiffs_bit_for_bit(rng, shape, norm_axes, epsilon):
    kernel = tf.constant(rng.randn(*shape).astype(np.float32) * 0.05)
    units = shape[2] if norm_axes == (0, 1, 3) else shape[-1]
    scale = tf.constant(rng.rand(units).astype(np.float32) + 0.5)
    upstream = tf.constant(rng.randn(units).astype(np.float32))
    results = []
    for factors in (weight_norm._normalizing_factors, autodiff_factors):
        with tf.GradientTape() as tape:
            tape.watch([kernel, scale])
            value = factors(kernel, scale, epsilon, norm_axes)
        results.append([value] + tape.gradient(value, [kernel, scale], output_gradients=upstream))
    for got, expected in zip(*results):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_a_layer_trains_with_it_in_a_function(rng):
    """Inside ``tf.function`` (as ``fit`` runs it), with a trainable scale: the same gradients as autodiff."""
    x = tf.constant(rng.randn(6, 5).astype(np.float32))
    layer = L.WeightNormDense(3, train_scale=True, activation="relu")
    layer(x)

    @tf.function
    def gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) ** 2)
        return tape.gradient(loss, layer.trainable_weights)

    got = gradients()
    kernel, scale, bias = layer.trainable_weights
    with tf.GradientTape() as tape:
        product = tf.matmul(x, kernel) * autodiff_factors(kernel, scale, layer.epsilon, 0)
        loss = tf.reduce_sum(tf.nn.relu(product + bias) ** 2)
    for a, b in zip(got, tape.gradient(loss, [kernel, scale, bias])):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _parameters(rng, dtype=np.float32):
    return [rng.randn(*shape).astype(dtype) for shape in ((7, 5), (5,), (5, 3), (3,))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_in_one_computation_is_the_per_parameter_update(rng, dtype, monkeypatch):
    params, steps = _parameters(rng, dtype), 4
    gradients = [[rng.randn(*p.shape).astype(dtype) for p in params] for _ in range(steps)]
    batched = []
    update_all = optimizers._original_adam_updates
    monkeypatch.setattr(optimizers, "_original_adam_updates", lambda *a: batched.append(1) or update_all(*a))
    results = []
    for compiled in (False, True):
        variables = [tf.Variable(p) for p in params]
        optimizer = optimizers.OriginalAdam(0.01)
        apply = optimizer.apply_gradients
        if compiled:
            apply = tf.function(lambda pairs: optimizer.apply_gradients(pairs))
        for step in gradients:
            apply(list(zip([tf.constant(g) for g in step], variables)))
        results.append([v.numpy() for v in variables] + [optimizer.iterations.numpy()])
    assert batched, "the tf.function did not take the one-computation path"
    for eager, compiled in zip(*results):
        np.testing.assert_array_equal(compiled, eager)


@tf.function(jit_compile=True, autograph=False)
def _average_one(average, value, rate):
    """The update as it was, one XLA computation per parameter."""
    average.assign_add(rate * (value - average))


def test_parameter_average_in_one_computation_is_the_per_parameter_update(rng):
    variables = [tf.Variable(p) for p in _parameters(rng)]
    average = optimizers.ParameterAverage(variables, rate=0.3)
    separate = [tf.Variable(tf.zeros_like(v)) for v in variables]  # one XLA computation per parameter, as before
    expected = [np.zeros(v.shape) for v in variables]  # a += rate * (p - a) in float64
    for step in range(3):
        for index, v in enumerate(variables):
            v.assign_add(tf.ones_like(v) * (step + 1))
            expected[index] += 0.3 * (v.numpy() - expected[index])
        average.update()
        for mine, v in zip(separate, variables):
            _average_one(mine, tf.convert_to_tensor(v), tf.constant(0.3))
    for got, same, want in zip(average.values(), separate, expected):
        np.testing.assert_array_equal(got.numpy(), same.numpy())
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def _mnist_gan(generator_loss):
    import keras

    from improved_gan_tf2.models.semi_supervised import SemiSupervisedGAN
    from improved_gan_tf2.networks.mnist import mnist_discriminator, mnist_generator

    keras.utils.set_random_seed(3)
    minibatch = generator_loss == "minibatch"
    gan = SemiSupervisedGAN(mnist_generator(), mnist_discriminator(hidden_units=(40, 30, 20), minibatch_kernels=
                                                                   4 if minibatch else 0),
                            generator_loss=generator_loss, generator_steps=2 if minibatch else 1, seed=5)
    gan.compile(discriminator_optimizer=optimizers.OriginalAdam(0.003),
                generator_optimizer=optimizers.OriginalAdam(0.003))
    return gan


@pytest.mark.parametrize("generator_loss", ["feature_matching", "minibatch"])
@pytest.mark.parametrize("compiled", [True, False])
def test_held_discriminator_norms_leave_the_step_unchanged(rng, monkeypatch, generator_loss, compiled):
    """``SemiSupervisedGAN.train_step`` holds the discriminator's weight norms through the generator updates
    (``layers.held_weight_norms``): every parameter after two steps, and every logged loss, bit for bit as
    when each pass computes its own; and the generator updates compute each discriminator norm once."""
    import contextlib

    from improved_gan_tf2.models import semi_supervised

    data = tuple(tf.constant(a) for a in (rng.rand(8, 784).astype(np.float32), np.arange(8) % 10,
                                          rng.rand(8, 784).astype(np.float32), rng.rand(8, 784).astype(np.float32)))
    computed = []
    compute = weight_norm._WeightNormBase._kernel_scales
    monkeypatch.setattr(weight_norm._WeightNormBase, "_kernel_scales",
                        lambda self: computed.append(self.name) or compute(self))
    results, counts = [], []
    for hold in (True, False):
        if not hold:
            monkeypatch.setattr(semi_supervised, "held_weight_norms", lambda model: contextlib.nullcontext())
        gan = _mnist_gan(generator_loss)
        gan.initialize(data[0], 8)
        step = tf.function(gan.train_step) if compiled else gan.train_step
        del computed[:]
        logs = [step(data) for _ in range(2)]
        counts.append(len(computed))
        results.append([v.numpy() for v in gan.variables] + [float(log[k]) for log in logs for k in sorted(log)])
    for held, fresh in zip(*results):
        np.testing.assert_array_equal(held, fresh)
    # each step: one norm per discriminator layer for all the generator updates, instead of one per pass (two
    # passes of one update for feature matching, one pass of each of two updates for the minibatch loss)
    normalized = sum(isinstance(layer, weight_norm._WeightNormBase) for layer in gan.discriminator.layers)
    assert counts[1] - counts[0] == (1 if compiled else 2) * normalized, counts
