"""The weight-normalized layers' own gradient of the norm (``layers._normalizing_factors``, fewer passes over the
kernel than autodiff makes) gives autodiff's numbers bit for bit, for every layer's kernel layout."""
import numpy as np
import pytest
import tensorflow as tf

from improved_gan_tf2 import layers as L


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
    for factors in (L._normalizing_factors, autodiff_factors):
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
