"""Weight normalization (Salimans & Kingma 2016; ``nn.weight_norm``, ``nn.DenseLayer`` and ``nn.l2normalize`` of
``mnist_svhn_cifar10/nn.py``): the shared arithmetic and the dense layers; the convolutions are in
:mod:`improved_gan_tf2.layers.convolution`."""
import contextlib
import threading

import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.init import in_init_pass
from improved_gan_tf2.layers.common import (
    _PACKAGE,
    _flatten,
    _float32_if_16bit,
    _normal,
    _refuse,
    _weight_arguments,
    _weight_arguments_config,
)


_WEIGHT_NORM_ARGS = """
        activation: activation after the bias (a name or a callable; None: linear).
        init_scale: standard deviation of the pre-activation after the data-dependent init pass (the original's
            ``init_stdv``; 1, or 0.1 for the networks' last layers).
        train_scale: whether ``scale`` is trainable (the original's ``train_g``; only the last layers set it).
        epsilon: added to the sum of squares inside the root (1e-6, as the original).
        kernel_initializer: the direction ``kernel``'s initializer (default N(0, 0.05), the original's).
        data_init: whether the layer takes part in :func:`~improved_gan_tf2.init.data_dependent_init`.
        use_bias: whether to add ``bias`` (the original always does; without it the init pass only scales).
        bias_initializer: ``bias``'s initializer (zeros; the init pass overwrites it).
        kernel_regularizer, bias_regularizer: Keras regularizers of ``kernel`` (the direction ``V``, whose norm
            does not change the output) and ``bias``.
        kernel_constraint, bias_constraint: Keras constraints, applied by the optimizer after each update.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``, ``trainable``, ``activity_regularizer``)."""

_TRANSPOSED_SHAPES = """
    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, height * strides, width * strides, filters)`` for ``"half"`` and ``"same"``,
        ``((height - 1) * strides + k, ...)`` for ``"valid"``."""


def _shared_docs(cls):
    """Fill the argument and shape descriptions that several layers share into ``cls``'s docstring."""
    cls.__doc__ = cls.__doc__.replace("{weight_norm_args}", _WEIGHT_NORM_ARGS).replace(
        "{transposed_shapes}", _TRANSPOSED_SHAPES)
    return cls


def _normalizing_factors(kernel, scale, epsilon, norm_axes):
    """``scale / sqrt(epsilon + sum(kernel**2, norm_axes))``, with the gradient TensorFlow's autodiff computes, in
    fewer passes over the kernel: autodiff broadcasts the sum's gradient to the kernel's shape, doubles the kernel
    and multiplies the two (three kernel-sized arrays written); here the kernel times twice the sum's gradient is one
    (the same products: doubling is exact). Weight-normalized layers call this once per pass."""
    axes = [a % len(kernel.shape) for a in np.atleast_1d(norm_axes)]
    unit_shape = [1 if axis in axes else size for axis, size in enumerate(kernel.shape)]

    def factors(sum_sq, scale):
        return scale / tf.sqrt(epsilon + sum_sq)

    @tf.custom_gradient
    def normalize(kernel, scale):
        sum_sq = tf.reduce_sum(tf.square(kernel), axis=norm_axes)

        def gradient(d_factors):
            with tf.GradientTape() as tape:  # the per-unit part, as autodiff differentiates it
                tape.watch([sum_sq, scale])
                result = factors(sum_sq, scale)
            d_sum_sq, d_scale = tape.gradient(result, [sum_sq, scale], output_gradients=d_factors)
            return kernel * tf.reshape(2.0 * d_sum_sq, unit_shape), d_scale

        return factors(sum_sq, scale), gradient

    return normalize(kernel, scale)


_HELD = threading.local()


@contextlib.contextmanager
def held_weight_norms(model):
    """Within the block, each weight-normalized layer of ``model`` computes its normalizing factors (``scale /
    ||kernel||``) once and reuses them in every later pass, with no gradient through them: for passes in which
    the layers' weights do not change and their gradients are not needed, such as the discriminator's passes in
    the generator's update (``SemiSupervisedGAN.train_step``; ``docs/speed.md``). The values, and so every
    output and every other gradient, are those of a fresh computation. Other layers, and other models' layers,
    are left alone; blocks nest (the inner one holds its own factors).

    >>> layer = WeightNormDense(3, data_init=False)
    >>> model = keras.Sequential([keras.Input((4,)), layer])
    >>> with held_weight_norms(model):
    ...     layer.kernel_scales() is layer.kernel_scales()
    True
    """
    ids = {id(layer) for layer in model._flatten_layers(include_self=True) if isinstance(layer, _WeightNormBase)}
    stack = getattr(_HELD, "stack", None)
    if stack is None:
        stack = _HELD.stack = []
    stack.append((ids, {}))
    try:
        yield
    finally:
        stack.pop()


def _held_factors(layer):
    """The factors (a dict) of the innermost :func:`held_weight_norms` block that holds ``layer``'s, or None."""
    for ids, factors in reversed(getattr(_HELD, "stack", None) or []):
        if id(layer) in ids:
            return factors
    return None


