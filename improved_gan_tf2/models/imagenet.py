"""The ImageNet GAN of ``imagenet/`` (``build_model.py`` and ``train.py``) as a ``keras.Model``.

- :func:`imagenet_losses`: the original's four losses on one tower's (replica's) joint batch.
- :class:`ImageNetGAN`: generator (with its virtual-batch-norm reference batch) and discriminator; its
  ``train_step`` is one iteration of ``train.py``: one discriminator and one generator Adam update computed
  from the same forward pass (the original runs ``d_optim`` and ``g_optim`` in one ``session.run``).
  Under a ``tf.distribute`` strategy every replica is one of the original's GPU towers: it takes a
  per-replica batch (the original's ``batch_size``), draws its own generator inputs and input noise, runs
  its own reference batch, cross batch norm and minibatch features on its own joint batch, and the gradients
  are averaged over replicas before the update (``avg_grads``).
- :class:`ImageNetTrainingMonitor`: the callback that does what ``train.py``'s loop does besides the update
  (the periodic log line, 8x8 sample grids, time-based checkpoints) and writes TensorBoard summaries.
- :func:`make_strategy`, :func:`make_checkpoint_manager`, :func:`save_image_grid`: the pieces the training
  script assembles.
"""
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.data.imagenet import bytescale
from improved_gan_tf2.losses import sigmoid_kl_with_logits
from improved_gan_tf2.networks import imagenet as nets
from improved_gan_tf2.plotting import tile_images
from improved_gan_tf2.training import restore_checkpoint as restore_latest  # noqa: F401  (part of this API)

D_LABEL_SMOOTH = 0.25
GENERATOR_TARGET_PROB = 0.75 / 2.0
LEARNING_RATE = 0.0004
BETA1 = 0.5
SAMPLE_SIZE = 64
#: The original's log line (``train.py``), fields and order unchanged.
LOG_LINE = (
    "[Batch %(idx)d] time: %(total_time)4.4f, d_loss: %(d_loss).8f, g_loss: %(errG).8f, "
    "d_loss_real: %(errD_real).8f, d_loss_fake: %(errD_fake).8f, d_loss_class: %(errD_class).8f, "
    "sec/batch: %(sec_per_batch)4.4f, sec/this batch: %(sec_this_batch)4.4f"
)


def original_adam(learning_rate=LEARNING_RATE, beta1=BETA1, name=None):
    """``tf.train.AdamOptimizer(learning_rate, beta1=beta1)`` of TF 0.x.

    ``keras.optimizers.Adam`` has TF1's update rule, ``p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) +
    epsilon)`` with the epsilon outside the root; only its default epsilon differs (1e-7), so it is set to
    TF1's 1e-8 here.
    """
    return keras.optimizers.Adam(learning_rate, beta_1=beta1, beta_2=0.999, epsilon=1e-8, name=name)


def imagenet_losses(class_logits, labels, d_label_smooth=D_LABEL_SMOOTH,
                    generator_target_prob=GENERATOR_TARGET_PROB):
    """The losses of ``build_model.py`` on one tower's joint batch (real rows first, then as many generated).

    ``class_logits``: ``2h x (K + 1)``; ``labels``: the ``h`` real labels. With ``g = gan_logits``:
    ``d_loss_real = mean KL(1 - d_label_smooth || sigmoid(g_real))`` (one-sided label smoothing),
    ``d_loss_fake = mean xent(0, sigmoid(g_fake))``, ``d_loss_class = mean softmax xent`` of the real rows'
    ``K + 1`` logits, ``d_loss`` their sum, ``g_loss = mean KL(generator_target_prob || sigmoid(g_fake))``,
    and ``error_rate``, the real rows' top-1 error.
    """
    class_logits = tf.convert_to_tensor(class_logits)
    labels = tf.cast(labels, tf.int32)
    half = tf.shape(labels)[0]
    logits = nets.gan_logits(class_logits)
    real_logits, fake_logits = logits[:half], logits[half:]
    real_class_logits = class_logits[:half]
    d_loss_real = tf.reduce_mean(sigmoid_kl_with_logits(real_logits, 1.0 - d_label_smooth))
    d_loss_fake = tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(fake_logits), logits=fake_logits)
    )
    d_loss_class = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=real_class_logits)
    )
    g_loss = tf.reduce_mean(sigmoid_kl_with_logits(fake_logits, generator_target_prob))
    correct = tf.cast(tf.math.in_top_k(labels, real_class_logits, 1), tf.float32)
    return {
        "d_loss": d_loss_real + d_loss_fake + d_loss_class,
        "g_loss": g_loss,
        "d_loss_real": d_loss_real,
        "d_loss_fake": d_loss_fake,
        "d_loss_class": d_loss_class,
        "error_rate": 1.0 - tf.reduce_mean(correct),
    }


