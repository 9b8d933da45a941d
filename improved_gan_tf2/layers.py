"""The paper's layers as Keras 3 layers, computing what ``openai/improved-gan`` computes.

Ports of ``mnist_svhn_cifar10/nn.py`` (weight norm, the older MNIST dense layer, ``l2normalize``, the
deconvolution, minibatch discrimination, the generators' batch norm) and of ``imagenet/model.py``
(virtual batch norm ``VBN``, ``VBNL``, ``VBNLP``). Layouts are TensorFlow's: NHWC activations, kernels
``(kh, kw, in, out)`` for convolutions and ``(kh, kw, out, in)`` for transposed convolutions.

Gaussian noise: :class:`GaussianNoise` draws it as the Theano scripts' noise layers do (Box-Muller on uniforms,
Theano's ``MRG_RandomStreams.normal``); the ImageNet code, written for TensorFlow, uses ``keras.layers.GaussianNoise``.
Dropout: ``keras.layers.Dropout`` computes what Lasagne's ``DropoutLayer`` computes when called with
``training=True`` (``tests/test_layers.py`` checks both).
"""
import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.init import in_init_pass

_PACKAGE = "improved_gan_tf2"


def _normal(stddev):
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev)


class _WeightNormBase(keras.layers.Layer):
    """Shared weight-norm arithmetic (Salimans & Kingma 2016; ``nn.WeightNormLayer``).

    ``W = kernel * scale / sqrt(epsilon + sum(kernel**2))``, the sum per output unit; ``bias`` is added after
    the linear map; ``scale`` is trainable only when ``train_scale`` (the original's ``train_g``). In the
    data-dependent init pass the pre-activation is centred and scaled to ``init_scale`` standard deviation on
    the batch, and ``bias``/``scale`` are set so that later passes reproduce that output.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)
        self.init_scale = float(init_scale)
        self.train_scale = bool(train_scale)
        self.epsilon = float(epsilon)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer if kernel_initializer is not None else _normal(0.05)
        )
        self.data_init = bool(data_init)

    def _add_weight_norm_weights(self, kernel_shape, units):
        self.kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer=self.kernel_initializer, trainable=True
        )
        self.scale = self.add_weight(
            name="scale", shape=(units,), initializer="ones", trainable=self.train_scale
        )
        self.bias = self.add_weight(name="bias", shape=(units,), initializer="zeros", trainable=True)

    def kernel_scales(self):
        """Per output unit, ``scale / sqrt(epsilon + sum(kernel**2))``: the factor that normalizes the kernel."""
        kernel = tf.convert_to_tensor(self.kernel)
        norm = tf.sqrt(self.epsilon + tf.reduce_sum(tf.square(kernel), axis=self._kernel_norm_axes))
        return tf.convert_to_tensor(self.scale) / norm

    def normalized_kernel(self):
        """The effective weights ``kernel * scale / sqrt(epsilon + sum(kernel**2))``."""
        kernel = tf.convert_to_tensor(self.kernel)
        shape = [1] * len(kernel.shape)
        shape[self._kernel_out_axis] = -1
        return kernel * tf.reshape(self.kernel_scales(), shape)

    def _bias_and_activation(self, pre_activation):
        if self.data_init and in_init_pass():
            axes = list(range(len(pre_activation.shape) - 1))
            mean = tf.reduce_mean(pre_activation, axis=axes)
            centred = pre_activation - mean
            inv_std = self.init_scale / tf.sqrt(tf.reduce_mean(tf.square(centred), axis=axes))
            self.bias.assign(-mean * inv_std)
            self.scale.assign(self.scale * inv_std)
            outputs = centred * inv_std
        else:
            outputs = pre_activation + self.bias
        return self.activation(outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            activation=keras.activations.serialize(self.activation),
            init_scale=self.init_scale,
            train_scale=self.train_scale,
            epsilon=self.epsilon,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            data_init=self.data_init,
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WeightNormDense(_WeightNormBase):
    """Weight-normalized dense layer (``nn.weight_norm`` around a Lasagne ``DenseLayer`` or ``NINLayer``).

    Acts on the last axis, so on a rank-4 NHWC input it is the original's per-pixel ``NINLayer``.

    >>> layer = WeightNormDense(10, train_scale=True, init_scale=0.1)
    >>> logits = layer(keras.ops.ones((4, 192)))
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
    (``W = kernel * scale / sqrt(sum(kernel**2))``), kernel drawn from N(0, 0.1), and a rank > 2 input is
    flattened first. Its init pass is the same (centre, divide by the std, ``scale /= std``,
    ``bias = -mean / std``).
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
        return tf.reshape(inputs, [-1, int(np.prod(inputs.shape[1:]))]) if len(inputs.shape) > 2 else inputs

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class L2NormalizedDense(WeightNormDense):
    """A dense layer with per-unit normalized weights and a learned scale (``nn.l2normalize``).

    The MNIST generator's output layer: Glorot-uniform kernel, zero bias, ``epsilon=1e-6`` inside the root,
    trainable ``scale`` starting at 1, and no data-dependent initialization.
    """

    def __init__(self, units, activation=None, train_scale=True, kernel_initializer="glorot_uniform", **kwargs):
        kwargs.setdefault("data_init", False)
        super().__init__(
            units, activation=activation, train_scale=train_scale, kernel_initializer=kernel_initializer, **kwargs
        )


