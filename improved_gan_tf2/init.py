"""Data-dependent initialization, as the original release does it.

Port of the ``init=True`` pass of ``mnist_svhn_cifar10/nn.py`` (``WeightNormLayer``, ``DenseLayer`` and
``MinibatchLayer``): the network is run once on a batch, with noise and dropout active, and each layer that
supports it sets its bias and scale so that its own output on that batch is normalized (Salimans & Kingma, 2016,
Sec. 3; used by every experiment of Salimans et al., 2016). Layers later in the network see the already
normalized output of the layers before them, exactly as in the original's single symbolic pass.
"""
import contextlib
import threading

class _PassFlag:
    """A thread-local flag, true within the ``with`` block of :meth:`scope` (nested blocks restore it)."""

    def __init__(self):
        self._state = threading.local()

    def active(self):
        return getattr(self._state, "active", False)

    @contextlib.contextmanager
    def scope(self):
        previous = self.active()
        self._state.active = True
        try:
            yield
        finally:
            self._state.active = previous


_INIT = _PassFlag()
_REFERENCE = _PassFlag()


def in_init_pass():
    """True while :func:`data_dependent_init` runs a model (layers then set their init statistics)."""
    return _INIT.active()


def init_pass():
    """Context in which layers of this package perform their data-dependent initialization when called."""
    return _INIT.scope()


def data_dependent_init(model, inputs, **call_kwargs):
    """Run the original's init pass of ``model`` on one batch and return the pass's output.

    Every weight-normalized layer sets ``bias = -m * inv`` and ``scale *= inv`` from the batch statistics
    of its pre-activation (``inv = init_scale / std``); ``MinibatchDiscrimination`` sets ``log_weight_scale``
    and ``bias``. The call runs eagerly with ``training=True`` unless ``call_kwargs`` says otherwise, so
    noise and dropout layers are active, as in the original. Ordinary Keras layers are simply run.

    >>> import keras, numpy as np
    >>> from improved_gan_tf2.layers import WeightNormDense
    >>> model = keras.Sequential([keras.Input((20,)), WeightNormDense(8, init_scale=0.5)])
    >>> out = data_dependent_init(model, np.random.RandomState(0).randn(100, 20).astype("float32") * 3 + 1)
    >>> np.round(np.std(out.numpy(), axis=0), 4).tolist() == [0.5] * 8  # each unit: init_scale std on the batch
    True
    """
    call_kwargs.setdefault("training", True)
    with init_pass():
        return model(inputs, **call_kwargs)


# ---------------------------------------------------------------- the reference pass (inference state from data)

def in_reference_pass():
    """True while :func:`store_inference_state` runs a model (layers built with ``inference="stored"`` then record
    the statistics or rows they use when called with ``training=False``)."""
    return _REFERENCE.active()


def reference_pass():
    """Context in which layers of this package built with ``inference="stored"`` record their inference state."""
    return _REFERENCE.scope()


def store_inference_state(model, inputs, **call_kwargs):
    """Set, from one batch, what every layer built with ``inference="stored"`` uses at inference; returns the
    pass's output.

    Not in the original release, which has no inference mode for its batch-mixing layers (they always compute
    from the batch they are given). In this pass each such layer computes exactly what it computes in training
    (so the layers after it see what they would see in training) and records, from the pass's batch:
    ``GeneratorBatchNorm`` its batch mean and variance; ``VirtualBatchNorm`` the statistics of the reference rows
    (the first ``reference_size`` rows, which a ``PrependReferenceBatch(inference="stored")`` before it supplies in
    this pass); ``BatchNormCross`` the statistics of the real and of the generated half; the minibatch layers the
    first ``reference_size`` rows (of each half) of their input. Afterwards, with ``training=False`` (``predict``,
    ``evaluate``, a plain call), those layers compute each example from the stored state alone: outputs no longer
    depend on the batch size or on the other examples of the batch. Layers in the default ``inference="batch"``
    mode are not affected, and neither is training (``training=True``).

    Like :func:`data_dependent_init` the call runs the model eagerly; ``training`` defaults to False, so that noise
    and dropout layers are off (pass ``training=True`` to record with them on). Call it again after further
    training: the stored state is a snapshot, not a running average.

    >>> import keras, numpy as np
    >>> from improved_gan_tf2 import layers, store_inference_state
    >>> model = keras.Sequential([keras.Input((4,)), layers.GeneratorBatchNorm(inference="stored")])
    >>> _ = store_inference_state(model, np.random.RandomState(0).randn(64, 4).astype("float32"))
    >>> tuple(model.predict(np.ones((1, 4), "float32"), verbose=0).shape)  # one example: stored statistics
    (1, 4)
    """
    call_kwargs.setdefault("training", False)
    with reference_pass():
        return model(inputs, **call_kwargs)