def _fold(key, data):
    return tf.random.experimental.stateless_fold_in(key, tf.cast(data, tf.int64))


@keras.saving.register_keras_serializable(package="improved_gan_tf2")
class ImageNetGAN(keras.Model):
    """Generator, discriminator and the training step of the ImageNet experiment (paper Sec. 6.4).

    ``batch_size`` is the original's per-tower batch (16 in ``train_imagenet.sh``): the size of the
    reference batch and of each replica's real and generated halves. Defaults are the original's model
    (``z_dim=8192``, ``gf_dim=df_dim=64``, 128x128, 1000 classes, 300x50 minibatch kernels, label smoothing
    0.25, generator target 0.375); shrink ``gf_dim``, ``df_dim``, ``z_dim``, ``image_size``... for small runs.

    Random numbers are stateless and keyed by ``(seed, step, replica, stream)``, so a run is reproducible from
    ``seed`` and every replica draws different generator inputs and input noise, as the original's towers
    did. The fixed sample inputs (``sample_size`` rows of ``z`` and noise, for the 8x8 grids) and the
    generator's reference batch are non-trainable weights, saved in checkpoints; ``step`` and the running
    top-1 error (``avg_error_rate``, as ``build_model.py``'s ``misc`` variables) too.

    >>> with strategy.scope():
    ...     gan = ImageNetGAN(batch_size=16)
    ...     gan.compile()  # Adam(0.0004, beta_1=0.5) for both players
    >>> gan.fit(per_replica_dataset, steps_per_epoch=1000)
    """

    def __init__(self, batch_size=16, z_dim=nets.Z_DIM, gf_dim=nets.GF_DIM, df_dim=nets.DF_DIM,
                 image_size=nets.IMAGE_SIZE, num_classes=nets.NUM_CLASSES, minibatch_kernels=nets.MINIBATCH_KERNELS,
                 minibatch_kernel_dim=nets.MINIBATCH_KERNEL_DIM, d_label_smooth=D_LABEL_SMOOTH,
                 generator_target_prob=GENERATOR_TARGET_PROB, input_noise_stddev=nets.INPUT_NOISE_STDDEV,
                 sample_size=SAMPLE_SIZE, seed=0, **kwargs):
        kwargs.setdefault("name", "imagenet_gan")
        super().__init__(**kwargs)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.z_dim, self.gf_dim, self.df_dim = int(z_dim), int(gf_dim), int(df_dim)
        self.image_size = int(image_size)
        self.num_classes = int(num_classes)
        self.minibatch_kernels, self.minibatch_kernel_dim = int(minibatch_kernels), int(minibatch_kernel_dim)
        self.d_label_smooth = float(d_label_smooth)
        self.generator_target_prob = float(generator_target_prob)
        self.input_noise_stddev = float(input_noise_stddev)
        self.sample_size = int(sample_size)
        self.seed = int(seed)
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
        self.d_optimizer = None
        self.g_optimizer = None
        self.built = True

    @property
    def sample_inputs(self):
        """The fixed ``[z, h0z, ..., h5z]`` of the sample grids (non-trainable weights)."""
        return [getattr(self, f"sample_{name}") for name in nets.GENERATOR_INPUT_NAMES]

    # ------------------------------------------------------------------ set-up

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Sets the two players' optimizers (default: the original's Adam(0.0004, beta1=0.5) each) and builds
        their slots, so that a checkpoint can be restored before the first step. Call inside the strategy's
        scope. ``jit_compile`` defaults to False."""
        kwargs.setdefault("jit_compile", False)
        super().compile(optimizer=None, **kwargs)
        self.d_optimizer = d_optimizer if d_optimizer is not None else original_adam(name="d_adam")
        self.g_optimizer = g_optimizer if g_optimizer is not None else original_adam(name="g_adam")
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Everything is built in __init__ and compile(), and there is no compiled loss or metric, so Keras's
        # symbolic build has nothing to do. Skipping it also skips its eager strategy.reduce() of the first
        # batch, which fails under MultiWorkerMirroredStrategy (Keras 3.15: "Attempt to convert a value
        # (PerReplica...) to a Tensor").
        if self.d_optimizer is not None and all(layer.built for layer in self._flatten_layers()):
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def call(self, inputs, training=None):
        """The generator on live inputs ``[z, h0z, ..., h5z]``."""
        return self.generator(inputs, training=training)

    # ------------------------------------------------------------------ randomness

    def noise_key(self, step, replica_id):
        """The stateless key of one replica's random numbers at one step."""
        key = tf.constant([self.seed, 2016], dtype=tf.int64)
        return _fold(_fold(key, step), replica_id)

    def generator_inputs(self, batch_size, key):
        """Fresh U(-1, 1) ``[z, h0z, ..., h5z]`` for ``batch_size`` live rows (streams 0 to 6 of ``key``)."""
        return [
            tf.random.stateless_uniform((batch_size,) + shape, seed=_fold(key, i), minval=-1.0, maxval=1.0)
            for i, shape in enumerate(self.generator.example_shapes)
        ]

    def random_generator_inputs(self, batch_size, seed):
        """Fresh generator inputs from an integer ``seed`` (outside training: test images, benchmarks)."""
        return self.generator_inputs(batch_size, _fold(tf.constant([self.seed, 7], tf.int64), seed))

    # ------------------------------------------------------------------ one training step

    def compute_gradients(self, images, labels, replica_id=0, num_replicas=1):
        """One tower of ``build_model.py``: losses on ``concat([images, G(z)])`` and both players' gradients.

        Each loss is divided by ``num_replicas`` before differentiation, so that the sum of the replicas'
        gradients (what the optimizers all-reduce) is their average. Returns ``(d_grads, g_grads, losses)``,
        the gradients in the order of ``discriminator.trainable_variables`` and ``generator.trainable_variables``.
        """
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        batch = tf.shape(images)[0]
        key = self.noise_key(tf.convert_to_tensor(self.step), replica_id)
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
            losses = imagenet_losses(class_logits, labels, self.d_label_smooth, self.generator_target_prob)
            d_loss = losses["d_loss"] / tf.cast(num_replicas, tf.float32)
            g_loss = losses["g_loss"] / tf.cast(num_replicas, tf.float32)
        d_grads = tape.gradient(d_loss, d_vars)
        g_grads = tape.gradient(g_loss, g_vars)
        del tape
        return d_grads, g_grads, losses

    def apply_gradients(self, d_grads, g_grads):
        """Both Adam updates, then ``step += 1``. In a replica context the optimizers sum over replicas."""
        self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))
        self.step.assign_add(1)

    def update_error_rate(self, error_rate):
        """``build_model.py``'s running top-1 error: a true mean for 100 steps, then a 0.01 running average."""
        self.num_error_rate.assign_add(1.0)
        tc = tf.maximum(0.01, 1.0 / self.num_error_rate)
        self.avg_error_rate.assign((1.0 - tc) * self.avg_error_rate + tc * error_rate)

    def train_step(self, data):
        if self.d_optimizer is None:
            raise RuntimeError("Call ImageNetGAN.compile() (inside the strategy's scope) before training.")
        images, labels = data[0], data[1]
        context = tf.distribute.get_replica_context()
        replica_id = context.replica_id_in_sync_group if context is not None else 0
        num_replicas = self.distribute_strategy.num_replicas_in_sync
        d_grads, g_grads, losses = self.compute_gradients(images, labels, replica_id, num_replicas)
        self.apply_gradients(d_grads, g_grads)
        error_rate = losses["error_rate"]
        if context is not None and num_replicas > 1:
            # the original tracks tower 0's error; every replica (on every worker) gets replica 0's value
            first = tf.cast(tf.equal(replica_id, 0), error_rate.dtype)
            error_rate = context.all_reduce(tf.distribute.ReduceOp.SUM, error_rate * first)
        self.update_error_rate(error_rate)
        logs = dict(losses)
        logs["avg_error_rate"] = tf.convert_to_tensor(self.avg_error_rate)
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 averages logs over workers with strategy.reduce("MEAN", v, axis=0), which needs rank 1
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    # ------------------------------------------------------------------ sampling

    def generate(self, inputs=None):
        """Images from ``inputs`` (default: the fixed sample inputs, as ``train.py``'s ``sample_zs``)."""
        if inputs is None:
            inputs = [tf.convert_to_tensor(v) for v in self.sample_inputs]
        return self.generator(inputs, training=False)

    def get_config(self):
        config = super().get_config()
        config.update(
            batch_size=self.batch_size, z_dim=self.z_dim, gf_dim=self.gf_dim, df_dim=self.df_dim,
            image_size=self.image_size, num_classes=self.num_classes, minibatch_kernels=self.minibatch_kernels,
            minibatch_kernel_dim=self.minibatch_kernel_dim, d_label_smooth=self.d_label_smooth,
            generator_target_prob=self.generator_target_prob, input_noise_stddev=self.input_noise_stddev,
            sample_size=self.sample_size, seed=self.seed,
        )
        return config


