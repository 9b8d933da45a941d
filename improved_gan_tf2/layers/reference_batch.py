"""The reference batch of virtual batch norm (paper Sec. 3.4): prepended to every batch and dropped again, as the
Table 3 generators of the CIFAR-10 ablations use it."""
import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.layers.common import _PACKAGE, _check_inference, _uses_stored_state


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
