"""Convolutions: the weight-normalized convolution and transposed convolution (``nn.weight_norm`` around
``dnn.Conv2DDNNLayer`` and ``nn.Deconv2DLayer`` of ``mnist_svhn_cifar10/nn.py``) and the plain deconvolution
(``nn.Deconv2DLayer``, ``deconv2d`` of ``imagenet/ops.py``), with Theano's ``"half"`` padding."""
import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.layers.common import _PACKAGE, _refuse, _weight_arguments, _weight_arguments_config
from improved_gan_tf2.layers.weight_norm import _WeightNormBase, _shared_docs


def _refuse_convolution_arguments(layer_name, kwargs, dilation=True):
    _refuse(layer_name, kwargs, "data_format", (None, "channels_last"),
            "the layers are NHWC only (TensorFlow's CPU convolutions are); transpose channels-first inputs with "
            "keras.layers.Permute((2, 3, 1)).")
    _refuse(layer_name, kwargs, "groups", (1,), "the original's convolutions are not grouped; use "
                                                "keras.layers.Conv2D(groups=...) for grouped convolutions.")
    if not dilation:
        _refuse(layer_name, kwargs, "dilation_rate", (1, (1, 1)),
                "the original's deconvolutions are not dilated, and TensorFlow's strided transposed convolution "
                "cannot dilate.")
        _refuse(layer_name, kwargs, "output_padding", (None,),
                "the output size is fixed by padding and strides (strides x input for 'half' and 'same').")