def _conv_padding(padding, kernel_size):
    """TensorFlow padding for ``"same"``, ``"valid"`` or Theano's ``"half"`` (``k // 2`` on both sides)."""
    padding = padding.lower()
    if padding in ("same", "valid"):
        return padding.upper()
    if padding == "half":
        if any(k % 2 == 0 for k in kernel_size):
            raise ValueError(f"padding='half' needs odd kernel sizes, got {kernel_size}; use padding='same'.")
        return [[0, 0], [kernel_size[0] // 2] * 2, [kernel_size[1] // 2] * 2, [0, 0]]
    raise ValueError(f"padding must be 'same', 'valid' or 'half' (Theano's k//2 on both sides), got {padding!r}.")


def _pair(value):
    return (int(value), int(value)) if np.isscalar(value) else tuple(int(v) for v in value)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WeightNormConv2D(_WeightNormBase):
    """Weight-normalized 2-D convolution (``nn.weight_norm`` around ``dnn.Conv2DDNNLayer``).

    The norm is per output channel over both kernel axes and the input channels. ``padding="half"`` pads
    ``k // 2`` on both sides, as Lasagne's ``pad=1`` for a 3x3 kernel; with ``strides=2`` this differs from
    TensorFlow's ``"same"``, which pads 0 before and 1 after. Like cuDNN (and ``Conv2DDNNLayer``'s default), the
    kernel is not flipped.

    >>> conv = WeightNormConv2D(96, 3, padding="half", activation="leaky_relu")
    >>> features = conv(keras.ops.ones((2, 32, 32, 3)))
    """

    _kernel_norm_axes = (0, 1, 2)

    def __init__(self, filters, kernel_size, strides=1, padding="same", activation=None, init_scale=1.0,
                 train_scale=False, epsilon=1e-6, **kwargs):
        super().__init__(
            activation=activation, init_scale=init_scale, train_scale=train_scale, epsilon=epsilon, **kwargs
        )
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = padding
        self._tf_padding = _conv_padding(padding, self.kernel_size)

    def build(self, input_shape):
        self._add_weight_norm_weights(self.kernel_size + (int(input_shape[-1]), self.filters), self.filters)

    def call(self, inputs, training=None):
        pre_activation = tf.nn.conv2d(
            inputs, self.normalized_kernel(), strides=(1,) + self.strides + (1,), padding=self._tf_padding
        )
        return self._bias_and_activation(pre_activation)

    def compute_output_shape(self, input_shape):
        sizes = []
        for size, k, s in zip(input_shape[1:3], self.kernel_size, self.strides):
            if size is None:
                sizes.append(None)
            elif self.padding.lower() == "valid":
                sizes.append((size - k) // s + 1)
            elif self.padding.lower() == "half":
                sizes.append((size + 2 * (k // 2) - k) // s + 1)
            else:
                sizes.append(-(-size // s))
        return (input_shape[0], sizes[0], sizes[1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides, padding=self.padding)
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
class Deconv2D(_TransposedConvGeometry, keras.layers.Layer):
    """Transposed convolution of the original generators (``nn.Deconv2DLayer``), without weight norm.

    Output size is ``strides`` times the input size. ``padding="half"`` with ``flip_kernel=True`` reproduces the
    original exactly: Theano's ``border_mode='half'`` pads 2 on both sides of a 5x5 kernel where TensorFlow's
    ``"same"`` pads 1 before and 2 after, and Theano convolves with the flipped kernel. A kernel copied from the
    original (``W[i, o, u, v]`` → ``kernel[u, v, o, i]``) then gives the original's output. Since weights are
    learned, ``padding="same"`` without flipping is an equally good layer for new models. ``padding="same"``
    is also what TensorFlow's ``conv2d_transpose`` does in ``imagenet/ops.py``'s ``deconv2d``, whose output
    layer starts its bias at -0.45 (``bias_initializer``, zeros by default).
    """

    def __init__(self, filters, kernel_size, strides=2, padding="half", flip_kernel=False, activation=None,
                 use_bias=True, kernel_initializer=None, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self._set_geometry(filters, kernel_size, strides, padding, flip_kernel)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer if kernel_initializer is not None else _normal(0.05)
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (self.filters, int(input_shape[-1])),
            initializer=self.kernel_initializer,
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
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
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WeightNormConv2DTranspose(_TransposedConvGeometry, _WeightNormBase):
    """Weight-normalized transposed convolution (``nn.weight_norm`` around ``nn.Deconv2DLayer``).

    The norm is per output channel, over both kernel axes and the input channels. ``padding`` and
    ``flip_kernel`` as in :class:`Deconv2D`; the default ``"half"`` keeps the original's pixel alignment.

    >>> deconv = WeightNormConv2DTranspose(3, 5, activation="tanh", train_scale=True, init_scale=0.1)
    >>> images = deconv(keras.ops.ones((2, 16, 16, 128)))  # (2, 32, 32, 3)
    """

    _kernel_norm_axes = (0, 1, 3)
    _kernel_out_axis = 2

    def __init__(self, filters, kernel_size, strides=2, padding="half", flip_kernel=False, activation=None,
                 init_scale=1.0, train_scale=False, epsilon=1e-6, **kwargs):
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


def box_muller_normal(uniforms, shape, stddev=1.0):
    """Normal samples from uniforms as Theano's ``MRG_RandomStreams.normal`` makes them (Box-Muller).

    ``uniforms``: shape ``(2, ceil(n / 2))`` with ``n = prod(shape)``, values in [0, 1); row 0 plays Theano's
    first half of the uniform draw (``U1``), row 1 its second half (``U2``). With ``r = sqrt(-2 ln U1)`` and
    ``a = 2 pi U2`` the samples are ``r cos(a)`` followed by ``r sin(a)``, the last one dropped when ``n`` is odd,
    reshaped to ``shape`` and times ``stddev``. TensorFlow's uniforms lie in [0, 1) where Theano's lie in (0, 1),
    so ``U1 = 1 - u`` (also uniform; ``ln`` stays finite); ``stddev`` is folded into the root,
    ``r = sqrt(-2 stddev^2 ln U1)``, which saves one pass over the samples.
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
    MNIST discriminator draws 1.5M normals per training iteration, so the sampler was a third of its step.

    >>> noisy = GaussianNoise(0.5, seed=1)(keras.ops.zeros((100, 250)), training=True)
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
        uniforms = keras.random.uniform(tf.stack([2, half]), seed=self.seed_generator, dtype=dtype)
        return inputs + tf.cast(box_muller_normal(uniforms, shape, self.stddev), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(stddev=self.stddev, seed=self.seed)
        return config


def pairwise_l1(activation):
    """``d[i, b, j] = sum_c |M[i, b, c] - M[j, b, c]|`` for ``M`` of shape ``n x B x C``; returns ``n x B x n``
    (the minibatch-discrimination distances of ``nn.MinibatchLayer`` and ``imagenet/discriminator.py``)."""
    return tf.reduce_sum(tf.abs(activation[:, :, :, None] - tf.transpose(activation, [1, 2, 0])[None]), axis=2)


class _MinibatchFeatures(keras.layers.Layer):
    """What both minibatch-discrimination layers share: ``num_kernels`` kernels of ``dim_per_kernel``
    dimensions over the flattened input, the kernel drawn from N(0, ``_default_kernel_stddev``) unless
    ``kernel_initializer`` is given, and their configuration."""

    _default_kernel_stddev = None

    def __init__(self, num_kernels, dim_per_kernel, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_kernels = int(num_kernels)
        self.dim_per_kernel = int(dim_per_kernel)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer if kernel_initializer is not None else _normal(self._default_kernel_stddev)
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            num_kernels=self.num_kernels,
            dim_per_kernel=self.dim_per_kernel,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MinibatchDiscrimination(_MinibatchFeatures):
    """Minibatch discrimination (paper Sec. 3.2; ``nn.MinibatchLayer``).

    The input is flattened to ``n x A``; ``M = x . W`` with ``W = kernel * exp(log_weight_scale) /
    sqrt(sum_A kernel**2)`` (``n x B x C``); ``f[i, b] = sum_j exp(-sum_c |M[i,b,c] - M[j,b,c]|) + bias[b]``,
    where the ``j = i`` term is suppressed by adding 1e6 to its distance. Output ``concat([x, f])``.
    Init pass: distances are divided by half the mean nearest-neighbour distance of each kernel
    (``log_weight_scale`` absorbs it) and ``bias`` centres ``f`` on the batch.

    >>> features = MinibatchDiscrimination(100)(keras.ops.ones((8, 192)))  # (8, 292)
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
        )
        self.log_weight_scale = self.add_weight(
            name="log_weight_scale", shape=(self.num_kernels, self.dim_per_kernel), initializer="zeros"
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.num_kernels,), initializer=keras.initializers.Constant(-1.0)
        )

    def projection(self):
        """The effective ``A x B x C`` tensor ``W``."""
        kernel = tf.convert_to_tensor(self.kernel)
        return kernel * (tf.exp(self.log_weight_scale) / tf.sqrt(tf.reduce_sum(tf.square(kernel), axis=0)))

    def l1_distances(self, inputs):
        """``abs_dif[i, b, j]`` of the original, with 1e6 on the diagonal. Returns (flat inputs, distances)."""
        inputs = tf.convert_to_tensor(inputs)
        flat = tf.reshape(inputs, [-1, int(np.prod(inputs.shape[1:]))])
        distances = pairwise_l1(tf.tensordot(flat, self.projection(), axes=[[1], [0]]))
        eye = tf.eye(tf.shape(flat)[0], dtype=distances.dtype)
        return flat, distances + 1e6 * eye[:, None, :]

    def call(self, inputs, training=None):
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
        return tf.concat([flat, features], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])) + self.num_kernels)



@keras.saving.register_keras_serializable(package=_PACKAGE)
class GeneratorBatchNorm(keras.layers.Layer):
    """Batch norm as the original generators use it (``nn.batch_norm(..., g=None)``): always batch statistics.

    ``y = (x - mean) / sqrt(epsilon + var) + bias`` with the biased batch variance, ``epsilon = 1e-6`` and a
    learned shift; no scale unless ``scale=True``. The original never runs a generator deterministically, so
    there is no moving average. ``keras.layers.BatchNormalization`` computes the same with ``training=True`` but
    switches to moving statistics under ``training=False`` or ``trainable=False`` (e.g. ``predict``), which
    would change the samples; this small layer has no such mode.
    """

    def __init__(self, epsilon=1e-6, center=True, scale=False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)

    def build(self, input_shape):
        channels = (int(input_shape[-1]),)
        self.bias = self.add_weight(name="bias", shape=channels, initializer="zeros") if self.center else None
        self.gamma = self.add_weight(name="gamma", shape=channels, initializer="ones") if self.scale else None

    def call(self, inputs, training=None):
        axes = list(range(len(inputs.shape) - 1))
        mean = tf.reduce_mean(inputs, axis=axes)
        centred = inputs - mean
        variance = tf.reduce_mean(tf.square(centred), axis=axes)
        outputs = centred / tf.sqrt(self.epsilon + variance)
        if self.gamma is not None:
            outputs = outputs * self.gamma
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon, center=self.center, scale=self.scale)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class VirtualBatchNorm(keras.layers.Layer):
    """Virtual batch normalization (paper Sec. 3.4; ``VBN``, ``VBNL``, ``VBNLP`` of ``imagenet/model.py``).

    Call it on a batch whose first ``reference_size`` rows are the reference batch. Reference rows are
    normalized with the reference statistics (mean and mean of squares over the reference rows and, unless
    ``per_pixel``, over space); every other row with ``1/(R+1)`` of its own statistics plus ``R/(R+1)`` of the
    reference's, so a live example's output does not depend on the other live examples.
    ``std = sqrt(epsilon + E[x^2] - E[x]^2)``; ``out = (x - mean) / std * gamma + beta``.
    ``scale="linear"`` (``VBN``): ``gamma ~ N(1, 0.02)``. ``scale="log"`` (``VBNL``): the multiplier is
    ``exp(gamma)``, ``gamma ~ N(0, 0.02)`` (the original's ``gamma_driver``). ``per_pixel=True`` with
    ``scale="log"`` is ``VBNLP``: statistics over the batch only, and ``gamma``/``beta`` per pixel and channel.

    >>> vbn = VirtualBatchNorm(reference_size=64)
    >>> out = vbn(keras.ops.concatenate([reference, live]))  # rank 2 or rank 4
    """

    def __init__(self, reference_size, epsilon=1e-5, scale="linear", per_pixel=False, **kwargs):
        super().__init__(**kwargs)
        if scale not in ("linear", "log"):
            raise ValueError(f"scale must be 'linear' (VBN) or 'log' (VBNL/VBNLP), got {scale!r}.")
        if int(reference_size) < 1:
            raise ValueError(f"reference_size must be at least 1, got {reference_size}.")
        self.reference_size = int(reference_size)
        self.epsilon = float(epsilon)
        self.scale = scale
        self.per_pixel = bool(per_pixel)

    def build(self, input_shape):
        if len(input_shape) not in (2, 4):
            raise ValueError(f"VirtualBatchNorm takes rank-2 or rank-4 inputs, got shape {tuple(input_shape)}.")
        shape = tuple(int(d) for d in input_shape[1:]) if self.per_pixel else (int(input_shape[-1]),)
        gamma_mean = 1.0 if self.scale == "linear" else 0.0
        self.gamma = self.add_weight(
            name="gamma", shape=shape, initializer=keras.initializers.RandomNormal(gamma_mean, 0.02)
        )
        self.beta = self.add_weight(name="beta", shape=shape, initializer="zeros")

    def call(self, inputs, training=None):
        inputs = tf.convert_to_tensor(inputs)
        rank2 = len(inputs.shape) == 2
        x = inputs[:, None, None, :] if rank2 else inputs
        if x.shape[0] is not None and x.shape[0] < self.reference_size:
            raise ValueError(
                f"VirtualBatchNorm needs the {self.reference_size} reference rows first in the batch, "
                f"got a batch of {x.shape[0]}; concatenate the reference batch before the live batch."
            )
        reference = x[: self.reference_size]
        live = x[self.reference_size:]
        batch_axes = [0] if self.per_pixel else [0, 1, 2]
        ref_mean = tf.reduce_mean(reference, axis=batch_axes, keepdims=True)
        ref_mean_sq = tf.reduce_mean(tf.square(reference), axis=batch_axes, keepdims=True)
        if self.per_pixel:
            own_mean, own_mean_sq = live, tf.square(live)
        else:
            own_mean = tf.reduce_mean(live, axis=[1, 2], keepdims=True)
            own_mean_sq = tf.reduce_mean(tf.square(live), axis=[1, 2], keepdims=True)
        new_coeff = 1.0 / (self.reference_size + 1.0)
        live_mean = new_coeff * own_mean + (1.0 - new_coeff) * ref_mean
        live_mean_sq = new_coeff * own_mean_sq + (1.0 - new_coeff) * ref_mean_sq
        outputs = tf.concat(
            [self._normalize(reference, ref_mean, ref_mean_sq), self._normalize(live, live_mean, live_mean_sq)],
            axis=0,
        )
        return outputs[:, 0, 0, :] if rank2 else outputs

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
            reference_size=self.reference_size, epsilon=self.epsilon, scale=self.scale, per_pixel=self.per_pixel
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PrependReferenceBatch(keras.layers.Layer):
    """Prepends a fixed reference batch of noise, drawn once from U(0, 1) and never trained, to every batch
    of z, so that every :class:`VirtualBatchNorm` after it normalizes with that reference batch's statistics
    (paper Sec. 3.4; the Table 3 generators of the CIFAR-10 ablations). The reference rows are removed again
    by :class:`DropReferenceBatch`.

    >>> z_with_reference = PrependReferenceBatch(100)(keras.ops.zeros((8, 100)))  # (108, 100)
    """

    def __init__(self, reference_size, **kwargs):
        super().__init__(**kwargs)
        self.reference_size = int(reference_size)

    def build(self, input_shape):
        self.reference = self.add_weight(
            name="reference", shape=(self.reference_size, int(input_shape[-1])),
            initializer=keras.initializers.RandomUniform(0.0, 1.0), trainable=False,
        )

    def call(self, inputs):
        return tf.concat([tf.cast(self.reference, inputs.dtype), inputs], axis=0)

    def compute_output_shape(self, input_shape):
        return (None,) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "reference_size": self.reference_size}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DropReferenceBatch(keras.layers.Layer):
    """Removes the first ``reference_size`` rows (the reference batch of :class:`PrependReferenceBatch`).

    >>> live = DropReferenceBatch(100)(keras.ops.zeros((108, 16)))  # (8, 16)
    """

    def __init__(self, reference_size, **kwargs):
        super().__init__(**kwargs)
        self.reference_size = int(reference_size)

    def call(self, inputs):
        return inputs[self.reference_size:]

    def compute_output_shape(self, input_shape):
        return (None,) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "reference_size": self.reference_size}


# ---------------------------------------------------------------- the ImageNet discriminator's layers


def _as_nhwc(inputs, layer_name):
    """Rank-2 inputs become ``N x 1 x 1 x C``, as ``imagenet/ops.py`` reshapes them; returns (x, was_rank2)."""
    inputs = tf.convert_to_tensor(inputs)
    if len(inputs.shape) == 2:
        return inputs[:, None, None, :], True
    if len(inputs.shape) == 4:
        return inputs, False
    raise ValueError(f"{layer_name} takes rank-2 or rank-4 inputs, got shape {tuple(inputs.shape)}.")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchNormCross(keras.layers.Layer):
    """The ImageNet discriminator's batch norm (``batch_norm_cross`` of ``imagenet/ops.py``).

    Called on the joint batch ``concat([real, generated])`` (first half of the rows real, second half
    generated). The first half of the channels is normalized with the statistics of the *real* rows, the second
    half of the channels with the statistics of the *generated* rows; every row is normalized with those, so
    each half of the batch sees the other half's statistics in one half of its channels. Statistics are the
    batch-and-space mean and biased variance of ``tf.nn.moments``; ``out = (x - mean) / sqrt(var + epsilon) *
    gamma + beta`` with separate ``gamma0, beta0`` (first channel half) and ``gamma1, beta1`` (second);
    ``gamma ~ N(1, 0.02)``, ``beta = 0``, ``epsilon = 1e-5``. Always batch statistics (the original has no
    moving averages), so ``training`` changes nothing. Channels and rows must both be even.

    >>> bn = BatchNormCross()
    >>> out = bn(keras.ops.concatenate([real_features, generated_features]))  # rank 2 or rank 4
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

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
        self.gamma0 = self.add_weight(name="gamma0", shape=half, initializer=gamma_init)
        self.beta0 = self.add_weight(name="beta0", shape=half, initializer="zeros")
        self.gamma1 = self.add_weight(name="gamma1", shape=half, initializer=gamma_init)
        self.beta1 = self.add_weight(name="beta1", shape=half, initializer="zeros")

    def call(self, inputs, training=None):
        x, rank2 = _as_nhwc(inputs, "BatchNormCross")
        if x.shape[0] is not None and x.shape[0] % 2:
            raise ValueError(
                f"BatchNormCross needs the joint batch concat([real, generated]) with an even number of rows, "
                f"got {x.shape[0]}."
            )
        rows = tf.shape(x)[0] // 2
        channels = x.shape[-1] // 2
        ch0, ch1 = x[..., :channels], x[..., channels:2 * channels]
        mean0, var0 = tf.nn.moments(ch0[:rows], axes=[0, 1, 2])  # channel half 0, real rows
        mean1, var1 = tf.nn.moments(ch1[rows:], axes=[0, 1, 2])  # channel half 1, generated rows
        out0 = (ch0 - mean0) * tf.math.rsqrt(var0 + self.epsilon) * self.gamma0 + self.beta0
        out1 = (ch1 - mean1) * tf.math.rsqrt(var1 + self.epsilon) * self.gamma1 + self.beta1
        outputs = tf.concat([out0, out1], axis=-1)
        return outputs[:, 0, 0, :] if rank2 else outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


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
    ``concat([x, f_real, f_gen])`` (``n x (A + 2K)``). Defaults are the original's 300 kernels of 50 dims.

    >>> features = HalvedMinibatchDiscrimination(300, 50)(keras.ops.ones((32, 2560)))  # (32, 3160)
    """

    _default_kernel_stddev = 0.02

    def __init__(self, num_kernels=300, dim_per_kernel=50, kernel_initializer=None, **kwargs):
        super().__init__(num_kernels, dim_per_kernel, kernel_initializer, **kwargs)

    def build(self, input_shape):
        num_inputs = int(np.prod(input_shape[1:]))
        units = self.num_kernels * self.dim_per_kernel
        self.kernel = self.add_weight(name="kernel", shape=(num_inputs, units), initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(units,), initializer="zeros")

    def call(self, inputs, training=None):
        inputs = tf.convert_to_tensor(inputs)
        flat = tf.reshape(inputs, [-1, int(np.prod(inputs.shape[1:]))])
        if flat.shape[0] is not None and flat.shape[0] % 2:
            raise ValueError(
                "HalvedMinibatchDiscrimination needs the joint batch concat([real, generated]) with an even "
                f"number of rows, got {flat.shape[0]}."
            )
        activation = tf.reshape(tf.matmul(flat, self.kernel) + self.bias, [-1, self.num_kernels, self.dim_per_kernel])
        abs_dif = pairwise_l1(activation)
        n = tf.shape(flat)[0]
        half = n // 2
        mask = (1.0 - tf.eye(n, dtype=abs_dif.dtype))[:, None, :]  # n x 1 x n
        masked = tf.exp(-abs_dif) * mask
        f_real = tf.reduce_sum(masked[:, :, :half], axis=2) / tf.reduce_sum(mask[:, :, :half])
        f_gen = tf.reduce_sum(masked[:, :, half:2 * half], axis=2) / tf.reduce_sum(mask[:, :, half:2 * half])
        return tf.concat([flat, f_real, f_gen], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])) + 2 * self.num_kernels)

