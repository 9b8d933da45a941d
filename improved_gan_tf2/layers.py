"""The paper's layers as Keras 3 layers, computing what ``openai/improved-gan`` computes.

Ports of ``mnist_svhn_cifar10/nn.py`` (weight norm, the older MNIST dense layer, ``l2normalize``, the
deconvolution, minibatch discrimination, the generators' batch norm), of ``imagenet/model.py`` (virtual batch
norm ``VBN``, ``VBNL``, ``VBNLP``) and of the ImageNet discriminator (``batch_norm_cross``, the halved minibatch
features). Layouts are TensorFlow's: NHWC activations, kernels ``(kh, kw, in, out)`` for convolutions and
``(kh, kw, out, in)`` for transposed convolutions.

Every layer implements ``build``, ``call(inputs, training=None)``, ``compute_output_shape`` and ``get_config``, is
registered for ``.keras`` serialization under the package name ``improved_gan_tf2`` (so ``import improved_gan_tf2``
is enough to load a saved model), and documents its arguments, shapes, what it does at inference and an example
(the examples run as tests, ``tests/test_docstrings.py``; they use ``np``, ``keras`` and this module's names).

Mixed precision (``keras.mixed_precision``): under ``mixed_float16`` or ``mixed_bfloat16`` the matrix products and
convolutions run in 16 bits, while the weight norms, the init pass's and the batch norms' statistics and the
whole minibatch layers are computed in float32 from the 16-bit values and cast back (as
``keras.layers.BatchNormalization`` does); in float32 nothing is cast and the arithmetic is the original's
(``tests/test_keras_integration.py`` compares both).

Batch-mixing layers (:class:`GeneratorBatchNorm`, :class:`VirtualBatchNorm`, :class:`MinibatchDiscrimination`,
:class:`BatchNormCross`, :class:`HalvedMinibatchDiscrimination`): by default (``inference="batch"``) they compute
with ``training=False`` exactly what they compute in training, from the batch they are given, as the original
does (it has no other mode). With ``inference="stored"`` they keep non-trainable state that
:func:`improved_gan_tf2.init.store_inference_state` sets from a reference batch, and with ``training=False`` they
compute each example from that state alone; training is unchanged. Batches a layer cannot use (one example for
batch statistics, fewer rows than the reference batch, an odd joint batch) raise an error that says why and what
to do: a ``ValueError`` when the batch size is known when the layer is called, else an ``InvalidArgumentError``
when the graph runs.

Gaussian noise: :class:`GaussianNoise` draws it as the Theano scripts' noise layers do (Box-Muller on uniforms,
Theano's ``MRG_RandomStreams.normal``); the ImageNet code, written for TensorFlow, uses ``keras.layers.GaussianNoise``.
Dropout: ``keras.layers.Dropout`` computes what Lasagne's ``DropoutLayer`` computes when called with
``training=True`` (``tests/test_layers.py`` checks both).
"""
import contextlib
import threading

import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.init import in_init_pass, in_reference_pass

__all__ = [
    "WeightNormDense",
    "MnistWeightNormDense",
    "L2NormalizedDense",
    "WeightNormConv2D",
    "WeightNormConv2DTranspose",
    "Deconv2D",
    "GaussianNoise",
    "MinibatchDiscrimination",
    "GeneratorBatchNorm",
    "VirtualBatchNorm",
    "PrependReferenceBatch",
    "DropReferenceBatch",
    "BatchNormCross",
    "HalvedMinibatchDiscrimination",
    "box_muller_normal",
    "pairwise_l1",
    "INFERENCE_MODES",
]

_PACKAGE = "improved_gan_tf2"
#: ``inference`` of the batch-mixing layers: ``"batch"`` (the original: the same computation in every mode) or
#: ``"stored"`` (with ``training=False``, the state stored by ``store_inference_state``).
INFERENCE_MODES = ("batch", "stored")
_SIXTEEN_BIT = (tf.float16, tf.bfloat16)


def _normal(stddev):
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev)


def _float32_if_16bit(x):
    """``x`` cast to float32 if it is float16 or bfloat16, else ``x`` itself (so float32 arithmetic is untouched)."""
    return tf.cast(x, tf.float32) if x.dtype in _SIXTEEN_BIT else x


def _check_inference(layer_name, inference):
    if inference not in INFERENCE_MODES:
        raise ValueError(f"{layer_name}: inference must be one of {INFERENCE_MODES}, got {inference!r}.")
    return inference


def _refuse(layer_name, kwargs, name, allowed, reason):
    """Pop ``name`` from ``kwargs``; a value outside ``allowed`` raises a ValueError giving ``reason``."""
    if name in kwargs:
        value = kwargs.pop(name)
        normalized = tuple(value) if isinstance(value, list) else value
        if normalized not in allowed:
            raise ValueError(f"{layer_name} does not take {name}={value!r}: {reason}")


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


def _check_rows(x, minimum, message, per_row=1):
    """Raise ``message`` if ``x`` has fewer than ``minimum`` rows (times ``per_row`` values per row): a ValueError
    when the batch size is known now, else a run-time assertion (an InvalidArgumentError when the graph runs)."""
    rows = x.shape[0]
    if rows is not None:
        if rows * per_row < minimum:
            raise ValueError(message)
        return
    tf.debugging.assert_greater_equal(tf.shape(x)[0] * per_row, minimum, message=message)


def _check_even_rows(x, message):
    rows = x.shape[0]
    if rows is not None:
        if rows % 2:
            raise ValueError(message)
        return
    tf.debugging.assert_equal(tf.shape(x)[0] % 2, 0, message=message)


def _assert_stored(layer, flag):
    """Check that :func:`store_inference_state` has set ``layer``'s inference state (``flag`` is 1 once set)."""
    message = (
        f"{layer.name} ({type(layer).__name__}, inference='stored') has no stored inference state yet: call "
        "improved_gan_tf2.store_inference_state(model, reference_batch) after training (or call it with "
        "training=True)."
    )
    if tf.executing_eagerly():
        if float(flag.numpy()) != 1.0:
            raise ValueError(message)
        return
    tf.debugging.assert_equal(tf.convert_to_tensor(flag), 1.0, message=message)


