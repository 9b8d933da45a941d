"""The ImageNet GAN of ``imagenet/`` (``build_model.py`` and ``train.py``) as a ``keras.Model``.

:class:`ImageNetGAN` holds the generator (with its virtual-batch-norm reference batch) and the discriminator of
:mod:`improved_gan_tf2.networks.imagenet`; its ``train_step`` is one iteration of ``train.py``: one discriminator
and one generator Adam update computed from the same forward pass (the original runs ``d_optim`` and ``g_optim``
in one ``session.run``), with the losses of :func:`improved_gan_tf2.losses.imagenet_losses`. Under a
``tf.distribute`` strategy every replica is one of the original's GPU towers: it takes a per-replica batch (the
original's ``batch_size``), draws its own generator inputs and input noise, runs its own reference batch, cross
batch norm and minibatch features on its own joint batch, and the gradients are averaged over replicas before
the update (``avg_grads``). What ``train.py``'s loop does around the update (log line, sample grids,
checkpoints, strategies) is in :mod:`improved_gan_tf2.training`.
"""
import keras
import tensorflow as tf

from improved_gan_tf2 import losses
from improved_gan_tf2.models import common
from improved_gan_tf2.networks import imagenet as nets
from improved_gan_tf2.optimizers import tf1_adam

#: The original's learning rate and Adam momentum of both players (``train_imagenet.sh``, ``build_model.py``).
LEARNING_RATE = 0.0004
BETA1 = 0.5
#: Rows of the fixed sample inputs (an 8x8 grid).
SAMPLE_SIZE = 64


def _fold(key, data):
    return tf.random.experimental.stateless_fold_in(key, tf.cast(data, tf.int64))


def generator_inputs(example_shapes, batch_size, key):
    """U(-1, 1) generator inputs ``[z, h0z, ..., h5z]`` (per-example ``example_shapes``) for ``batch_size`` rows,
    streams 0 to 6 of the stateless ``key``."""
    return [
        tf.random.stateless_uniform((batch_size,) + tuple(shape), seed=_fold(key, i), minval=-1.0, maxval=1.0)
        for i, shape in enumerate(example_shapes)
    ]


def seeded_generator_inputs(example_shapes, batch_size, model_seed, seed):
    """The generator inputs of an integer ``seed`` (a Python int or a tensor) of the model made with
    ``model_seed``: what ``ImageNetGAN.sample(batch_size, seed)`` draws, and exported generators with it."""
    return generator_inputs(example_shapes, batch_size, _fold(tf.constant([int(model_seed), 7], tf.int64), seed))


