"""The original's activation that Keras has not: ``nn.lrelu`` of ``mnist_svhn_cifar10/nn.py``."""
import keras
import tensorflow as tf

from improved_gan_tf2.layers.common import _PACKAGE


@keras.saving.register_keras_serializable(package=_PACKAGE)
def lrelu(x):
    """Leaky ReLU with slope 0.2, ``nn.lrelu``: ``max(x, 0.2 x)`` (CIFAR-10/SVHN discriminators).

    TensorFlow's ``LeakyRelu`` op holds its slope as a float32 attribute, so on float64 tensors it multiplies by
    0.20000000298; float64 tensors are therefore computed as the original writes it, ``max(x, 0.2 x)`` with the
    slope in float64. Other dtypes use the fused op, which gives the same numbers there (value and gradient).

    >>> lrelu(tf.constant([-1.0, 2.0], tf.float64)).numpy().tolist()
    [-0.2, 2.0]
    """
    x = tf.convert_to_tensor(x)
    if x.dtype == tf.float64:
        return tf.maximum(x, 0.2 * x)
    return tf.nn.leaky_relu(x, alpha=0.2)