def _add_stored_flag(layer):
    return layer.add_weight(name="inference_state_stored", shape=(), initializer="zeros", trainable=False,
                            autocast=False)


def _uses_stored_state(inference, training):
    """True when a layer with ``inference`` computes from its stored state: ``"stored"``, ``training`` off, and not
    in the reference pass or the init pass."""
    return inference == "stored" and not training and not in_reference_pass() and not in_init_pass()


def _add_stored_state(layer, weights, autocast=False):
    """Add the state of a layer with ``inference="stored"``: each ``(name, shape, initializer)`` of ``weights``, in
    order, as a non-trainable weight set as ``layer.<name>``, then the ``inference_state_stored`` flag."""
    for name, shape, initializer in weights:
        setattr(layer, name, layer.add_weight(name=name, shape=shape, initializer=initializer, trainable=False,
                                              autocast=autocast))
    layer.inference_state_stored = _add_stored_flag(layer)


def _computes_from_stored_state(layer, training):
    """:func:`_uses_stored_state` for ``layer``; when true, also check that its state has been stored."""
    if not _uses_stored_state(layer.inference, training):
        return False
    _assert_stored(layer, layer.inference_state_stored)
    return True


def _records_stored_state(layer):
    """True in the reference pass of a layer with ``inference="stored"``: it then stores its state."""
    return layer.inference == "stored" and in_reference_pass()


def _store_state(layer, **values):
    """Assign ``values`` (weight attribute name -> value), in order, to ``layer``'s state and set its flag."""
    for name, value in values.items():
        getattr(layer, name).assign(value)
    layer.inference_state_stored.assign(1.0)


# ---------------------------------------------------------------- weight norm


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


def _weight_arguments(layer, kernel_initializer, default_stddev, kernel_regularizer=None, kernel_constraint=None,
                      bias=None):
    """Set the kernel's (and, with ``bias`` a dict of ``use_bias``, ``bias_initializer``, ``bias_regularizer`` and
    ``bias_constraint``, the bias's) Keras arguments on ``layer``: the initializer defaults to N(0,
    ``default_stddev``), the original's."""
    layer.kernel_initializer = keras.initializers.get(
        kernel_initializer if kernel_initializer is not None else _normal(default_stddev)
    )
    layer.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    layer.kernel_constraint = keras.constraints.get(kernel_constraint)
    layer._has_bias_arguments = bias is not None
    if bias is not None:
        layer.use_bias = bool(bias["use_bias"])
        layer.bias_initializer = keras.initializers.get(bias["bias_initializer"])
        layer.bias_regularizer = keras.regularizers.get(bias["bias_regularizer"])
        layer.bias_constraint = keras.constraints.get(bias["bias_constraint"])


def _weight_arguments_config(layer):
    """The config entries of :func:`_weight_arguments`."""
    config = dict(
        kernel_initializer=keras.initializers.serialize(layer.kernel_initializer),
        kernel_regularizer=keras.regularizers.serialize(layer.kernel_regularizer),
        kernel_constraint=keras.constraints.serialize(layer.kernel_constraint),
    )
    if layer._has_bias_arguments:
        config.update(
            use_bias=layer.use_bias,
            bias_initializer=keras.initializers.serialize(layer.bias_initializer),
            bias_regularizer=keras.regularizers.serialize(layer.bias_regularizer),
            bias_constraint=keras.constraints.serialize(layer.bias_constraint),
        )
    return config


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


# ---------------------------------------------------------------- convolutions


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


# ---------------------------------------------------------------- activation


@keras.saving.register_keras_serializable(package=_PACKAGE)
def lrelu(x):
    """Leaky ReLU with slope 0.2, ``nn.lrelu``: ``max(x, 0.2 x)`` (CIFAR-10/SVHN discriminators).

    TensorFlow's ``LeakyRelu`` op holds its slope as a float32 attribute, so on float64 tensors it multiplies by
    0.20000000298; float64 tensors are therefore computed as the original writes it, ``max(x, 0.2 x)`` with the
    slope in float64. Other dtypes use the fused op, which gives the same numbers there (value and gradient).

    >>> lrelu(np.array([-1.0, 2.0])).numpy().tolist()
    [-0.2, 2.0]
    """
    x = tf.convert_to_tensor(x)
    if x.dtype == tf.float64:
        return tf.maximum(x, 0.2 * x)
    return tf.nn.leaky_relu(x, alpha=0.2)


# ---------------------------------------------------------------- noise


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


# ---------------------------------------------------------------- minibatch discrimination


def pairwise_l1(activation, other=None):
    """``d[i, b, j] = sum_c |M[i, b, c] - N[j, b, c]|`` for ``M`` of shape ``n x B x C`` and ``N`` (default ``M``)
    of shape ``m x B x C``; returns ``n x B x m`` (the minibatch-discrimination distances of ``nn.MinibatchLayer``
    and ``imagenet/discriminator.py``).

    >>> m = np.array([[[0.0, 1.0]], [[2.0, 4.0]]], "float32")  # 2 examples, 1 kernel, 2 dimensions
    >>> pairwise_l1(m).numpy()[:, 0, :]
    array([[0., 5.],
           [5., 0.]], dtype=float32)
    """
    other = activation if other is None else other
    return tf.reduce_sum(tf.abs(activation[:, :, :, None] - tf.transpose(other, [1, 2, 0])[None]), axis=2)


def _flatten(inputs):
    return tf.reshape(inputs, [-1, int(np.prod(inputs.shape[1:]))])


