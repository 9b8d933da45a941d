"""Minibatch discrimination (paper Sec. 3.2): ``nn.MinibatchLayer`` of ``mnist_svhn_cifar10/nn.py`` and the
ImageNet discriminator's per-half minibatch features (``imagenet/discriminator.py``)."""
import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.init import in_init_pass
from improved_gan_tf2.layers.common import (
    _PACKAGE,
    _add_stored_state,
    _check_even_rows,
    _check_inference,
    _check_rows,
    _computes_from_stored_state,
    _flatten,
    _float32_if_16bit,
    _joint_batch_message,
    _records_stored_state,
    _store_state,
    _weight_arguments,
    _weight_arguments_config,
)


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
