"""What both GAN models need to be ordinary Keras models: two optimizers in ``compile`` (by keyword or position,
saved in the compile config so that a ``.keras`` file restores them), and metrics that declare their direction.
"""
import keras

try:  # the container whose metrics Keras's monitor callbacks inspect for a declared direction (Keras 3.x)
    from keras.src.trainers.compile_utils import MetricsList as _KerasMetricsList
except ImportError:  # pragma: no cover - a Keras without it: directions are then not discoverable (pass mode=)
    _KerasMetricsList = None

#: ``compile`` arguments of ``keras.Model`` that a two-player model refuses, with the reason.
REFUSED_COMPILE_ARGUMENTS = {
    "optimizer": "a GAN has two players: pass discriminator_optimizer= and generator_optimizer= (or both "
                 "positionally, in that order).",
    "loss": "the losses are the original's, chosen by the model's constructor arguments.",
    "loss_weights": "the losses are the original's, chosen by the model's constructor arguments.",
    "metrics": "the model reports its own metrics (the original's log fields and loss).",
    "weighted_metrics": "the model reports its own metrics (the original's log fields and loss).",
}
#: ``compile`` arguments kept in the compile config (plain values).
KEPT_COMPILE_ARGUMENTS = ("run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss")


def two_player_optimizers(model_name, discriminator_optimizer, generator_optimizer, kwargs, default=None):
    """Check ``compile``'s arguments; returns the two optimizers (``keras.optimizers.get`` of each: an instance,
    a name such as ``"adam"`` or a config; a missing one is ``default(player)`` when ``default`` is given) and the
    kept keyword arguments."""
    for name, reason in REFUSED_COMPILE_ARGUMENTS.items():
        if kwargs.get(name) is not None:
            raise ValueError(f"{model_name}.compile does not take {name}=: {reason}")
        kwargs.pop(name, None)
    unknown = sorted(set(kwargs) - set(KEPT_COMPILE_ARGUMENTS))
    if unknown:
        raise TypeError(f"{model_name}.compile got unexpected arguments {unknown}; it takes discriminator_optimizer, "
                        f"generator_optimizer and {list(KEPT_COMPILE_ARGUMENTS)}.")
    if default is not None:
        if discriminator_optimizer is None:
            discriminator_optimizer = default("discriminator")
        if generator_optimizer is None:
            generator_optimizer = default("generator")
    if discriminator_optimizer is None or generator_optimizer is None:
        raise ValueError(f"{model_name}.compile needs discriminator_optimizer= and generator_optimizer= (e.g. "
                         "improved_gan_tf2.OriginalAdam(0.003) each, as the MNIST script).")
    discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
    generator_optimizer = keras.optimizers.get(generator_optimizer)
    if discriminator_optimizer is generator_optimizer:
        raise ValueError(f"{model_name}.compile needs two optimizer objects, one per player (each keeps its own "
                         "slots); got the same object twice.")
    return discriminator_optimizer, generator_optimizer, kwargs


def compile_config(discriminator_optimizer, generator_optimizer, kwargs):
    """The compile config of a two-player model (what ``get_compile_config`` returns)."""
    return {
        "discriminator_optimizer": keras.saving.serialize_keras_object(discriminator_optimizer),
        "generator_optimizer": keras.saving.serialize_keras_object(generator_optimizer),
        **{name: value for name, value in kwargs.items() if name in KEPT_COMPILE_ARGUMENTS},
    }


def compile_from_config(model, config):
    """``model.compile(...)`` from a config of :func:`compile_config`."""
    config = dict(config)
    discriminator_optimizer = keras.saving.deserialize_keras_object(config.pop("discriminator_optimizer"))
    generator_optimizer = keras.saving.deserialize_keras_object(config.pop("generator_optimizer"))
    model.compile(discriminator_optimizer=discriminator_optimizer, generator_optimizer=generator_optimizer, **config)


class DirectedMean(keras.metrics.Mean):
    """A running mean that declares whether lower (``"down"``) or higher (``"up"``) is better, as Keras's own
    metrics do, so that ``EarlyStopping``, ``ModelCheckpoint`` and ``ReduceLROnPlateau`` with ``mode="auto"`` know
    which way to monitor it."""

    def __init__(self, name, direction="down", **kwargs):
        super().__init__(name=name, **kwargs)
        if direction not in ("up", "down"):
            raise ValueError(f"direction must be 'up' or 'down', got {direction!r}.")
        self._direction = direction

    def get_config(self):
        return {**super().get_config(), "direction": self._direction}


if _KerasMetricsList is not None:
    class MetricGroup(_KerasMetricsList):
        """The model's metrics as one group whose result is a dict; Keras's monitor callbacks look for declared
        directions inside such groups only (``MonitorCallback._set_monitor_op``)."""

        def __init__(self, metrics, name="gan_metrics"):
            super().__init__(list(metrics), name=name)

        def result(self):
            return {metric.name: metric.result() for metric in self.metrics}
else:  # pragma: no cover
    MetricGroup = None


def metric_list(trackers):
    """What a model's ``metrics`` property returns for ``trackers``: one :class:`MetricGroup` (or the trackers)."""
    trackers = list(trackers)
    return [MetricGroup(trackers)] if MetricGroup is not None else trackers