class _MinibatchFeatures(keras.layers.Layer):
    """What both minibatch-discrimination layers share: ``num_kernels`` kernels of ``dim_per_kernel``
    dimensions over the flattened input, the kernel drawn from N(0, ``_default_kernel_stddev``) unless
    ``kernel_initializer`` is given, the optional stored reference rows, and their configuration."""

    _default_kernel_stddev = None
    mixes_batch = True

    def __init__(self, num_kernels, dim_per_kernel, kernel_initializer=None, kernel_regularizer=None,
                 kernel_constraint=None, inference="batch", reference_size=None, **kwargs):
        super().__init__(**kwargs)
        self.num_kernels = int(num_kernels)
        self.dim_per_kernel = int(dim_per_kernel)
        _weight_arguments(self, kernel_initializer, self._default_kernel_stddev, kernel_regularizer, kernel_constraint)
        self.inference = _check_inference(type(self).__name__, inference)
        if inference == "stored" and (reference_size is None or int(reference_size) < 1):
            raise ValueError(
                f"{type(self).__name__}(inference='stored') needs reference_size, the number of rows it stores and "
                f"compares examples with at inference (e.g. the training batch size - 1), got {reference_size!r}."
            )
        self.reference_size = None if reference_size is None else int(reference_size)

    def _add_reference_weights(self, num_inputs, rows):
        if self.inference == "stored":
            _add_stored_state(self, [("reference_inputs", (rows, num_inputs), "zeros")], autocast=True)

    def _store_reference(self, rows):
        _store_state(self, reference_inputs=tf.cast(rows, self.reference_inputs.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(
            num_kernels=self.num_kernels,
            dim_per_kernel=self.dim_per_kernel,
            **_weight_arguments_config(self),
            inference=self.inference,
            reference_size=self.reference_size,
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MinibatchDiscrimination(_MinibatchFeatures):
    """Minibatch discrimination (paper Sec. 3.2; ``nn.MinibatchLayer``).

    The input is flattened to ``n x A``; ``M = x . W`` with ``W = kernel * exp(log_weight_scale) /
    sqrt(sum_A kernel**2)`` (``n x B x C``); ``f[i, b] = sum_j exp(-sum_c |M[i,b,c] - M[j,b,c]|) + bias[b]``,
    where the ``j = i`` term is suppressed by adding 1e6 to its distance. Output ``concat([x, f])``.
    Init pass: distances are divided by half the mean nearest-neighbour distance of each kernel
    (``log_weight_scale`` absorbs it) and ``bias`` centres ``f`` on the batch. Under mixed precision the layer
    computes in float32 from its 16-bit input and casts ``f`` back: 1e6 overflows float16, and ``exp(-d)`` of
    distances between close rows amplifies 16-bit rounding of ``M`` (with ``M`` in bfloat16 the kernel's
    gradient was half wrong).

    Inference (``training=False``): with ``inference="batch"`` (default, the original's test pass) each example
    is compared with the other examples of its batch, so outputs depend on the batch; a batch needs at least 2
    examples. With ``inference="stored"`` each example is compared with the ``reference_size`` rows that
    :func:`~improved_gan_tf2.init.store_inference_state` stored (``f[i] = sum_j exp(-d(x_i, r_j)) + bias``, every
    stored row ``j``), through the current weights: any batch size, outputs independent of the batch. Storing
    ``batch_size - 1`` rows matches the number of terms of a training batch.

    Args:
        num_kernels: ``B``, the number of features (100 in the CIFAR/SVHN scripts).
        dim_per_kernel: ``C`` (5).
        kernel_initializer: default N(0, 0.05).
        kernel_regularizer, kernel_constraint: of ``kernel``.
        inference: ``"batch"`` or ``"stored"`` (see above).
        reference_size: rows stored with ``inference="stored"`` (the first rows of the reference pass's batch).
        **kwargs: ``keras.layers.Layer`` arguments.

    Input shape:
        ``(batch, d1, ..., dk)``, flattened to ``(batch, A)``.

    Output shape:
        ``(batch, A + num_kernels)``.

    Example:

    >>> features = MinibatchDiscrimination(100)(np.random.RandomState(0).randn(8, 192).astype("float32"))
    >>> tuple(features.shape)
    (8, 292)
    """

    _default_kernel_stddev = 0.05

    def __init__(self, num_kernels, dim_per_kernel=5, kernel_initializer=None, **kwargs):
        super().__init__(num_kernels, dim_per_kernel, kernel_initializer, **kwargs)

    def build(self, input_shape):
        num_inputs = int(np.prod(input_shape[1:]))
        self.kernel = self.add_weight(
            name="kernel",
            shape=(num_inputs, self.num_kernels, self.dim_per_kernel),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            autocast=False,
        )
        self.log_weight_scale = self.add_weight(
            name="log_weight_scale", shape=(self.num_kernels, self.dim_per_kernel), initializer="zeros",
            autocast=False,
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.num_kernels,), initializer=keras.initializers.Constant(-1.0), autocast=False
        )
        self._add_reference_weights(num_inputs, self.reference_size)

    def projection(self):
        """The effective ``A x B x C`` tensor ``W`` (float32 under mixed precision: the kernel is never cast)."""
        kernel = tf.convert_to_tensor(self.kernel)
        return kernel * (tf.exp(self.log_weight_scale) / tf.sqrt(tf.reduce_sum(tf.square(kernel), axis=0)))

    def _project(self, flat, projection=None):
        """``M = x . W`` (``n x B x C``); float32 for 16-bit inputs (see the class docstring). ``projection``:
        ``W`` if already computed (default: :meth:`projection`)."""
        projection = self.projection() if projection is None else projection
        return tf.tensordot(_float32_if_16bit(flat), projection, axes=[[1], [0]])

    def l1_distances(self, inputs):
        """``abs_dif[i, b, j]`` of the original, with 1e6 on the diagonal. Returns (flat inputs, distances)."""
        flat = _flatten(tf.convert_to_tensor(inputs))
        distances = pairwise_l1(self._project(flat))
        eye = tf.eye(tf.shape(flat)[0], dtype=distances.dtype)
        return flat, distances + 1e6 * eye[:, None, :]

    def call(self, inputs, training=None):
        inputs = tf.convert_to_tensor(inputs)
        if _computes_from_stored_state(self, training):
            flat = _flatten(inputs)
            reference = tf.cast(self.reference_inputs, flat.dtype)
            projection = self.projection()
            distances = pairwise_l1(self._project(flat, projection), self._project(reference, projection))
            features = tf.reduce_sum(tf.exp(-distances), axis=2) + self.bias
            return tf.concat([flat, tf.cast(features, flat.dtype)], axis=1)
        _check_rows(inputs, 2, f"{self.name}: MinibatchDiscrimination compares each example with the other examples "
                               "of its batch, and a batch of 1 has none (its features would be the bias alone); pass "
                               "at least 2 examples, or use inference='stored' with store_inference_state for "
                               "single examples at inference.")
        flat, distances = self.l1_distances(inputs)
        if in_init_pass():
            mean_min = 0.5 * tf.reduce_mean(tf.reduce_min(distances, axis=2), axis=0)  # B
            distances = distances / mean_min[None, :, None]
            self.log_weight_scale.assign(self.log_weight_scale - tf.math.log(mean_min)[:, None])
            features = tf.reduce_sum(tf.exp(-distances), axis=2)
            mean_features = tf.reduce_mean(features, axis=0)
            self.bias.assign(-mean_features)
            features = features - mean_features
        else:
            features = tf.reduce_sum(tf.exp(-distances), axis=2) + self.bias
        if _records_stored_state(self):
            _check_rows(flat, self.reference_size, f"{self.name}: the reference pass needs at least reference_size="
                                                   f"{self.reference_size} rows to store.")
            self._store_reference(flat[:self.reference_size])
        return tf.concat([flat, tf.cast(features, flat.dtype)], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])) + self.num_kernels)


