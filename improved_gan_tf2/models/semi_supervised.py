"""The semi-supervised GAN of the MNIST, SVHN and CIFAR-10 experiments (paper Sec. 5).

One ``train_step`` is one iteration of the original loops in ``mnist_svhn_cifar10/train_*.py``: a
discriminator update on a labelled, an unlabelled and a generated batch with the parameter-average update
(toward the parameters before that update, as Theano applies both at once), then
``generator_steps`` generator updates (feature matching on a second unlabelled batch, or the
minibatch-discrimination loss). ``test_step`` measures the classification error of the averaged
discriminator parameters, as the original's ``test_batch`` does, and also that of the raw parameters.

Three options serve the ablations of the paper's Table 3 and are off by default (the released code has none of
them): one-sided label smoothing of the real/generated decision, training without labels, and historical
averaging (paper Sec. 3.3).
"""
import copy

import keras
import tensorflow as tf

from improved_gan_tf2 import losses
from improved_gan_tf2.init import data_dependent_init
from improved_gan_tf2.layers import held_weight_norms
from improved_gan_tf2.models import common
from improved_gan_tf2.optimizers import HistoricalAverage, ParameterAverage

GENERATOR_LOSSES = ("feature_matching", "minibatch")
_BATCH_MIXING_LAYERS = (keras.layers.BatchNormalization,)


def seeded_noise(batch_size, noise_dim, seed):
    """U(0, 1) noise ``(batch_size, noise_dim)``, the fixed draw of an integer ``seed`` (a Python int or an integer
    tensor): the numbers ``keras.random.uniform(shape, seed=seed)`` draws for an int seed (Keras's TensorFlow
    backend keys a stateless draw with ``[seed mod (2**31 - 2), 0]``), in TensorFlow ops, so that a graph (an
    exported generator's ``sample``) draws them from a seed it is given."""
    seed = tf.math.floormod(tf.cast(seed, tf.int64), tf.int32.max - 1)
    key = tf.cast(tf.stack([seed, tf.zeros_like(seed)]), tf.int32)
    dtype = keras.backend.floatx()
    return tf.random.stateless_uniform((batch_size, noise_dim), seed=key, minval=tf.cast(0.0, dtype),
                                       maxval=tf.cast(1.0, dtype), dtype=dtype)


def mixes_examples(model):
    """True if some layer of ``model`` computes across the batch, so separate batches must not be joined."""
    return any(
        isinstance(layer, _BATCH_MIXING_LAYERS) or getattr(layer, "mixes_batch", False)
        for layer in model._flatten_layers(include_self=False)
    )