# ---------------------------------------------------------------------- distribution, checkpoints, images


def _cluster_size(tf_config):
    cluster = tf_config.get("cluster", {})
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def make_strategy(kind="auto"):
    """The distribution strategy: ``"auto"`` is ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names more
    than one worker, else ``MirroredStrategy`` over the visible GPUs (the CPU if there are none);
    ``"mirrored"``, ``"multi_worker"`` and ``"default"`` (no strategy) force one."""
    if kind == "auto":
        tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
        kind = "multi_worker" if _cluster_size(tf_config) > 1 else "mirrored"
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"strategy must be 'auto', 'mirrored', 'multi_worker' or 'default', got {kind!r}.")


def is_chief(strategy):
    """True on the one process that writes logs, samples and checkpoints."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def make_checkpoint_manager(model, directory, max_to_keep=5):
    """``tf.train.Checkpoint`` of the model (weights, reference batch, sample inputs, step) and both
    optimizers, in a manager keeping the last ``max_to_keep`` (the original ``Saver``'s default) as
    ``DCGAN.model-<step>``."""
    checkpoint = tf.train.Checkpoint(model=model, d_optimizer=model.d_optimizer, g_optimizer=model.g_optimizer)
    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep, checkpoint_name="DCGAN.model")


def save_checkpoint(manager, model):
    return manager.save(checkpoint_number=int(model.step.numpy()))


def merge_images(images, grid):
    """``utils.merge``: images in [-1, 1] tiled row by row, without borders, into a ``grid = (rows, cols)``
    image in [0, 1]."""
    return tile_images((np.asarray(images, dtype=np.float64) + 1.0) / 2.0, tile_shape=grid, border=0)


def save_image_grid(images, grid, path):
    """``utils.save_images``: merge and write a PNG. Like ``scipy.misc.imsave`` on a float image, the grid's
    own minimum and maximum are stretched to 0 and 255."""
    from PIL import Image

    pixels = bytescale(merge_images(images, grid))
    Image.fromarray(pixels).save(path)
    return path


class ImageNetTrainingMonitor(keras.callbacks.Callback):
    """What ``train.py``'s loop does around the update, as a ``fit`` callback.

    Every ``print_every_secs`` (15) the original's log line (:data:`LOG_LINE`, same fields and order; the
    losses are the replicas' mean, where the original printed tower 0's) and the running top-1 error, also
    written as TensorBoard scalars; an 8x8 grid of the fixed sample inputs to ``sample_dir/train_<step>.png``
    (and TensorBoard) every 10 batches for the first 300 and then every ``sample_every_secs`` (300); a
    checkpoint every ``checkpoint_every_secs`` (3600). Only the chief writes (``chief=False`` on the others).
    """

    def __init__(self, manager=None, sample_dir=None, log_dir=None, print_every_secs=15.0,
                 sample_every_secs=300.0, checkpoint_every_secs=3600.0, chief=True, print_fn=print):
        super().__init__()
        self.manager = manager
        self.sample_dir = sample_dir
        self.print_every_secs = float(print_every_secs)
        self.sample_every_secs = float(sample_every_secs)
        self.checkpoint_every_secs = float(checkpoint_every_secs)
        self.chief = bool(chief)
        self.print_fn = print_fn
        self.writer = tf.summary.create_file_writer(log_dir) if (log_dir and self.chief) else None
        self.idx = 0
        self.written = []

    def on_train_begin(self, logs=None):
        now = time.time()
        self.start_time = self.print_time = self.sample_time = self.save_time = now

    def on_train_batch_begin(self, batch, logs=None):
        self.batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self.idx += 1
        idx = self.idx
        if not self.chief:
            return
        logs = logs or {}
        step = int(self.model.step.numpy())
        if time.time() - self.print_time > self.print_every_secs:
            self.print_time = time.time()
            values = {k: float(np.mean(np.asarray(v))) for k, v in logs.items()}
            fields = dict(
                idx=idx,
                total_time=self.print_time - self.start_time,
                d_loss=values["d_loss_fake"] + values["d_loss_real"] + values["d_loss_class"],
                errG=values["g_loss"], errD_real=values["d_loss_real"], errD_fake=values["d_loss_fake"],
                errD_class=values["d_loss_class"],
                sec_per_batch=(self.print_time - self.start_time) / (idx + 1.0),
                sec_this_batch=self.print_time - self.batch_start_time,
            )
            self.print_fn(LOG_LINE % fields)
            self.print_fn("running top-1 error rate[%g]" % values["avg_error_rate"])
            if self.writer is not None:
                with self.writer.as_default(step=step):
                    for name, value in values.items():
                        tf.summary.scalar(name, value)
                    tf.summary.scalar("sec_per_batch", fields["sec_per_batch"])
        if (idx < 300 and idx % 10 == 0) or time.time() - self.sample_time > self.sample_every_secs:
            self.sample_time = time.time()
            self.write_samples(step)
        if self.manager is not None and time.time() - self.save_time > self.checkpoint_every_secs:
            self.save_time = time.time()
            self.written.append(save_checkpoint(self.manager, self.model))

    def write_samples(self, step):
        samples = self.model.generate().numpy()
        if self.sample_dir:
            path = os.path.join(self.sample_dir, "train_%d.png" % step)
            self.written.append(save_image_grid(samples, (8, 8), path))
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.image("G", (samples[:16] + 1.0) / 2.0, max_outputs=16)
            self.writer.flush()
