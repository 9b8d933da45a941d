"""Training speed of the ImageNet GAN at full width: images per second through ImageNetGAN.fit.

One step is the original's: per replica, a reference batch and a live batch through the generator, the joint
real+generated batch through the discriminator, both players' gradients and Adam updates. Real images come from
a constant in-memory batch (no input pipeline), so this times the step itself:

    python benchmarks/imagenet_step.py [--steps 3] [--batch_size 16] [--gf_dim 64 --df_dim 64] [--image_width 128]

Prints the device, seconds per step, real images per second (per-replica batch x replicas / seconds per step),
an analytic estimate of the step's GFLOP and the rate that implies, and, for reference, the same process's dense
float32 matmul GFLOP/s. Last line: ``images_per_sec=<float>``.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from improved_gan_tf2 import cli, experiments  # noqa: E402

from common import device_name, forward_multiply_adds, matmul_gflops  # noqa: E402

EXPERIMENT = experiments.get_experiment("train_imagenet")
# the model's flags of imagenet/train_imagenet.py, with the same names and defaults
cli.define_flags([f for f in EXPERIMENT.flags
                  if f.name in ("batch_size", "towers", "gf_dim", "df_dim", "z_dim", "image_width", "strategy",
                                "jit_compile")])
flags.DEFINE_integer("steps", 3, "timed steps (after the warm-up)")
flags.DEFINE_integer("warmup", 1, "untimed steps first (tracing)")
flags.DEFINE_integer("matmul_size", 2048, "side of the reference matmul")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    from improved_gan_tf2 import training

    print("device: %s" % device_name(tf))
    strategy = training.make_strategy(FLAGS.strategy)
    replicas = strategy.num_replicas_in_sync
    gan = experiments.build_model(EXPERIMENT, dict(EXPERIMENT.default_flags(), **cli.flag_values()), strategy)
    image_size = FLAGS.image_width
    params = sum(int(np.prod(v.shape)) for v in gan.trainable_weights)
    rows = gan.towers_per_replica * FLAGS.batch_size  # real images per replica and step
    print("model: gf_dim=%d df_dim=%d z_dim=%d %dx%d, %.1fM trainable parameters; %d replica(s) x %d tower(s) x "
          "batch %d" % (FLAGS.gf_dim, FLAGS.df_dim, FLAGS.z_dim, image_size, image_size, params / 1e6, replicas,
                        gan.towers_per_replica, FLAGS.batch_size))

    rng = np.random.RandomState(0)
    images = rng.uniform(-1, 1, (rows, image_size, image_size, 3)).astype(np.float32)
    labels = rng.randint(0, 1000, rows).astype(np.int32)
    dataset = strategy.distribute_datasets_from_function(
        lambda context: tf.data.Dataset.from_tensors((images, labels)).repeat())

    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float(np.mean(np.asarray(logs["d_loss"])))  # waits for the step
            times.append(time.perf_counter() - self.start)

    gan.fit(dataset, epochs=1, steps_per_epoch=FLAGS.warmup + FLAGS.steps, verbose=0, callbacks=[Timer()],
            shuffle=False)
    timed = times[FLAGS.warmup:]
    sec_per_step = float(np.mean(timed))
    images_per_sec = rows * replicas / sec_per_step

    b = FLAGS.batch_size
    # multiply-adds x 2 for 2 * b rows: reference + live rows through G, real + generated rows through D
    g_forward = float(2 * forward_multiply_adds(gan.generator.network)) * (2 * b)
    d_forward = float(2 * forward_multiply_adds(gan.discriminator)) * (2 * b)
    # forward of both; d_loss backward through D (~2x); g_loss backward through D and G (~2x each)
    step_gflop = (3 * g_forward + 5 * d_forward) * replicas * gan.towers_per_replica / 1e9
    matmul = matmul_gflops(tf, FLAGS.matmul_size)
    print("warm-up step: %.2f s; timed steps: %s s" % (times[0], ", ".join("%.2f" % t for t in timed)))
    print("sec/step: %.3f" % sec_per_step)
    print("real images/s: %.2f (each tower also generates %d and runs %d reference rows)" % (images_per_sec, b, b))
    print("approx. GFLOP/step (convolutions and dense layers, forward + backward): %.1f -> %.1f GFLOP/s"
          % (step_gflop, step_gflop / sec_per_step))
    print("dense float32 matmul %dx%d in this process: %.1f GFLOP/s" % (FLAGS.matmul_size, FLAGS.matmul_size, matmul))
    print("images_per_sec=%.4f" % images_per_sec)


if __name__ == "__main__":
    app.run(main)
