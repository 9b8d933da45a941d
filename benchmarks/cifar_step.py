"""Speed of one training step of the CIFAR-10 feature-matching model (``train_cifar_feature_matching.py``'s
``SemiSupervisedGAN.train_step`` at full width), against the same process's dense matmul rate:

    python benchmarks/cifar_step.py [--batch_size 100] [--steps 3] [--jit_compile] [--mixed_precision]

One step is the original loop's iteration: a discriminator update on a labelled, an unlabelled and a generated
batch, the parameter average, and a feature-matching generator update. Its analytic cost counts the
multiply-adds of the convolutions, deconvolutions and dense layers (elementwise work is left out), as
FLOPs = 2 x multiply-adds, with these passes per step (B = batch size, G and D = one example's forward
multiply-adds through the generator and the discriminator):

- discriminator update: generator forward on B (G B), discriminator forward on 3 B (3 D B) and its backward
  for the weight and input gradients (2 x 3 D B);
- generator update: generator forward (G B), discriminator forward on the generated and the second unlabelled
  batch (2 D B), input gradients back through the discriminator for the generated batch (D B), and the
  generator's backward (2 G B).

In all ``2 B (4 G + 12 D)`` FLOPs. The reference rate is a float32 (or, with ``--mixed_precision``, bfloat16)
``tf.matmul`` of two ``--matmul_size`` square matrices on the same device. The last line is
``steps_per_sec=<float> achieved_over_matmul=<float>``.

``--mixed_precision`` sets Keras's ``mixed_bfloat16`` policy: layers compute in bfloat16 and keep float32
variables; the networks' outputs (images, features, logits) stay float32. ``mixed_float16`` is not offered:
without loss scaling, which ``SemiSupervisedGAN``'s hand-written steps do not do, float16 gradients underflow.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from common import device_name, environment_lines, forward_multiply_adds, matmul_gflops  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags (defined only when the script runs, so that other benchmarks can import its
    functions)."""
    flags.DEFINE_integer("batch_size", 100, "batch size (the original's 100)")
    flags.DEFINE_integer("steps", 3, "timed steps after the warm-up step")
    flags.DEFINE_integer("repeats", 2, "timed runs of --steps steps; the best is kept")
    flags.DEFINE_boolean("jit_compile", False, "compile the train step with XLA")
    flags.DEFINE_boolean("mixed_precision", False, "Keras mixed_bfloat16 policy (bfloat16 compute, float32 variables)")
    flags.DEFINE_float("width_scale", 1.0, "multiplies every layer width (1: the original networks)")
    flags.DEFINE_integer("matmul_size", 2048, "side of the square matrices of the reference matmul")


def make_step(batch_size, width_scale=1.0, jit_compile=False):
    """The train step of ``train_cifar_feature_matching`` on fixed random data (after the data-dependent init),
    as ``fit`` runs it (one ``tf.function``), not yet traced; returns ``(run, gan, step, data)`` where
    ``run(steps)`` runs ``steps`` steps and waits for the last."""
    import tensorflow as tf

    from improved_gan_tf2 import experiments

    experiment = experiments.get_experiment("train_cifar_feature_matching")
    gan = experiments.build_model(experiment, dict(experiment.default_flags(), width_scale=width_scale,
                                                   batch_size=batch_size, seed=1))
    rng = np.random.RandomState(0)
    images = lambda n: tf.constant(rng.uniform(-1, 1, (n, 32, 32, 3)).astype(np.float32))  # noqa: E731
    gan.initialize(images(min(500, 5 * batch_size)), batch_size)
    data = (images(batch_size), tf.constant(rng.randint(0, 10, batch_size).astype(np.int32)), images(batch_size),
            images(batch_size))
    step = tf.function(gan.train_step, jit_compile=jit_compile)

    def run(steps):
        for _ in range(steps):
            logs = step(data)
        float(logs["loss_lab"])

    return run, gan, step, data


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    if FLAGS.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    for line in environment_lines():
        print(line)
    print("device: %s" % device_name(tf))
    print("batch_size=%d jit_compile=%s mixed_precision=%s width_scale=%g"
          % (FLAGS.batch_size, FLAGS.jit_compile, FLAGS.mixed_precision, FLAGS.width_scale))
    b = FLAGS.batch_size
    _, gan, step, data = make_step(b, FLAGS.width_scale, FLAGS.jit_compile)

    g_macs, d_macs = forward_multiply_adds(gan.generator), forward_multiply_adds(gan.discriminator)
    gflop_per_step = 2 * b * (4 * g_macs + 12 * d_macs) / 1e9
    print("forward multiply-adds per example: generator %.1f M, discriminator %.1f M"
          % (g_macs / 1e6, d_macs / 1e6))
    print("analytic GFLOP per step: %.1f" % gflop_per_step)

    matmul_dtype = tf.bfloat16 if FLAGS.mixed_precision else tf.float32
    matmul_before = matmul_gflops(tf, FLAGS.matmul_size, matmul_dtype)
    start = time.perf_counter()
    float(step(data)["loss_lab"])  # trace, compile, first step
    print("first step (with tracing%s): %.1fs" % (" and XLA compilation" if FLAGS.jit_compile else "",
                                                 time.perf_counter() - start))
    best = float("inf")
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        for _ in range(FLAGS.steps):
            logs = step(data)
        float(logs["loss_lab"])
        best = min(best, time.perf_counter() - start)
    steps_per_sec = FLAGS.steps / best
    achieved = gflop_per_step * steps_per_sec
    # the device's rate, measured before and after the steps (the better of the two, as for the steps)
    matmul = max(matmul_before, matmul_gflops(tf, FLAGS.matmul_size, matmul_dtype))
    print("steps/s: %.4f (%.2f s per step)" % (steps_per_sec, 1.0 / steps_per_sec))
    print("achieved GFLOP/s: %.2f" % achieved)
    print("dense matmul GFLOP/s (%s, %d x %d): %.2f"
          % ("bfloat16" if FLAGS.mixed_precision else "float32", FLAGS.matmul_size, FLAGS.matmul_size, matmul))
    print("steps_per_sec=%.6f achieved_over_matmul=%.4f" % (steps_per_sec, achieved / matmul))


if __name__ == "__main__":
    define_flags()
    app.run(main)