@keras.saving.register_keras_serializable(package="improved_gan_tf2")
class SemiSupervisedGAN(keras.Model):
    """A generator and a K-logit discriminator trained as in the original scripts.

    Args:
      generator: maps ``(n, noise_dim)`` uniform noise in [0, 1) to samples.
      discriminator: maps samples to ``[logits, features]``; ``features`` is the layer feature matching uses.
      noise_dim: size of z (100 in every experiment).
      unlabeled_weight: weight of the unsupervised loss in the discriminator cost (0 trains on labels only).
      generator_loss: ``"feature_matching"`` or ``"minibatch"`` (``-mean(softplus(lse(l_gen)))``).
      feature_norm: ``"l2"`` (MNIST) or ``"l1"`` (CIFAR-10, SVHN) for feature matching.
      generator_steps: generator updates per discriminator update (3 for the minibatch models).
      average_rate: the parameter average's rate (1e-4).
      joint_discriminator_pass: in the discriminator step, run the discriminator once on the concatenated
        labelled, unlabelled and generated batches instead of once per batch. Arithmetically the same when no
        layer mixes examples (e.g. MNIST), and faster; the default (``None``) decides that from the
        discriminator's layers. (The generator step always runs the real and the generated batch apart: only the
        generated one needs a backward pass.)
      seed: seed of the generator's noise.
      label_smoothing: one-sided label smoothing (paper Sec. 3.4) of the real/generated decision, not in the
        released code: the unlabelled real examples' target becomes ``1 - label_smoothing`` instead of 1 (see
        ``losses.unsupervised_loss``); 0 gives exactly the original ``loss_unl``. The labelled examples' K-class
        cross-entropy is not smoothed.
      use_labels: with False, the discriminator's cost is ``unlabeled_weight * loss_unl`` alone (Table 3's
        "-L"); ``loss_lab`` and ``train_err`` are still computed on the labelled batch and logged, untrained.
      historical_averaging: weight of the historical-averaging term (paper Sec. 3.3; 0: off), added to both
        players' costs: ``weight * sum_i ||theta_i - (1/t) sum_{s=1..t} theta_i[s]||^2``, where ``theta[s]``
        are the player's parameters before its update number ``s`` (so the mean includes the current value,
        and the term is 0 at the first update); the mean is a constant in the gradient.

    ``train_step`` takes ``(x_lab, y_lab, x_unl, x_unl2)``; ``test_step`` takes ``(x, y)``. Calling the model on
    images returns the averaged discriminator's logits (the classifier the original evaluates).

    A standard Keras model besides: ``compile(discriminator_optimizer=..., generator_optimizer=...)`` (or both
    positionally); ``get_config``, so ``model.save("gan.keras")`` and ``keras.models.load_model`` (after ``import
    improved_gan_tf2``) round-trip it; the saved state (``.keras``, ``save_weights``/``load_weights``, and so
    ``keras.callbacks.BackupAndRestore``) holds, besides the networks and both optimizers, the parameter average,
    the historical averages and the random generators' states, so a restored model continues exactly as the
    uninterrupted one. Metrics: ``loss`` (training: the discriminator's cost ``loss_lab + unlabeled_weight *
    loss_unl``, or its second term without labels, from the epoch's means, without a historical-averaging term;
    validation: the averaged classifier's cross-entropy), ``loss_lab``, ``loss_unl``, ``train_err``, ``loss_gen``, and in
    validation ``test_err`` and ``test_err_raw``; all declare that lower is better, so monitors such as
    ``EarlyStopping(monitor="val_test_err")`` need no ``mode``.

    >>> import numpy as np, tensorflow as tf
    >>> from improved_gan_tf2 import OriginalAdam
    >>> from improved_gan_tf2.networks.mnist import mnist_discriminator, mnist_generator
    >>> gan = SemiSupervisedGAN(mnist_generator(), mnist_discriminator(), seed=1)
    >>> gan.compile(discriminator_optimizer=OriginalAdam(0.003), generator_optimizer=OriginalAdam(0.003))
    >>> x, y = np.random.RandomState(0).rand(40, 784).astype("float32"), np.arange(40) % 10
    >>> gan.initialize(x, generator_batch_size=20)  # the original's data-dependent init
    >>> train = tf.data.Dataset.from_tensor_slices((x, y, x[::-1], x)).batch(20)  # x_lab, y_lab, x_unl, x_unl2
    >>> history = gan.fit(train, validation_data=(x, y), epochs=1, verbose=0)
    >>> sorted(history.history)
    ['loss', 'loss_gen', 'loss_lab', 'loss_unl', 'train_err', 'val_loss', 'val_test_err', 'val_test_err_raw']
    >>> early_stopping = keras.callbacks.EarlyStopping(monitor="val_test_err", patience=10)  # no mode= needed
    """

    def __init__(self, generator, discriminator, noise_dim=100, unlabeled_weight=1.0,
                 generator_loss="feature_matching", feature_norm="l2", generator_steps=1, average_rate=1e-4,
                 joint_discriminator_pass=None, seed=None, label_smoothing=0.0, use_labels=True,
                 historical_averaging=0.0, **kwargs):
        super().__init__(**kwargs)
        if generator_loss not in GENERATOR_LOSSES:
            raise ValueError(f"generator_loss must be one of {GENERATOR_LOSSES}, got {generator_loss!r}.")
        if int(generator_steps) < 1:
            raise ValueError(f"generator_steps must be at least 1, got {generator_steps}.")
        self.generator = generator
        self.discriminator = discriminator
        self.noise_dim = int(noise_dim)
        self.unlabeled_weight = float(unlabeled_weight)
        self.generator_loss = generator_loss
        self.feature_norm = feature_norm
        self.generator_steps = int(generator_steps)
        if joint_discriminator_pass is None:
            joint_discriminator_pass = not mixes_examples(discriminator)
        self.joint_discriminator_pass = bool(joint_discriminator_pass)
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.seed = seed
        self.average_rate = float(average_rate)
        self.parameter_average = ParameterAverage(discriminator.trainable_variables, rate=average_rate)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
        if float(historical_averaging) < 0.0:
            raise ValueError(f"historical_averaging must be >= 0, got {historical_averaging}.")
        self.label_smoothing = float(label_smoothing)
        self.use_labels = bool(use_labels)
        self.historical_averaging = float(historical_averaging)
        self.historical_averages = None
        if self.historical_averaging > 0.0:
            self.historical_averages = {
                "discriminator": HistoricalAverage(discriminator.trainable_variables, name="discriminator_history"),
                "generator": HistoricalAverage(generator.trainable_variables, name="generator_history"),
            }
        self.trackers = {
            name: common.DirectedMean(name, "down")
            for name in ("loss_lab", "loss_unl", "train_err", "loss_gen", "test_err", "test_err_raw", "loss")
        }
        self.built = True

    # ------------------------------------------------------------------ set-up

    def compile(self, discriminator_optimizer=None, generator_optimizer=None, **kwargs):
        """Sets both players' optimizers, by keyword or position (instances, names such as ``"adam"``, or
        configs), and builds them here, inside any active ``tf.distribute`` scope. Also takes ``jit_compile``,
        ``steps_per_execution``, ``run_eagerly`` and ``auto_scale_loss``; ``optimizer``, ``loss`` and ``metrics``
        are refused with the reason."""
        discriminator_optimizer, generator_optimizer, kwargs = common.two_player_optimizers(
            type(self).__name__, discriminator_optimizer, generator_optimizer, kwargs
        )
        self._two_player_compile_arguments = dict(kwargs)
        discriminator_optimizer.build(self.discriminator.trainable_variables)
        generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer = discriminator_optimizer
        self.generator_optimizer = generator_optimizer
        super().compile(optimizer=discriminator_optimizer, **kwargs)

    def noise(self, batch_size):
        """Uniform z in [0, 1), as the original's ``theano_rng.uniform``."""
        return keras.random.uniform((batch_size, self.noise_dim), seed=self.noise_seed)

    def initialize(self, x_init, generator_batch_size):
        """The original's data-dependent init: the generator on its own noise, the discriminator on ``x_init``."""
        data_dependent_init(self.generator, self.noise(generator_batch_size))
        data_dependent_init(self.discriminator, tf.convert_to_tensor(x_init))

    def sample(self, batch_size, seed=None):
        """Generated samples (the generators' batch norm uses the statistics of these ``batch_size``).

        With an integer ``seed`` the noise is that seed's fixed draw and the training noise stream is left
        untouched (sample grids use this, so that writing them does not change training).
        """
        z = self.noise(batch_size) if seed is None else seeded_noise(batch_size, self.noise_dim, seed)
        return self.generator(z, training=True)

    def random_states(self):
        """The random generators' state variables (the model's noise and every noise layer's), which
        ``tf.train.Checkpoint`` does not find by itself; checkpointing them makes a resumed run draw the noise
        the uninterrupted run would have drawn."""
        states = [self.noise_seed.state]
        for network in (self.generator, self.discriminator):
            weights = {id(w) for w in network.weights}
            states += [v for v in network.variables if id(v) not in weights]
        return states

    def checkpoint_objects(self):
        """State beyond the networks, optimizers, parameter average and random states that a checkpoint must
        hold for a resumed run to continue exactly (the historical averages, when used)."""
        if self.historical_averages is None:
            return {}
        return {f"{name}_historical_average": value for name, value in self.historical_averages.items()}

    def _historical_term(self, player, variables):
        """Update the player's running mean with its current parameters and return the weighted penalty."""
        history = self.historical_averages[player]
        history.update()
        return self.historical_averaging * losses.historical_averaging_penalty(variables, history.averages)

    @property
    def metrics(self):
        return common.metric_list(self.trackers.values())

    # ------------------------------------------------------------------ Keras serialization and saved state

    def get_config(self):
        config = super().get_config()
        config.update(
            generator=keras.saving.serialize_keras_object(self.generator),
            discriminator=keras.saving.serialize_keras_object(self.discriminator),
            noise_dim=self.noise_dim, unlabeled_weight=self.unlabeled_weight, generator_loss=self.generator_loss,
            feature_norm=self.feature_norm, generator_steps=self.generator_steps, average_rate=self.average_rate,
            joint_discriminator_pass=self.joint_discriminator_pass, seed=self.seed,
            label_smoothing=self.label_smoothing, use_labels=self.use_labels,
            historical_averaging=self.historical_averaging,
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)  # deserialization consumes the networks' nested configs
        for network in ("generator", "discriminator"):
            config[network] = keras.saving.deserialize_keras_object(config[network], custom_objects=custom_objects)
        return cls(**config)

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return common.compile_config(self.discriminator_optimizer, self.generator_optimizer,
                                     self._two_player_compile_arguments)

    def compile_from_config(self, config):
        common.compile_from_config(self, config)

    def saved_state(self):
        """The state Keras saves with the model's own variables (``.keras``, ``save_weights``, BackupAndRestore),
        beyond the networks' weights and the optimizers that it saves by itself: the parameter average, the
        historical averages and the random generators' states."""
        state = list(self._trainable_variables) + list(self._non_trainable_variables)
        state += self.parameter_average.averages
        for history in (self.historical_averages or {}).values():
            state += [history.count] + list(history.averages)
        return state + self.random_states()

    def save_own_variables(self, store):
        for index, variable in enumerate(self.saved_state()):
            store[str(index)] = variable

    def load_own_variables(self, store):
        state = self.saved_state()
        if len(store.keys()) != len(state):
            raise ValueError(
                f"{self.name}: the saved state holds {len(store.keys())} variables (the parameter average, the "
                f"historical averages and the random states), this model {len(state)}: save and load the same "
                "architecture and historical_averaging setting."
            )
        for index, variable in enumerate(state):
            variable.assign(store[str(index)])

    # ------------------------------------------------------------------ passes

    def _discriminate(self, batches):
        """Discriminator ``[logits, features]`` of each batch, in one pass when the arithmetic allows it."""
        if self.joint_discriminator_pass and len(batches) > 1:
            sizes = [tf.shape(b)[0] for b in batches]
            logits, features = self.discriminator(tf.concat(batches, axis=0), training=True)
            return list(zip(tf.split(logits, sizes), tf.split(features, sizes)))
        return [tuple(self.discriminator(b, training=True)) for b in batches]

    def averaged_logits(self, images):
        """Logits of the discriminator with the averaged parameters (no noise, as ``deterministic=True``)."""
        non_trainable = [v.value for v in self.discriminator.non_trainable_variables]
        (logits, _), _ = self.discriminator.stateless_call(
            self.parameter_average.values(), non_trainable, images, training=False
        )
        return logits

    def generator_loss_of(self, z, features_real=None):
        """The generator's loss for noise ``z``: feature matching against ``features_real`` (the real batch's
        features, computed apart), or the minibatch-discrimination loss ``-mean(softplus(lse(l_gen)))``."""
        generated = self.generator(z, training=True)
        if self.generator_loss == "feature_matching":
            _, features_fake = self.discriminator(generated, training=True)
            return losses.feature_matching_loss(features_real, features_fake, self.feature_norm)
        ((logits_fake, _),) = self._discriminate([generated])
        return losses.minibatch_generator_loss(logits_fake)

    def call(self, images, training=None):
        return self.averaged_logits(images)

    def train_step(self, data):
        x_lab, y_lab, x_unl, x_unl2 = data
        batch_size = tf.shape(x_unl)[0]
        discriminator_variables = self.discriminator.trainable_variables
        generated = self.generator(self.noise(batch_size), training=True)
        with tf.GradientTape() as tape:
            (logits_lab, _), (logits_unl, _), (logits_gen, _) = self._discriminate([x_lab, x_unl, generated])
            loss_lab = losses.supervised_loss(logits_lab, y_lab)
            loss_unl = losses.unsupervised_loss(logits_unl, logits_gen, self.label_smoothing)
            loss = self.unlabeled_weight * loss_unl
            if self.use_labels:
                loss = loss_lab + loss
            if self.historical_averages is not None:
                loss = loss + self._historical_term("discriminator", discriminator_variables)
        gradients = tape.gradient(loss, discriminator_variables)
        # The original's train_batch_disc applies the Adam and the average updates together, so the average
        # moves toward the parameters before this step's update: average first, then Adam.
        self.parameter_average.update()
        self.discriminator_optimizer.apply_gradients(zip(gradients, discriminator_variables))

        generator_variables = self.generator.trainable_variables
        # The discriminator does not change during the generator updates: its weight norms are computed once for
        # all their passes (the same values; no discriminator gradient is taken there).
        with held_weight_norms(self.discriminator):
            for _ in range(self.generator_steps):
                features_real = None
                if self.generator_loss == "feature_matching":
                    # No gradient flows into the real batch's features: a forward pass of their own, so that the
                    # backward pass runs through the discriminator for the generated batch only.
                    _, features_real = self.discriminator(x_unl2, training=True)
                with tf.GradientTape() as tape:
                    loss_gen = self.generator_loss_of(self.noise(batch_size), features_real)
                    cost_gen = loss_gen
                    if self.historical_averages is not None:
                        cost_gen = cost_gen + self._historical_term("generator", generator_variables)
                gradients = tape.gradient(cost_gen, generator_variables)
                self.generator_optimizer.apply_gradients(zip(gradients, generator_variables))

        self.trackers["loss_lab"].update_state(loss_lab)
        self.trackers["loss_unl"].update_state(loss_unl)
        self.trackers["train_err"].update_state(losses.classification_error(logits_lab, y_lab))
        self.trackers["loss_gen"].update_state(loss_gen)
        logs = {name: self.trackers[name].result() for name in ("loss_lab", "loss_unl", "train_err", "loss_gen")}
        # Keras's "loss": the discriminator's cost from the running means above (a tracker of the step's own cost
        # differed between identical runs in its last bits, under load; these means do not)
        cost = self.unlabeled_weight * logs["loss_unl"]
        logs["loss"] = logs["loss_lab"] + cost if self.use_labels else cost
        return logs

    def test_step(self, data):
        """``data``: ``(images, labels)`` or ``(images, labels, weights)``; the error is the weighted mean over
        every example of every batch (see ``evaluation_dataset`` for the SVHN scripts' weights)."""
        images, labels = data[0], data[1]
        weights = data[2] if len(data) > 2 else None

        def errors(logits):
            predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
            return tf.cast(tf.not_equal(predictions, tf.cast(labels, tf.int32)), losses.error_dtype(logits))

        averaged_logits = self.averaged_logits(images)
        self.trackers["test_err"].update_state(errors(averaged_logits), sample_weight=weights)
        raw_logits, _ = self.discriminator(images, training=False)
        self.trackers["test_err_raw"].update_state(errors(raw_logits), sample_weight=weights)
        # the averaged classifier's cross-entropy per example (lse(l) - l[y], the terms of loss_lab)
        picked = tf.gather(averaged_logits, tf.cast(labels, tf.int32), axis=1, batch_dims=1)
        self.trackers["loss"].update_state(losses.log_sum_exp(averaged_logits) - picked, sample_weight=weights)
        return {name: self.trackers[name].result() for name in ("test_err", "test_err_raw", "loss")}