class _WeightNormBase(keras.layers.Layer):
    """Shared weight-norm arithmetic (Salimans & Kingma 2016; ``nn.WeightNormLayer``).

    ``W = kernel * scale / sqrt(epsilon + sum(kernel**2))``, the sum per output unit; ``bias`` is added after
    the linear map; ``scale`` is trainable only when ``train_scale`` (the original's ``train_g``). In the
    data-dependent init pass the pre-activation is centred and scaled to ``init_scale`` standard deviation on
    the batch, and ``bias``/``scale`` are set so that later passes reproduce that output. ``scale`` and ``bias``
    are never cast to 16 bits (the norms and the init statistics are computed in float32).
    """

    # Axes of the kernel that are summed to get one norm per output unit, and where that unit's axis is.
    _kernel_norm_axes = None
    _kernel_out_axis = -1

    def __init__(
        self,
        activation=None,
        init_scale=1.0,
        train_scale=False,
        epsilon=1e-6,
        kernel_initializer=None,
        data_init=True,
        use_bias=True,
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        _refuse(type(self).__name__, kwargs, "lora_rank", (None,),
                "LoRA is not implemented for the weight-normalized layers.")
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)
        self.init_scale = float(init_scale)
        self.train_scale = bool(train_scale)
        self.epsilon = float(epsilon)
        self.data_init = bool(data_init)
        _weight_arguments(self, kernel_initializer, 0.05, kernel_regularizer, kernel_constraint, dict(
            use_bias=use_bias, bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
            bias_constraint=bias_constraint))

    def _add_weight_norm_weights(self, kernel_shape, units):
        self.kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer=self.kernel_initializer, trainable=True,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
        )
        self.scale = self.add_weight(
            name="scale", shape=(units,), initializer="ones", trainable=self.train_scale, autocast=False
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(units,), initializer=self.bias_initializer, trainable=True,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint, autocast=False,
            )

    def kernel_scales(self):
        """Per output unit, ``scale / sqrt(epsilon + sum(kernel**2))``: the factor that normalizes the kernel (in
        the kernel's compute dtype; the sum and the root in float32 under mixed precision). Inside
        :func:`held_weight_norms` for this layer's model, computed once per block and graph, without gradient."""
        held = None if in_init_pass() else _held_factors(self)
        if held is None:
            return self._kernel_scales()
        key = (id(self), id(tf.compat.v1.get_default_graph()))  # a tensor of one tf.function graph stays in it
        if key not in held:
            held[key] = tf.stop_gradient(self._kernel_scales())
        return held[key]

    def _kernel_scales(self):
        kernel = tf.convert_to_tensor(self.kernel)
        scales = _normalizing_factors(_float32_if_16bit(kernel), tf.convert_to_tensor(self.scale), self.epsilon,
                                      self._kernel_norm_axes)
        return tf.cast(scales, kernel.dtype)

    def normalized_kernel(self):
        """The effective weights ``kernel * scale / sqrt(epsilon + sum(kernel**2))``."""
        kernel = tf.convert_to_tensor(self.kernel)
        shape = [1] * len(kernel.shape)
        shape[self._kernel_out_axis] = -1
        return kernel * tf.reshape(self.kernel_scales(), shape)

    def _bias_and_activation(self, pre_activation):
        if self.data_init and in_init_pass():
            x = _float32_if_16bit(pre_activation)
            axes = list(range(len(x.shape) - 1))
            mean = tf.reduce_mean(x, axis=axes)
            centred = x - mean
            inv_std = self.init_scale / tf.sqrt(tf.reduce_mean(tf.square(centred), axis=axes))
            if self.bias is not None:
                self.bias.assign(-mean * inv_std)
                outputs = centred * inv_std
            else:
                outputs = x * inv_std
            self.scale.assign(self.scale * inv_std)
            outputs = tf.cast(outputs, pre_activation.dtype)
        elif self.bias is not None:
            outputs = pre_activation + tf.cast(self.bias, pre_activation.dtype)
        else:
            outputs = pre_activation
        return self.activation(outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            activation=keras.activations.serialize(self.activation),
            init_scale=self.init_scale,
            train_scale=self.train_scale,
            epsilon=self.epsilon,
            data_init=self.data_init,
            **_weight_arguments_config(self),
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
@_shared_docs
class WeightNormDense(_WeightNormBase):
    """Weight-normalized dense layer (``nn.weight_norm`` around a Lasagne ``DenseLayer`` or ``NINLayer``).

    ``outputs = activation(inputs . W + bias)`` with ``W = kernel * scale / sqrt(epsilon + sum_in kernel**2)``
    per output unit, computed as ``(inputs . kernel) * (scale / norm)``: the same product regrouped, so that the
    per-unit factor scales the ``(batch, units)`` output rather than the kernel. Acts on the last axis, so on a
    rank-4 NHWC input it is the original's per-pixel ``NINLayer``. Inference: the same computation (weight norm
    has no batch statistics outside the init pass).

    Args:
        units: output size.{weight_norm_args}

    Input shape:
        ``(batch, ..., in)``, any rank >= 2.

    Output shape:
        ``(batch, ..., units)``.

    Example:

    >>> layer = WeightNormDense(10, train_scale=True, init_scale=0.1)
    >>> tuple(layer(np.ones((4, 192), "float32")).shape)
    (4, 10)
    >>> [w.name for w in layer.trainable_weights]
    ['kernel', 'scale', 'bias']
    """

    _kernel_norm_axes = 0

    def __init__(self, units, activation=None, init_scale=1.0, train_scale=False, epsilon=1e-6, **kwargs):
        super().__init__(
            activation=activation, init_scale=init_scale, train_scale=train_scale, epsilon=epsilon, **kwargs
        )
        self.units = int(units)

    def build(self, input_shape):
        self._add_weight_norm_weights((int(input_shape[-1]), self.units), self.units)

    def _prepare_inputs(self, inputs):
        return inputs

    def call(self, inputs, training=None):
        # inputs . (kernel * s) regrouped as (inputs . kernel) * s: the same product, but the per-unit factor s
        # scales the (batch, units) output instead of the (inputs, units) kernel, forward and backward.
        inputs = self._prepare_inputs(tf.convert_to_tensor(inputs))
        kernel = tf.convert_to_tensor(self.kernel)
        if len(inputs.shape) == 2:
            product = tf.matmul(inputs, kernel)
        else:
            product = tf.tensordot(inputs, kernel, axes=[[-1], [0]])
        return self._bias_and_activation(product * self.kernel_scales())

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MnistWeightNormDense(WeightNormDense):
    """The older weight-normalized dense layer of the original's MNIST scripts (``nn.DenseLayer``).

    Differs from :class:`WeightNormDense` as the original does: no epsilon in the norm
    (``W = kernel * scale / sqrt(sum(kernel**2))``), kernel drawn from N(0, 0.1), ReLU by default, and a rank > 2
    input is flattened first. Its init pass is the same (centre, divide by the std, ``scale /= std``,
    ``bias = -mean / std``; ``init_scale`` is always 1). Inference: the same computation.

    Args:
        units: output size.
        activation: default ``"relu"``.
        train_scale: whether ``scale`` is trainable (only the MNIST classifier's last layer).
        epsilon: 0, as the original (a positive value guards all-zero kernels).
        kernel_initializer: default N(0, 0.1).
        **kwargs: the other arguments of :class:`WeightNormDense` (``use_bias``, regularizers, constraints, ...).

    Input shape:
        ``(batch, d1, ..., dk)``, flattened to ``(batch, d1 * ... * dk)``.

    Output shape:
        ``(batch, units)``.

    Example:

    >>> h = MnistWeightNormDense(1000)(np.zeros((2, 28, 28), "float32"))
    >>> tuple(h.shape)
    (2, 1000)
    """

    def __init__(self, units, activation="relu", train_scale=False, epsilon=0.0, kernel_initializer=None, **kwargs):
        kwargs.pop("init_scale", None)
        super().__init__(
            units,
            activation=activation,
            init_scale=1.0,
            train_scale=train_scale,
            epsilon=epsilon,
            kernel_initializer=kernel_initializer if kernel_initializer is not None else _normal(0.1),
            **kwargs,
        )

    def build(self, input_shape):
        self._add_weight_norm_weights((int(np.prod(input_shape[1:])), self.units), self.units)

    def _prepare_inputs(self, inputs):
        return _flatten(inputs) if len(inputs.shape) > 2 else inputs

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class L2NormalizedDense(WeightNormDense):
    """A dense layer with per-unit normalized weights and a learned scale (``nn.l2normalize``).

    The MNIST generator's output layer: Glorot-uniform kernel, zero bias, ``epsilon=1e-6`` inside the root,
    trainable ``scale`` starting at 1, and no data-dependent initialization. Inference: the same computation.

    Args:
        units: output size.
        activation: activation after the bias (the MNIST generator uses ``"sigmoid"``).
        train_scale: whether ``scale`` is trainable (True, as the original).
        kernel_initializer: default ``"glorot_uniform"`` (Lasagne's default ``W``).
        **kwargs: the other arguments of :class:`WeightNormDense`; ``data_init`` defaults to False.

    Input shape:
        ``(batch, ..., in)``.

    Output shape:
        ``(batch, ..., units)``.

    Example:

    >>> pixels = L2NormalizedDense(784, activation="sigmoid")(np.zeros((3, 500), "float32"))
    >>> tuple(pixels.shape), float(pixels[0, 0])
    ((3, 784), 0.5)
    """

    def __init__(self, units, activation=None, train_scale=True, kernel_initializer="glorot_uniform", **kwargs):
        kwargs.setdefault("data_init", False)
        super().__init__(
            units, activation=activation, train_scale=train_scale, kernel_initializer=kernel_initializer, **kwargs
        )
