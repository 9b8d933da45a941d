"""What the layer modules share: argument checks, the kernels' Keras arguments, the checks of the batch a layer
is given, and the state of the batch-mixing layers with ``inference="stored"`` (set by
:func:`improved_gan_tf2.init.store_inference_state`). Not API: the layers are in :mod:`improved_gan_tf2.layers`."""
import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.init import in_init_pass, in_reference_pass


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


def _flatten(inputs):
    return tf.reshape(inputs, [-1, int(np.prod(inputs.shape[1:]))])


def _joint_batch_message(layer):
    return (f"{layer.name}: {type(layer).__name__} takes the joint batch concat([real, generated]), whose two halves "
            "have the same number of rows, so the batch must have an even number of rows")