# ---------------------------------------------------------------- batch norms


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GeneratorBatchNorm(keras.layers.Layer):
    """Batch norm as the original generators use it (``nn.batch_norm(..., g=None)``): batch statistics.

    ``y = (x - mean) / sqrt(epsilon + var) + bias`` with the biased batch variance (over the batch, and over space
    for rank-4 inputs), ``epsilon = 1e-6`` and a learned shift; no scale unless ``scale=True``. The original never
    runs a generator deterministically, so it has no inference mode; ``keras.layers.BatchNormalization``
    computes the same with ``training=True`` but switches to moving statistics under ``training=False`` (e.g.
    ``predict``). Under mixed precision the statistics are computed in float32.

    Inference (``training=False``): with ``inference="batch"`` (default, the original) the statistics of the
    batch given, as in training, so samples depend on the other samples of the batch, and a single example
    (without spatial axes) raises an error: its normalized value would be 0, its output the bias. With
    ``inference="stored"`` the mean and variance that :func:`~improved_gan_tf2.init.store_inference_state`
    recorded from a reference batch: any batch size, each example on its own. Training always uses the batch.

    Args:
        epsilon: added to the variance inside the root (1e-6).
        center: whether to add the learned shift ``bias`` (True).
        scale: whether to multiply by a learned ``gamma`` (False, as the original).
        inference: ``"batch"`` or ``"stored"`` (see above).
        axis: -1 only (the channel axis of NHWC). ``momentum`` and the moving-statistics arguments of
            ``keras.layers.BatchNormalization`` are refused (there are no moving averages; see ``inference``).
        **kwargs: ``keras.layers.Layer`` arguments.

    Input shape:
        ``(batch, ..., channels)``.

    Output shape:
        the input's.

    Example:

    >>> h = GeneratorBatchNorm()(np.random.RandomState(0).randn(50, 500).astype("float32"))
    >>> round(float(np.mean(h)), 4), round(float(np.std(h)), 3)
    (0.0, 1.0)
    """

    mixes_batch = True

    def __init__(self, epsilon=1e-6, center=True, scale=False, inference="batch", **kwargs):
        name = type(self).__name__
        _refuse(name, kwargs, "axis", (-1,), "normalizes the last axis (NHWC channels) only.")
        for argument in ("momentum", "moving_mean_initializer", "moving_variance_initializer"):
            _refuse(name, kwargs, argument, (None,),
                    "the original generators keep no moving averages; use inference='stored' and "
                    "store_inference_state for statistics at inference.")
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.inference = _check_inference(name, inference)

    def build(self, input_shape):
        channels = (int(input_shape[-1]),)
        self.bias = (
            self.add_weight(name="bias", shape=channels, initializer="zeros", autocast=False) if self.center else None
        )
        self.gamma = (
            self.add_weight(name="gamma", shape=channels, initializer="ones", autocast=False) if self.scale else None
        )
        if self.inference == "stored":
            _add_stored_state(self, [("reference_mean", channels, "zeros"), ("reference_variance", channels, "ones")])

    def call(self, inputs, training=None):
        inputs = tf.convert_to_tensor(inputs)
        x = _float32_if_16bit(inputs)
        axes = list(range(len(x.shape) - 1))
        if _computes_from_stored_state(self, training):
            centred = x - self.reference_mean
            variance = self.reference_variance
        else:
            per_row = int(np.prod([d or 1 for d in x.shape[1:-1]]))  # values per channel in one example
            _check_rows(x, 2, f"{self.name}: GeneratorBatchNorm normalizes with batch statistics, and one value per "
                              "channel has none (the output would be the bias alone); pass at least 2 examples, or "
                              "use inference='stored' with store_inference_state for single examples at "
                              "inference.", per_row=per_row)
            mean = tf.reduce_mean(x, axis=axes)
            centred = x - mean
            variance = tf.reduce_mean(tf.square(centred), axis=axes)
            if _records_stored_state(self):
                _store_state(self, reference_mean=mean, reference_variance=variance)
        outputs = centred / tf.sqrt(self.epsilon + variance)
        if self.gamma is not None:
            outputs = outputs * self.gamma
        if self.bias is not None:
            outputs = outputs + self.bias
        return tf.cast(outputs, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon, center=self.center, scale=self.scale, inference=self.inference)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class VirtualBatchNorm(keras.layers.Layer):
    """Virtual batch normalization (paper Sec. 3.4; ``VBN``, ``VBNL``, ``VBNLP`` of ``imagenet/model.py``).

    Call it on a batch whose first ``reference_size`` rows are the reference batch (a
    :class:`PrependReferenceBatch` at the model's input puts them there). Reference rows are normalized with the
    reference statistics (mean and mean of squares over the reference rows and, unless ``per_pixel``, over space);
    every other row with ``1/(R+1)`` of its own statistics plus ``R/(R+1)`` of the reference's, so a live example's
    output does not depend on the other live examples. ``std = sqrt(epsilon + E[x^2] - E[x]^2)``;
    ``out = (x - mean) / std * gamma + beta``. ``scale="linear"`` (``VBN``): ``gamma ~ N(1, 0.02)``.
    ``scale="log"`` (``VBNL``): the multiplier is ``exp(gamma)``, ``gamma ~ N(0, 0.02)`` (the original's
    ``gamma_driver``). ``per_pixel=True`` with ``scale="log"`` is ``VBNLP``: statistics over the batch only, and
    ``gamma``/``beta`` per pixel and channel. Under mixed precision the statistics are computed in float32
    (``E[x^2] - E[x]^2`` cancels badly in 16 bits).

    Inference (``training=False``): with ``inference="batch"`` (default, the original) the same as training:
    the first ``reference_size`` rows of every call are the reference (so ``predict`` on a model without a
    ``PrependReferenceBatch`` would take each batch's first rows as the reference); a batch with fewer rows is an
    error. With ``inference="stored"`` every row is a live row, normalized with the reference statistics that
    :func:`~improved_gan_tf2.init.store_inference_state` recorded (from the reference rows of the pass's batch):
    exactly what training computes for a live row with the same weights, without carrying the reference batch
    (pair it with ``PrependReferenceBatch(inference="stored")`` and ``DropReferenceBatch(inference="stored")``,
    which then skip the reference rows at inference). Training always uses the reference rows of the batch.

    Args:
        reference_size: ``R``, the rows of the reference batch.
        epsilon: inside the root (1e-5, as the original).
        scale: ``"linear"`` (``VBN``) or ``"log"`` (``VBNL``, ``VBNLP``).
        per_pixel: statistics per pixel and per-pixel ``gamma``/``beta`` (``VBNLP``).
        inference: ``"batch"`` or ``"stored"`` (see above).
        **kwargs: ``keras.layers.Layer`` arguments.

    Input shape:
        ``(R + n, channels)`` or ``(R + n, height, width, channels)``; with ``inference="stored"`` and
        ``training=False``, ``(n, ...)``.

    Output shape:
        the input's.

    Example:

    >>> rng = np.random.RandomState(0)
    >>> reference, live = rng.randn(64, 16).astype("float32"), rng.randn(5, 16).astype("float32")
    >>> vbn = VirtualBatchNorm(reference_size=64)
    >>> out = vbn(np.concatenate([reference, live]))
    >>> tuple(out.shape)
    (69, 16)
    >>> np.allclose(vbn(np.concatenate([reference, live[:1]]))[64], out[64], atol=1e-6)  # live rows independent
    True
    """

    mixes_batch = True

    def __init__(self, reference_size, epsilon=1e-5, scale="linear", per_pixel=False, inference="batch", **kwargs):
        super().__init__(**kwargs)
        if scale not in ("linear", "log"):
            raise ValueError(f"scale must be 'linear' (VBN) or 'log' (VBNL/VBNLP), got {scale!r}.")
        if int(reference_size) < 1:
            raise ValueError(f"reference_size must be at least 1, got {reference_size}.")
        self.reference_size = int(reference_size)
        self.epsilon = float(epsilon)
        self.scale = scale
        self.per_pixel = bool(per_pixel)
        self.inference = _check_inference(type(self).__name__, inference)

    def build(self, input_shape):
        if len(input_shape) not in (2, 4):
            raise ValueError(f"VirtualBatchNorm takes rank-2 or rank-4 inputs, got shape {tuple(input_shape)}.")
        shape = tuple(int(d) for d in input_shape[1:]) if self.per_pixel else (int(input_shape[-1]),)
        gamma_mean = 1.0 if self.scale == "linear" else 0.0
        self.gamma = self.add_weight(
            name="gamma", shape=shape, initializer=keras.initializers.RandomNormal(gamma_mean, 0.02), autocast=False
        )
        self.beta = self.add_weight(name="beta", shape=shape, initializer="zeros", autocast=False)
        if self.inference == "stored":
            # the reference statistics, shaped as the NHWC view's keepdims moments: (1, H, W, C) or (1, 1, 1, C)
            spatial = tuple(int(d) for d in input_shape[1:-1]) if len(input_shape) == 4 else (1, 1)
            stats = (1,) + (spatial if self.per_pixel else (1, 1)) + (int(input_shape[-1]),)
            _add_stored_state(self, [("reference_mean", stats, "zeros"), ("reference_mean_sq", stats, "ones")])

    def call(self, inputs, training=None):
        inputs = tf.convert_to_tensor(inputs)
        rank2 = len(inputs.shape) == 2
        x = _float32_if_16bit(inputs[:, None, None, :] if rank2 else inputs)
        new_coeff = 1.0 / (self.reference_size + 1.0)
        if _computes_from_stored_state(self, training):
            own_mean, own_mean_sq = self._own_statistics(x)
            live_mean = new_coeff * own_mean + (1.0 - new_coeff) * self.reference_mean
            live_mean_sq = new_coeff * own_mean_sq + (1.0 - new_coeff) * self.reference_mean_sq
            outputs = self._normalize(x, live_mean, live_mean_sq)
            return self._restore_layout(outputs, rank2, inputs.dtype)
        _check_rows(x, self.reference_size, f"{self.name}: VirtualBatchNorm needs the {self.reference_size} "
                                            "reference rows first in the batch; concatenate the reference batch "
                                            "before the live batch (PrependReferenceBatch does), or use "
                                            "inference='stored'.")
        reference = x[: self.reference_size]
        live = x[self.reference_size:]
        batch_axes = [0] if self.per_pixel else [0, 1, 2]
        ref_mean = tf.reduce_mean(reference, axis=batch_axes, keepdims=True)
        ref_mean_sq = tf.reduce_mean(tf.square(reference), axis=batch_axes, keepdims=True)
        own_mean, own_mean_sq = self._own_statistics(live)
        live_mean = new_coeff * own_mean + (1.0 - new_coeff) * ref_mean
        live_mean_sq = new_coeff * own_mean_sq + (1.0 - new_coeff) * ref_mean_sq
        if _records_stored_state(self):
            _store_state(self, reference_mean=ref_mean, reference_mean_sq=ref_mean_sq)
        outputs = tf.concat(
            [self._normalize(reference, ref_mean, ref_mean_sq), self._normalize(live, live_mean, live_mean_sq)],
            axis=0,
        )
        return self._restore_layout(outputs, rank2, inputs.dtype)

    @staticmethod
    def _restore_layout(outputs, rank2, dtype):
        """The NHWC view's ``outputs`` back in the input's rank (``N x C`` for a rank-2 input) and dtype."""
        return tf.cast(outputs[:, 0, 0, :] if rank2 else outputs, dtype)

    def _own_statistics(self, live):
        if self.per_pixel:
            return live, tf.square(live)
        return (tf.reduce_mean(live, axis=[1, 2], keepdims=True),
                tf.reduce_mean(tf.square(live), axis=[1, 2], keepdims=True))

    def _normalize(self, x, mean, mean_sq):
        gamma = tf.convert_to_tensor(self.gamma)
        gamma = tf.exp(gamma) if self.scale == "log" else gamma
        std = tf.sqrt(self.epsilon + mean_sq - tf.square(mean))
        return (x - mean) / std * gamma + self.beta

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            reference_size=self.reference_size, epsilon=self.epsilon, scale=self.scale, per_pixel=self.per_pixel,
            inference=self.inference,
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PrependReferenceBatch(keras.layers.Layer):
    """Prepends a fixed reference batch, a non-trainable weight, to every batch, so that every
    :class:`VirtualBatchNorm` after it normalizes with that reference batch's statistics (paper Sec. 3.4; the
    Table 3 generators of the CIFAR-10 ablations). The reference rows are removed again by
    :class:`DropReferenceBatch`. By default the reference is noise drawn once from U(0, 1) (a generator's z);
    :meth:`set_reference` puts data there (e.g. real examples, for a classifier).

    Inference (``training=False``): with ``inference="batch"`` (default) the reference is prepended as in
    training, so the VBN layers after it see the same reference at any batch size (outputs do not depend on the
    batch). With ``inference="stored"`` (to pair with ``VirtualBatchNorm(inference="stored")``) the reference is
    prepended only in training and in the reference pass of
    :func:`~improved_gan_tf2.init.store_inference_state`.

    Args:
        reference_size: ``R``, the reference rows.
        reference_initializer: the reference's initializer (default U(0, 1), drawn once when built).
        inference: ``"batch"`` or ``"stored"`` (see above).
        **kwargs: ``keras.layers.Layer`` arguments.

    Input shape:
        ``(n, ...)``.

    Output shape:
        ``(R + n, ...)`` (``(n, ...)`` with ``inference="stored"`` at inference).

    Example:

    >>> prepend = PrependReferenceBatch(100)
    >>> tuple(prepend(np.zeros((8, 100), "float32")).shape)
    (108, 100)
    >>> prepend.set_reference(np.full((100, 100), 0.5, "float32"))
    """

    mixes_batch = True

    def __init__(self, reference_size, reference_initializer=None, inference="batch", **kwargs):
        super().__init__(**kwargs)
        self.reference_size = int(reference_size)
        self.reference_initializer = (
            None if reference_initializer is None else keras.initializers.get(reference_initializer)
        )
        self.inference = _check_inference(type(self).__name__, inference)

    def build(self, input_shape):
        initializer = self.reference_initializer
        if initializer is None:
            initializer = keras.initializers.RandomUniform(0.0, 1.0)
        self.reference = self.add_weight(
            name="reference", shape=(self.reference_size,) + tuple(int(d) for d in input_shape[1:]),
            initializer=initializer, trainable=False,
        )

    def set_reference(self, values):
        """Replace the reference batch with ``values`` (shape ``(reference_size,) + input_shape[1:]``)."""
        values = np.asarray(values)
        if tuple(values.shape) != tuple(self.reference.shape):
            raise ValueError(f"{self.name}: the reference batch has shape {tuple(self.reference.shape)}, got "
                             f"{tuple(values.shape)}.")
        self.reference.assign(values.astype(self.reference.dtype))

    def call(self, inputs, training=None):
        if _uses_stored_state(self.inference, training):
            return inputs
        return tf.concat([tf.cast(self.reference, inputs.dtype), inputs], axis=0)

    def compute_output_shape(self, input_shape):
        return (None,) + tuple(input_shape[1:])

    def get_config(self):
        config = {**super().get_config(), "reference_size": self.reference_size}
        config["reference_initializer"] = (
            None if self.reference_initializer is None else keras.initializers.serialize(self.reference_initializer)
        )
        config["inference"] = self.inference
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DropReferenceBatch(keras.layers.Layer):
    """Removes the first ``reference_size`` rows (the reference batch of :class:`PrependReferenceBatch`).

    Inference: with ``inference="batch"`` (default) the rows are removed in every mode; with
    ``inference="stored"`` only in training and in the reference pass (as its ``PrependReferenceBatch``).

    Args:
        reference_size: ``R``.
        inference: ``"batch"`` or ``"stored"``.
        **kwargs: ``keras.layers.Layer`` arguments.

    Input shape:
        ``(R + n, ...)``.

    Output shape:
        ``(n, ...)``.

    Example:

    >>> tuple(DropReferenceBatch(100)(np.zeros((108, 16), "float32")).shape)
    (8, 16)
    """

    mixes_batch = True

    def __init__(self, reference_size, inference="batch", **kwargs):
        super().__init__(**kwargs)
        self.reference_size = int(reference_size)
        self.inference = _check_inference(type(self).__name__, inference)

    def call(self, inputs, training=None):
        if _uses_stored_state(self.inference, training):
            return inputs
        return inputs[self.reference_size:]

    def compute_output_shape(self, input_shape):
        return (None,) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "reference_size": self.reference_size, "inference": self.inference}