@keras.saving.register_keras_serializable(package="improved_gan_tf2")
class ImageNetGAN(keras.Model):
    """Generator, discriminator and the training step of the ImageNet experiment (paper Sec. 6.4).

    ``batch_size`` is the original's per-tower batch (16 in ``train_imagenet.sh``): the size of the
    reference batch and of each tower's real and generated halves. ``towers_per_replica``: how many of the
    original's GPU towers each replica runs in turn within one step (its batch then holds that many towers'
    real images, ``towers_per_replica * batch_size`` rows); every tower draws its own generator inputs and noise
    and runs its own cross batch norm and minibatch features on its own joint batch, and each update averages the
    gradients of all towers of all replicas, as the original's ``avg_grads`` over its 4 GPUs (4 towers per replica
    on one device, 1 on each of 4). Defaults are the original's model
    (``z_dim=8192``, ``gf_dim=df_dim=64``, 128x128, 1000 classes, 300x50 minibatch kernels, label smoothing
    0.25, generator target 0.375); shrink ``gf_dim``, ``df_dim``, ``z_dim``, ``image_size``... for small runs.

    Random numbers are stateless and keyed by ``(seed, step, tower, stream)``, so a run is reproducible from
    ``seed`` and every tower draws different generator inputs and input noise, as the original's towers did
    (tower ``replica * towers_per_replica + t``). The fixed sample inputs (``sample_size`` rows of ``z`` and noise, for the 8x8 grids) and the
    generator's reference batch are non-trainable weights, saved in checkpoints; ``step`` and the running
    top-1 error (``avg_error_rate``, as ``build_model.py``'s ``misc`` variables) too.

    A standard Keras model besides: ``get_config``, ``compile`` by keyword or position, whole-model
    ``save``/``keras.models.load_model`` (after ``import improved_gan_tf2``) with both optimizers, and a ``loss``
    log (the discriminator's loss ``d_loss``) for the callbacks that read it (``TerminateOnNaN``).

    >>> import numpy as np, tensorflow as tf
    >>> with tf.distribute.get_strategy().scope():  # or a MirroredStrategy's
    ...     gan = ImageNetGAN(batch_size=2, z_dim=8, gf_dim=4, df_dim=4, image_size=32, num_classes=3,
    ...                       minibatch_kernels=2, minibatch_kernel_dim=2, sample_size=4)
    ...     gan.compile()  # TF1's Adam(0.0004, beta1=0.5) for both players, as the original
    >>> images = np.zeros((4, 32, 32, 3), "float32")
    >>> labels = np.zeros((4,), "int64")
    >>> history = gan.fit(images, labels, batch_size=2, epochs=1, verbose=0)  # two steps
    >>> int(gan.step.numpy())
    2
    """

    def __init__(self, batch_size=16, z_dim=nets.Z_DIM, gf_dim=nets.GF_DIM, df_dim=nets.DF_DIM,
                 image_size=nets.IMAGE_SIZE, num_classes=nets.NUM_CLASSES, minibatch_kernels=nets.MINIBATCH_KERNELS,
                 minibatch_kernel_dim=nets.MINIBATCH_KERNEL_DIM, label_smoothing=losses.PAPER_LABEL_SMOOTHING,
                 generator_target_prob=losses.IMAGENET_GENERATOR_TARGET,
                 input_noise_stddev=nets.INPUT_NOISE_STDDEV, sample_size=SAMPLE_SIZE, seed=0, towers_per_replica=1,
                 **kwargs):
        kwargs.setdefault("name", "imagenet_gan")
        super().__init__(**kwargs)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.z_dim, self.gf_dim, self.df_dim = int(z_dim), int(gf_dim), int(df_dim)
        self.image_size = int(image_size)
        self.num_classes = int(num_classes)
        self.minibatch_kernels, self.minibatch_kernel_dim = int(minibatch_kernels), int(minibatch_kernel_dim)
        self.label_smoothing = float(label_smoothing)
        self.generator_target_prob = float(generator_target_prob)
        self.input_noise_stddev = float(input_noise_stddev)
        self.sample_size = int(sample_size)
        self.seed = int(seed)
        self.towers_per_replica = int(towers_per_replica)
        if self.towers_per_replica < 1:
            raise ValueError(f"towers_per_replica must be at least 1, got {towers_per_replica}.")
        self.generator = nets.ImageNetGenerator(
            self.batch_size, self.z_dim, self.gf_dim, self.image_size, seed=self.seed
        )
        self.discriminator = nets.build_discriminator(
            self.df_dim, self.num_classes, self.minibatch_kernels, self.minibatch_kernel_dim, self.image_size,
            self.input_noise_stddev,
        )
        first = dict(trainable=False, aggregation="only_first_replica")
        self.step = self.add_weight(name="step", shape=(), dtype="int64", initializer="zeros", **first)
        self.avg_error_rate = self.add_weight(name="avg_error_rate", shape=(), initializer="zeros", **first)
        self.num_error_rate = self.add_weight(name="num_error_rate", shape=(), initializer="zeros", **first)
        for i, (name, shape) in enumerate(zip(nets.GENERATOR_INPUT_NAMES, self.generator.example_shapes)):
            # one attribute each, so that tf.train.Checkpoint tracks them (it does not track lists)
            setattr(self, f"sample_{name}", self.add_weight(
                name=f"sample_{name}",
                shape=(self.sample_size,) + shape,
                initializer=keras.initializers.RandomUniform(-1.0, 1.0, seed=self.seed + 2000 + i),
                trainable=False,
            ))
        self.discriminator_optimizer = None
        self.generator_optimizer = None
        self.built = True

    @property
    def sample_inputs(self):
        """The fixed ``[z, h0z, ..., h5z]`` of the sample grids (non-trainable weights)."""
        return [getattr(self, f"sample_{name}") for name in nets.GENERATOR_INPUT_NAMES]

    # ------------------------------------------------------------------ set-up

    def compile(self, discriminator_optimizer=None, generator_optimizer=None, **kwargs):
        """Sets the two players' optimizers (default: the original's Adam(0.0004, beta1=0.5) each) and builds
        their slots, so that a checkpoint can be restored before the first step. Call inside the strategy's
        scope. ``jit_compile`` defaults to False. Optimizers may be given by keyword or position (instances,
        names, configs); ``optimizer``, ``loss`` and ``metrics`` are refused with the reason."""
        kwargs.setdefault("jit_compile", False)
        discriminator_optimizer, generator_optimizer, kwargs = common.two_player_optimizers(
            type(self).__name__, discriminator_optimizer, generator_optimizer, kwargs,
            default=lambda player: tf1_adam(LEARNING_RATE, BETA1, name=f"{player[0]}_adam"),
        )
        self._two_player_compile_arguments = dict(kwargs)
        super().compile(optimizer=None, **kwargs)
        self.discriminator_optimizer = discriminator_optimizer
        self.generator_optimizer = generator_optimizer
        discriminator_optimizer.build(self.discriminator.trainable_variables)
        generator_optimizer.build(self.generator.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Everything is built in __init__ and compile(), and there is no compiled loss or metric, so Keras's
        # symbolic build has nothing to do. Skipping it also skips its eager strategy.reduce() of the first
        # batch, which fails under MultiWorkerMirroredStrategy (Keras 3.15: "Attempt to convert a value
        # (PerReplica...) to a Tensor").
        if self.discriminator_optimizer is not None and all(layer.built for layer in self._flatten_layers()):
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def call(self, inputs, training=None):
        """The generator on live inputs ``[z, h0z, ..., h5z]``."""
        return self.generator(inputs, training=training)

    # ------------------------------------------------------------------ randomness

    def noise_key(self, step, tower):
        """The stateless key of one tower's random numbers at one step."""
        key = tf.constant([self.seed, 2016], dtype=tf.int64)
        return _fold(_fold(key, step), tower)

    def generator_inputs(self, batch_size, key):
        """Fresh U(-1, 1) ``[z, h0z, ..., h5z]`` for ``batch_size`` live rows (streams 0 to 6 of ``key``)."""
        return generator_inputs(self.generator.example_shapes, batch_size, key)

    def random_generator_inputs(self, batch_size, seed):
        """Fresh generator inputs from an integer ``seed`` (outside training: test images, benchmarks)."""
        return seeded_generator_inputs(self.generator.example_shapes, batch_size, self.seed, seed)

    # ------------------------------------------------------------------ one training step

    def compute_gradients(self, images, labels, tower=0, num_towers=1):
        """One tower of ``build_model.py``: losses on ``concat([images, G(z)])`` and both players' gradients,
        with tower number ``tower``'s random numbers.

        Each loss is divided by ``num_towers`` (all towers of all replicas) before differentiation, so that the
        sum of the towers' gradients (what the replicas add up and the optimizers all-reduce) is their average.
        Returns ``(d_grads, g_grads, tower_losses)``, the gradients in the order of
        ``discriminator.trainable_variables`` and ``generator.trainable_variables``.
        """
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        batch = tf.shape(images)[0]
        key = self.noise_key(tf.convert_to_tensor(self.step), tower)
        z = self.generator_inputs(batch, key)
        noise = tf.random.stateless_normal(
            tf.stack([2 * batch, self.image_size, self.image_size, 3]), seed=_fold(key, len(z))
        )
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            generated = self.generator(z, training=True)
            joint = tf.concat([images, generated], axis=0)
            class_logits = self.discriminator([joint, noise], training=True)
            tower_losses = losses.imagenet_losses(class_logits, labels, self.label_smoothing,
                                                 self.generator_target_prob)
            d_loss = tower_losses["d_loss"] / tf.cast(num_towers, tf.float32)
            g_loss = tower_losses["g_loss"] / tf.cast(num_towers, tf.float32)
        d_grads = tape.gradient(d_loss, d_vars)
        g_grads = tape.gradient(g_loss, g_vars)
        del tape
        return d_grads, g_grads, tower_losses

    def apply_gradients(self, d_grads, g_grads):
        """Both Adam updates, then ``step += 1``. In a replica context the optimizers sum over replicas."""
        self.discriminator_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
        self.generator_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))
        self.step.assign_add(1)

    def update_error_rate(self, error_rate):
        """``build_model.py``'s running top-1 error: a true mean for 100 steps, then a 0.01 running average."""
        self.num_error_rate.assign_add(1.0)
        tc = tf.maximum(0.01, 1.0 / self.num_error_rate)
        self.avg_error_rate.assign((1.0 - tc) * self.avg_error_rate + tc * error_rate)

    def train_step(self, data):
        if self.discriminator_optimizer is None:
            raise RuntimeError("Call ImageNetGAN.compile() (inside the strategy's scope) before training.")
        images, labels = data[0], data[1]
        context = tf.distribute.get_replica_context()
        replica_id = context.replica_id_in_sync_group if context is not None else 0
        num_replicas = self.distribute_strategy.num_replicas_in_sync
        towers, b = self.towers_per_replica, self.batch_size
        d_grads = g_grads = None
        all_losses = []
        for t in range(towers):  # this replica's towers, one after the other
            tower_d, tower_g, tower_losses = self.compute_gradients(
                images[t * b:(t + 1) * b], labels[t * b:(t + 1) * b], replica_id * towers + t, num_replicas * towers)
            d_grads = tower_d if d_grads is None else [a + g for a, g in zip(d_grads, tower_d)]
            g_grads = tower_g if g_grads is None else [a + g for a, g in zip(g_grads, tower_g)]
            all_losses.append(tower_losses)
        self.apply_gradients(d_grads, g_grads)
        error_rate = all_losses[0]["error_rate"]  # tower 0's, as the original's running error
        if context is not None and num_replicas > 1:
            # the original tracks tower 0's error; every replica (on every worker) gets replica 0's value
            first = tf.cast(tf.equal(replica_id, 0), error_rate.dtype)
            error_rate = context.all_reduce(tf.distribute.ReduceOp.SUM, error_rate * first)
        self.update_error_rate(error_rate)
        logs = {name: tf.add_n([tower[name] for tower in all_losses]) / float(towers) for name in all_losses[0]}
        logs["avg_error_rate"] = tf.convert_to_tensor(self.avg_error_rate)
        logs["loss"] = logs["d_loss"]  # what Keras callbacks read by default (TerminateOnNaN, monitors)
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 averages logs over workers with strategy.reduce("MEAN", v, axis=0), which needs rank 1
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    # ------------------------------------------------------------------ sampling

    def sample(self, batch_size=None, seed=None):
        """Generated images. Without arguments: from the fixed sample inputs (``sample_size`` rows, as
        ``train.py``'s ``sample_zs``); with ``batch_size`` (and an integer ``seed``): from fresh inputs of that
        seed's fixed draw, which leaves the training noise untouched."""
        if batch_size is None:
            inputs = [tf.convert_to_tensor(v) for v in self.sample_inputs]
        else:
            inputs = self.random_generator_inputs(batch_size, 0 if seed is None else seed)
        return self.generator(inputs, training=False)

    def get_compile_config(self):
        if not self.compiled or self.discriminator_optimizer is None:
            return {}
        return common.compile_config(self.discriminator_optimizer, self.generator_optimizer,
                                     self._two_player_compile_arguments)

    def compile_from_config(self, config):
        common.compile_from_config(self, config)

    def get_config(self):
        config = super().get_config()
        config.update(
            batch_size=self.batch_size, z_dim=self.z_dim, gf_dim=self.gf_dim, df_dim=self.df_dim,
            image_size=self.image_size, num_classes=self.num_classes, minibatch_kernels=self.minibatch_kernels,
            minibatch_kernel_dim=self.minibatch_kernel_dim, label_smoothing=self.label_smoothing,
            generator_target_prob=self.generator_target_prob, input_noise_stddev=self.input_noise_stddev,
            sample_size=self.sample_size, seed=self.seed, towers_per_replica=self.towers_per_replica,
        )
        return config