def _conv_padding(padding, kernel_size, dilation_rate=(1, 1)):
    """TensorFlow padding for ``"same"``, ``"valid"`` or Theano's ``"half"`` (``d * (k // 2)`` on both sides)."""
    padding = padding.lower()
    if padding in ("same", "valid"):
        return padding.upper()
    if padding == "half":
        if any(k % 2 == 0 for k in kernel_size):
            raise ValueError(f"padding='half' needs odd kernel sizes, got {kernel_size}; use padding='same'.")
        return [[0, 0]] + [[d * (k // 2)] * 2 for k, d in zip(kernel_size, dilation_rate)] + [[0, 0]]
    raise ValueError(f"padding must be 'same', 'valid' or 'half' (Theano's k//2 on both sides), got {padding!r}.")


def _pair(value):
    return (int(value), int(value)) if np.isscalar(value) else tuple(int(v) for v in value)


@keras.saving.register_keras_serializable(package=_PACKAGE)
@_shared_docs
class WeightNormConv2D(_WeightNormBase):
    """Weight-normalized 2-D convolution (``nn.weight_norm`` around ``dnn.Conv2DDNNLayer``).

    The norm is per output channel over both kernel axes and the input channels. ``padding="half"`` pads
    ``k // 2`` on both sides, as Lasagne's ``pad=1`` for a 3x3 kernel; with ``strides=2`` this differs from
    TensorFlow's ``"same"``, which pads 0 before and 1 after. Like cuDNN (and ``Conv2DDNNLayer``'s default), the
    kernel is not flipped. Inference: the same computation.

    Args:
        filters: output channels.
        kernel_size: an int or a pair.
        strides: an int or a pair.
        padding: ``"half"`` (Theano's ``k // 2`` on both sides; odd kernels), ``"same"`` or ``"valid"``.
        dilation_rate: an int or a pair (``"half"`` then pads ``dilation * (k // 2)``); only with strides 1, as
            TensorFlow's convolution.
        data_format: ``None`` or ``"channels_last"`` (NHWC only).{weight_norm_args}

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, new_height, new_width, filters)``: ``ceil(size / strides)`` for ``"same"`` and ``"half"``,
        ``(size - dilation * (k - 1) - 1) // strides + 1`` for ``"valid"``.

    Example:

    >>> conv = WeightNormConv2D(96, 3, strides=2, padding="half", activation="leaky_relu")
    >>> tuple(conv(np.ones((2, 32, 32, 3), "float32")).shape)
    (2, 16, 16, 96)
    """

    _kernel_norm_axes = (0, 1, 2)

    def __init__(self, filters, kernel_size, strides=1, padding="same", activation=None, init_scale=1.0,
                 train_scale=False, epsilon=1e-6, dilation_rate=1, **kwargs):
        _refuse_convolution_arguments(type(self).__name__, kwargs)
        super().__init__(
            activation=activation, init_scale=init_scale, train_scale=train_scale, epsilon=epsilon, **kwargs
        )
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.dilation_rate = _pair(dilation_rate)
        if self.dilation_rate != (1, 1) and self.strides != (1, 1):
            raise ValueError(
                f"{type(self).__name__}: dilation_rate {self.dilation_rate} needs strides 1 (TensorFlow's "
                f"convolution cannot do both), got strides {self.strides}."
            )
        self.padding = padding
        self._tf_padding = _conv_padding(padding, self.kernel_size, self.dilation_rate)

    def build(self, input_shape):
        self._add_weight_norm_weights(self.kernel_size + (int(input_shape[-1]), self.filters), self.filters)

    def call(self, inputs, training=None):
        options = {} if self.dilation_rate == (1, 1) else {"dilations": (1,) + self.dilation_rate + (1,)}
        pre_activation = tf.nn.conv2d(
            inputs, self.normalized_kernel(), strides=(1,) + self.strides + (1,), padding=self._tf_padding, **options
        )
        return self._bias_and_activation(pre_activation)

    def compute_output_shape(self, input_shape):
        sizes = []
        for size, k, s, d in zip(input_shape[1:3], self.kernel_size, self.strides, self.dilation_rate):
            extent = d * (k - 1) + 1
            if size is None:
                sizes.append(None)
            elif self.padding.lower() == "valid":
                sizes.append((size - extent) // s + 1)
            elif self.padding.lower() == "half":
                sizes.append((size + 2 * d * (k // 2) - extent) // s + 1)
            else:
                sizes.append(-(-size // s))
        return (input_shape[0], sizes[0], sizes[1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                      dilation_rate=self.dilation_rate)
        return config


def _transposed_conv(inputs, kernel, strides, padding, kernel_size, filters):
    """The gradient of a strided convolution (Theano's ``AbstractConv2d_gradInputs``, TF's conv2d_transpose)."""
    in_shape = tf.shape(inputs)
    sizes = []
    for axis, (k, s) in enumerate(zip(kernel_size, strides), start=1):
        size = inputs.shape[axis] if inputs.shape[axis] is not None else in_shape[axis]
        sizes.append(size * s if padding.lower() in ("same", "half") else (size - 1) * s + k)
    output_shape = tf.stack([in_shape[0], sizes[0], sizes[1], filters])
    return tf.nn.conv2d_transpose(
        inputs, kernel, output_shape, strides=(1,) + strides + (1,), padding=_conv_padding(padding, kernel_size)
    )


class _TransposedConvGeometry:
    """What both transposed convolutions (:class:`Deconv2D`, :class:`WeightNormConv2DTranspose`) share: their
    geometry (``filters``, ``kernel_size``, ``strides``, ``padding``, ``flip_kernel``), the transposed convolution
    itself and its output shape."""

    def _set_geometry(self, filters, kernel_size, strides, padding, flip_kernel):
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = padding
        _conv_padding(padding, self.kernel_size)  # validates
        self.flip_kernel = bool(flip_kernel)

    def _geometry_config(self):
        return dict(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                    flip_kernel=self.flip_kernel)

    def _transpose(self, inputs, kernel):
        """The transposed convolution of ``inputs`` with ``kernel`` (flipped first with ``flip_kernel``)."""
        if self.flip_kernel:
            kernel = kernel[::-1, ::-1]
        return _transposed_conv(tf.convert_to_tensor(inputs), kernel, self.strides, self.padding, self.kernel_size,
                                self.filters)

    def compute_output_shape(self, input_shape):
        sizes = [
            None if size is None else (size * s if self.padding.lower() in ("same", "half") else (size - 1) * s + k)
            for size, k, s in zip(input_shape[1:3], self.kernel_size, self.strides)
        ]
        return (input_shape[0], sizes[0], sizes[1], self.filters)


@keras.saving.register_keras_serializable(package=_PACKAGE)
@_shared_docs
class Deconv2D(_TransposedConvGeometry, keras.layers.Layer):
    """Transposed convolution of the original generators (``nn.Deconv2DLayer``), without weight norm.

    Output size is ``strides`` times the input size. ``padding="half"`` with ``flip_kernel=True`` reproduces the
    original exactly: Theano's ``border_mode='half'`` pads 2 on both sides of a 5x5 kernel where TensorFlow's
    ``"same"`` pads 1 before and 2 after, and Theano convolves with the flipped kernel. A kernel copied from the
    original (``W[i, o, u, v]`` → ``kernel[u, v, o, i]``) then gives the original's output. Since weights are
    learned, ``padding="same"`` without flipping is an equally good layer for new models. ``padding="same"``
    is also what TensorFlow's ``conv2d_transpose`` does in ``imagenet/ops.py``'s ``deconv2d``, whose output
    layer starts its bias at -0.45 (``bias_initializer``, zeros by default). Inference: the same computation.

    Args:
        filters: output channels.
        kernel_size: an int or a pair.
        strides: an int or a pair (2: doubles the size).
        padding: ``"half"`` (Theano's alignment; odd kernels), ``"same"`` (TensorFlow's) or ``"valid"``.
        flip_kernel: convolve with the flipped kernel, as Theano (to run weights copied from the original).
        activation: activation after the bias.
        use_bias: whether to add a bias (the generators' hidden deconvolutions have none: batch norm follows).
        kernel_initializer: default N(0, 0.05), the original's.
        bias_initializer: default zeros.
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: as ``keras.layers.Conv2DTranspose``.
        data_format: ``None`` or ``"channels_last"`` (NHWC only). ``dilation_rate``, ``output_padding`` and
            ``groups`` are refused with the reason.
        **kwargs: ``keras.layers.Layer`` arguments.
{transposed_shapes}

    Example:

    >>> deconv = Deconv2D(256, 5, use_bias=False)  # 4x4 -> 8x8, then GeneratorBatchNorm
    >>> tuple(deconv(np.ones((2, 4, 4, 512), "float32")).shape)
    (2, 8, 8, 256)
    """

    def __init__(self, filters, kernel_size, strides=2, padding="half", flip_kernel=False, activation=None,
                 use_bias=True, kernel_initializer=None, bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        _refuse_convolution_arguments(type(self).__name__, kwargs, dilation=False)
        _refuse(type(self).__name__, kwargs, "lora_rank", (None,), "LoRA is not implemented for Deconv2D.")
        super().__init__(**kwargs)
        self._set_geometry(filters, kernel_size, strides, padding, flip_kernel)
        self.activation = keras.activations.get(activation)
        _weight_arguments(self, kernel_initializer, 0.05, kernel_regularizer, kernel_constraint, dict(
            use_bias=use_bias, bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
            bias_constraint=bias_constraint))

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (self.filters, int(input_shape[-1])),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)
            if self.use_bias else None
        )

    def call(self, inputs, training=None):
        outputs = self._transpose(inputs, tf.convert_to_tensor(self.kernel))
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            self._geometry_config(),
            activation=keras.activations.serialize(self.activation),
            **_weight_arguments_config(self),
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
@_shared_docs
class WeightNormConv2DTranspose(_TransposedConvGeometry, _WeightNormBase):
    """Weight-normalized transposed convolution (``nn.weight_norm`` around ``nn.Deconv2DLayer``).

    The norm is per output channel, over both kernel axes and the input channels. ``padding`` and
    ``flip_kernel`` as in :class:`Deconv2D`; the default ``"half"`` keeps the original's pixel alignment.
    Inference: the same computation.

    Args:
        filters: output channels.
        kernel_size: an int or a pair.
        strides: an int or a pair (default 2).
        padding: ``"half"`` (default), ``"same"`` or ``"valid"``.
        flip_kernel: convolve with the flipped kernel, as Theano.
        data_format: ``None`` or ``"channels_last"``; ``dilation_rate``, ``output_padding`` and ``groups`` are
            refused with the reason.{weight_norm_args}
{transposed_shapes}

    Example:

    >>> deconv = WeightNormConv2DTranspose(3, 5, activation="tanh", train_scale=True, init_scale=0.1)
    >>> tuple(deconv(np.ones((2, 16, 16, 128), "float32")).shape)
    (2, 32, 32, 3)
    """

    _kernel_norm_axes = (0, 1, 3)
    _kernel_out_axis = 2

    def __init__(self, filters, kernel_size, strides=2, padding="half", flip_kernel=False, activation=None,
                 init_scale=1.0, train_scale=False, epsilon=1e-6, **kwargs):
        _refuse_convolution_arguments(type(self).__name__, kwargs, dilation=False)
        super().__init__(
            activation=activation, init_scale=init_scale, train_scale=train_scale, epsilon=epsilon, **kwargs
        )
        self._set_geometry(filters, kernel_size, strides, padding, flip_kernel)

    def build(self, input_shape):
        self._add_weight_norm_weights(self.kernel_size + (self.filters, int(input_shape[-1])), self.filters)

    def call(self, inputs, training=None):
        return self._bias_and_activation(self._transpose(inputs, self.normalized_kernel()))

    def get_config(self):
        return {**super().get_config(), **self._geometry_config()}
