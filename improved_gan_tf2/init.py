"""Data-dependent initialization, as the original release does it.

Port of the ``init=True`` pass of ``mnist_svhn_cifar10/nn.py`` (``WeightNormLayer``, ``DenseLayer`` and
``MinibatchLayer``): the network is run once on a batch, with noise and dropout active, and each layer that
supports it sets its bias and scale so that its own output on that batch is normalized (Salimans & Kingma, 2016,
Sec. 3; used by every experiment of Salimans et al., 2016). Layers later in the network see the already
normalized output of the layers before them, exactly as in the original's single symbolic pass.
"""
import contextlib
import threading

_STATE = threading.local()


def in_init_pass():
    """True while :func:`data_dependent_init` runs a model (layers then set their init statistics)."""
    return getattr(_STATE, "active", False)


@contextlib.contextmanager
def init_pass():
    """Context in which layers of this package perform their data-dependent initialization when called."""
    previous = in_init_pass()
    _STATE.active = True
    try:
        yield
    finally:
        _STATE.active = previous


def data_dependent_init(model, inputs, **call_kwargs):
    """Run the original's init pass of ``model`` on one batch and return the pass's output.

    Every weight-normalized layer sets ``bias = -m * inv`` and ``scale *= inv`` from the batch statistics
    of its pre-activation (``inv = init_scale / std``); ``MinibatchDiscrimination`` sets ``log_weight_scale``
    and ``bias``. The call runs eagerly with ``training=True`` unless ``call_kwargs`` says otherwise, so
    noise and dropout layers are active, as in the original. Ordinary Keras layers are simply run.
    """
    call_kwargs.setdefault("training", True)
    with init_pass():
        return model(inputs, **call_kwargs)
