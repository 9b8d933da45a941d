"""Gaussian noise as the Theano scripts draw it (``nn.GaussianNoiseLayer`` of ``mnist_svhn_cifar10/nn.py``,
Lasagne's ``GaussianNoiseLayer``; Theano's ``MRG_RandomStreams.normal``)."""
import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.layers.common import _PACKAGE


def box_muller_normal(uniforms, shape, stddev=1.0):
    """Normal samples from uniforms as Theano's ``MRG_RandomStreams.normal`` makes them (Box-Muller).

    ``uniforms``: shape ``(2, ceil(n / 2))`` with ``n = prod(shape)``, values in [0, 1); row 0 plays Theano's
    first half of the uniform draw (``U1``), row 1 its second half (``U2``). With ``r = sqrt(-2 ln U1)`` and
    ``a = 2 pi U2`` the samples are ``r cos(a)`` followed by ``r sin(a)``, the last one dropped when ``n`` is odd,
    reshaped to ``shape`` and times ``stddev``. TensorFlow's uniforms lie in [0, 1) where Theano's lie in (0, 1),
    so ``U1 = 1 - u`` (also uniform; ``ln`` stays finite); ``stddev`` is folded into the root,
    ``r = sqrt(-2 stddev^2 ln U1)``, which saves one pass over the samples.

    >>> z = box_muller_normal(np.array([[0.5, 0.9], [0.125, 0.125]], "float32"), (3,))  # angles pi / 4
    >>> np.round(z.numpy(), 4)  # r cos a for both pairs, then r sin a of the first
    array([0.8326, 1.5174, 0.8326], dtype=float32)
    """
    uniforms = tf.convert_to_tensor(uniforms)
    size = tf.reduce_prod(shape)
    radius = tf.sqrt(tf.math.log1p(-uniforms[0]) * (-2.0 * float(stddev) ** 2))
    angle = (2.0 * np.pi) * uniforms[1]
    samples = tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=0)
    return tf.reshape(samples[:size], shape)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GaussianNoise(keras.layers.Layer):
    """Additive Gaussian noise, ``inputs + N(0, stddev^2)``, only with ``training=True`` (``nn.GaussianNoiseLayer``
    and Lasagne's ``GaussianNoiseLayer``: on unless ``deterministic``, so also in the init pass).

    Draws its normals as Theano's ``MRG_RandomStreams.normal``, which both of those layers use: Box-Muller on
    uniforms (:func:`box_muller_normal`). ``keras.layers.GaussianNoise`` samples the same distribution with
    TensorFlow's normal sampler, which on a CPU takes 1.6 times as long (``benchmarks/gaussian_noise.py``); the
    MNIST discriminator draws 1.5M normals per training iteration, so the sampler was a third of its step. For
    16-bit inputs the uniforms are drawn in float32 (bfloat16 uniforms would cap ``|z|`` at 3.3).
    Inference (``training=False`` or None): the identity.

    Args:
        stddev: standard deviation of the noise.
        seed: an int for a reproducible stream (its state is a ``keras.random.SeedGenerator``).
        **kwargs: ``keras.layers.Layer`` arguments.

    Input shape:
        any.

    Output shape:
        the input's.

    Example:

    >>> noisy = GaussianNoise(0.5, seed=1)(np.zeros((100, 250), "float32"), training=True)
    >>> round(float(np.std(noisy)), 1)
    0.5
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = float(stddev)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=None):
        if not training or self.stddev == 0.0:
            return inputs
        inputs = tf.convert_to_tensor(inputs)
        shape = inputs.shape if inputs.shape.is_fully_defined() else tf.shape(inputs)
        half = (tf.reduce_prod(shape) + 1) // 2
        dtype = tf.float64 if inputs.dtype == tf.float64 else tf.float32  # 16-bit inputs: noise drawn in float32
        uniforms = self.draw_uniforms(half, dtype)
        return inputs + tf.cast(box_muller_normal(uniforms, shape, self.stddev), inputs.dtype)

    def draw_uniforms(self, half, dtype):
        """The ``(2, half)`` uniforms in [0, 1) of one call, from the layer's seed generator. The one place the
        layer draws random numbers: ``improved_gan_tf2.compare`` replaces it on an instance to feed the uniforms
        that the original is fed too."""
        return keras.random.uniform(tf.stack([2, half]), seed=self.seed_generator, dtype=dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(stddev=self.stddev, seed=self.seed)
        return config