# ---------------------------------------------------------------- the ImageNet discriminator's layers


def _as_nhwc(inputs, layer_name):
    """Rank-2 inputs become ``N x 1 x 1 x C``, as ``imagenet/ops.py`` reshapes them; returns (x, was_rank2)."""
    inputs = tf.convert_to_tensor(inputs)
    if len(inputs.shape) == 2:
        return inputs[:, None, None, :], True
    if len(inputs.shape) == 4:
        return inputs, False
    raise ValueError(f"{layer_name} takes rank-2 or rank-4 inputs, got shape {tuple(inputs.shape)}.")


def _joint_batch_message(layer):
    return (f"{layer.name}: {type(layer).__name__} takes the joint batch concat([real, generated]), whose two halves "
            "have the same number of rows, so the batch must have an even number of rows")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchNormCross(keras.layers.Layer):
    """The ImageNet discriminator's batch norm (``batch_norm_cross`` of ``imagenet/ops.py``).

    Called on the joint batch ``concat([real, generated])`` (first half of the rows real, second half
    generated). The first half of the channels is normalized with the statistics of the *real* rows, the second
    half of the channels with the statistics of the *generated* rows; every row is normalized with those, so
    each half of the batch sees the other half's statistics in one half of its channels. Statistics are the
    batch-and-space mean and biased variance of ``tf.nn.moments``; ``out = (x - mean) / sqrt(var + epsilon) *
    gamma + beta`` with separate ``gamma0, beta0`` (first channel half) and ``gamma1, beta1`` (second);
    ``gamma ~ N(1, 0.02)``, ``beta = 0``, ``epsilon = 1e-5``. Channels and rows must both be even. Under mixed
    precision the statistics are computed in float32.

    Inference (``training=False``): with ``inference="batch"`` (default; the original has no moving averages)
    the same as training, on a joint batch. With ``inference="stored"`` the four statistics that
    :func:`~improved_gan_tf2.init.store_inference_state` recorded from a joint batch: any batch (e.g. real
    images only, any size), each row on its own.

    Args:
        epsilon: added to the variance (1e-5).
        inference: ``"batch"`` or ``"stored"`` (see above).
        **kwargs: ``keras.layers.Layer`` arguments.

    Input shape:
        ``(2h, channels)`` or ``(2h, height, width, channels)``, ``channels`` even.

    Output shape:
        the input's.

    Example:

    >>> rng = np.random.RandomState(0)
    >>> real, generated = rng.randn(4, 6, 6, 8).astype("float32"), rng.randn(4, 6, 6, 8).astype("float32")
    >>> tuple(BatchNormCross()(np.concatenate([real, generated])).shape)
    (8, 6, 6, 8)
    """

    mixes_batch = True

    def __init__(self, epsilon=1e-5, inference="batch", **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.inference = _check_inference(type(self).__name__, inference)

    def build(self, input_shape):
        if len(input_shape) not in (2, 4):
            raise ValueError(f"BatchNormCross takes rank-2 or rank-4 inputs, got shape {tuple(input_shape)}.")
        channels = int(input_shape[-1])
        if channels % 2:
            raise ValueError(
                f"BatchNormCross needs an even number of channels (half per batch half), got {channels}; "
                "use even layer widths (e.g. an even df_dim)."
            )
        half = (channels // 2,)
        gamma_init = keras.initializers.RandomNormal(1.0, 0.02)
        self.gamma0 = self.add_weight(name="gamma0", shape=half, initializer=gamma_init, autocast=False)
        self.beta0 = self.add_weight(name="beta0", shape=half, initializer="zeros", autocast=False)
        self.gamma1 = self.add_weight(name="gamma1", shape=half, initializer=gamma_init, autocast=False)
        self.beta1 = self.add_weight(name="beta1", shape=half, initializer="zeros", autocast=False)
        if self.inference == "stored":
            # [mean0, mean1] and [var0, var1]: the real rows' statistics of channel half 0, the generated rows' of 1
            _add_stored_state(self, [("reference_mean", (2 * half[0],), "zeros"),
                                     ("reference_variance", (2 * half[0],), "ones")])

    def call(self, inputs, training=None):
        x, rank2 = _as_nhwc(inputs, "BatchNormCross")
        dtype = x.dtype
        x = _float32_if_16bit(x)
        channels = x.shape[-1] // 2
        ch0, ch1 = x[..., :channels], x[..., channels:2 * channels]
        if _computes_from_stored_state(self, training):
            mean0, mean1 = self.reference_mean[:channels], self.reference_mean[channels:]
            var0, var1 = self.reference_variance[:channels], self.reference_variance[channels:]
        else:
            _check_even_rows(x, _joint_batch_message(self) + "; or use inference='stored' for other batches at "
                                                             "inference.")
            rows = tf.shape(x)[0] // 2
            mean0, var0 = tf.nn.moments(ch0[:rows], axes=[0, 1, 2])  # channel half 0, real rows
            mean1, var1 = tf.nn.moments(ch1[rows:], axes=[0, 1, 2])  # channel half 1, generated rows
            if _records_stored_state(self):
                _store_state(self, reference_mean=tf.concat([mean0, mean1], axis=0),
                             reference_variance=tf.concat([var0, var1], axis=0))
        out0 = (ch0 - mean0) * tf.math.rsqrt(var0 + self.epsilon) * self.gamma0 + self.beta0
        out1 = (ch1 - mean1) * tf.math.rsqrt(var1 + self.epsilon) * self.gamma1 + self.beta1
        outputs = tf.cast(tf.concat([out0, out1], axis=-1), dtype)
        return outputs[:, 0, 0, :] if rank2 else outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "inference": self.inference}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HalvedMinibatchDiscrimination(_MinibatchFeatures):
    """The ImageNet discriminator's minibatch features (``imagenet/discriminator.py``), per batch half.

    Called on the joint batch ``concat([real, generated])`` of ``n = 2h`` rows. A plain linear map (no weight
    norm, unlike :class:`MinibatchDiscrimination`) gives ``M = x . W + b`` reshaped to ``n x K x D``
    (``W ~ N(0, 0.02)``, ``b = 0``); ``c[i, k, j] = exp(-sum_d |M[i,k,d] - M[j,k,d]|)`` with the ``j = i`` term
    masked out. Two feature blocks follow, one against the real rows and one against the generated rows::

        f_real[i, k] = sum_{j < h}  mask[i, j] c[i, k, j] / sum_{i', j < h}  mask[i', j]
        f_gen[i, k]  = sum_{j >= h} mask[i, j] c[i, k, j] / sum_{i', j >= h} mask[i', j]

    The denominators are, as in the original, one scalar each: the count of unmasked (row, column) pairs
    over *all* ``n`` rows and that half's columns, ``h (2h - 1)``, not a per-row count. Output
    ``concat([x, f_real, f_gen])`` (``n x (A + 2K)``). Defaults are the original's 300 kernels of 50 dims. Under
    mixed precision the layer computes in float32 from its 16-bit input (as :class:`MinibatchDiscrimination`).

    Inference (``training=False``): with ``inference="batch"`` (default, the original) the same as training, on
    a joint batch. With ``inference="stored"`` every row is compared with the ``reference_size`` real and
    ``reference_size`` generated rows that :func:`~improved_gan_tf2.init.store_inference_state` stored from a
    joint batch (the first ``reference_size`` rows of each half), with the denominator ``h (2h - 1)`` of
    ``h = reference_size``: any batch, each row on its own.

    Args:
        num_kernels: ``K`` (300).
        dim_per_kernel: ``D`` (50).
        kernel_initializer: default N(0, 0.02).
        kernel_regularizer, kernel_constraint: of ``kernel``.
        inference: ``"batch"`` or ``"stored"`` (see above).
        reference_size: rows stored per half with ``inference="stored"``.
        **kwargs: ``keras.layers.Layer`` arguments.

    Input shape:
        ``(2h, d1, ..., dk)``, flattened to ``(2h, A)``.

    Output shape:
        ``(2h, A + 2 * num_kernels)``.

    Example:

    >>> features = HalvedMinibatchDiscrimination(30, 5)(np.ones((32, 256), "float32"))  # the original: 300, 50
    >>> tuple(features.shape)
    (32, 316)
    """

    _default_kernel_stddev = 0.02

    def __init__(self, num_kernels=300, dim_per_kernel=50, kernel_initializer=None, **kwargs):
        super().__init__(num_kernels, dim_per_kernel, kernel_initializer, **kwargs)

    def build(self, input_shape):
        num_inputs = int(np.prod(input_shape[1:]))
        units = self.num_kernels * self.dim_per_kernel
        self.kernel = self.add_weight(name="kernel", shape=(num_inputs, units), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                      autocast=False)
        self.bias = self.add_weight(name="bias", shape=(units,), initializer="zeros", autocast=False)
        self._add_reference_weights(num_inputs, None if self.reference_size is None else 2 * self.reference_size)

    def _project(self, flat):
        activation = tf.matmul(_float32_if_16bit(flat), self.kernel) + self.bias
        return tf.reshape(activation, [-1, self.num_kernels, self.dim_per_kernel])

    def call(self, inputs, training=None):
        inputs = tf.convert_to_tensor(inputs)
        flat = _flatten(inputs)
        if _computes_from_stored_state(self, training):
            h = self.reference_size
            reference = self._project(tf.cast(self.reference_inputs, flat.dtype))
            close = tf.exp(-pairwise_l1(self._project(flat), reference))  # n x K x 2h
            denominator = float(h * (2 * h - 1))
            f_real = tf.reduce_sum(close[:, :, :h], axis=2) / denominator
            f_gen = tf.reduce_sum(close[:, :, h:], axis=2) / denominator
            return tf.concat([flat, tf.cast(f_real, flat.dtype), tf.cast(f_gen, flat.dtype)], axis=1)
        _check_even_rows(flat, _joint_batch_message(self) + "; or use inference='stored' for other batches at "
                                                            "inference.")
        abs_dif = pairwise_l1(self._project(flat))
        n = tf.shape(flat)[0]
        half = n // 2
        mask = (1.0 - tf.eye(n, dtype=abs_dif.dtype))[:, None, :]  # n x 1 x n
        masked = tf.exp(-abs_dif) * mask
        f_real = tf.reduce_sum(masked[:, :, :half], axis=2) / tf.reduce_sum(mask[:, :, :half])
        f_gen = tf.reduce_sum(masked[:, :, half:2 * half], axis=2) / tf.reduce_sum(mask[:, :, half:2 * half])
        if _records_stored_state(self):
            h = self.reference_size
            _check_rows(flat, 2 * h, f"{self.name}: the reference pass needs a joint batch with at least "
                                     f"reference_size={h} rows in each half.")
            self._store_reference(tf.concat([flat[:h], flat[half:half + h]], axis=0))
        return tf.concat([flat, tf.cast(f_real, flat.dtype), tf.cast(f_gen, flat.dtype)], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])) + 2 * self.num_kernels)
