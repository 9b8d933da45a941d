"""The batch norms: the generators' (``nn.batch_norm`` of ``mnist_svhn_cifar10/nn.py``), virtual batch norm (paper
Sec. 3.4; ``VBN``, ``VBNL``, ``VBNLP`` of ``imagenet/model.py``) and the ImageNet discriminator's
(``batch_norm_cross`` of ``imagenet/ops.py``)."""
import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.layers.common import (
    _PACKAGE,
    _add_stored_state,
    _check_even_rows,
    _check_inference,
    _check_rows,
    _computes_from_stored_state,
    _float32_if_16bit,
    _joint_batch_message,
    _records_stored_state,
    _refuse,
    _store_state,
)


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
