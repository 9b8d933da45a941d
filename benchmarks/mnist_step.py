"""Speed of one MNIST training iteration (discriminator step + generator step) at batch 100.

Prints steps per second, the analytic GFLOP of one step, the achieved GFLOP/s and, measured in the same
process, the machine's dense float32 matmul GFLOP/s, for the train step as ``fit`` runs it (a ``tf.function``)
with the discriminator's three batches in one joint pass or in three, each without and with XLA. The last line
is the default configuration (joint pass, no XLA):

    steps_per_sec=<float> achieved_over_matmul=<float>

Analytic count (multiply-adds x 2): with F_d and F_g the multiply-adds of one example through the discriminator
and the generator, a step is 100 F_g (samples for the discriminator) + 3 x 300 F_d (forward and backward on the
labelled, unlabelled and generated batches) + 3 x 100 F_g (generator forward and backward) + 200 F_d
(features of the real and generated batches) + 100 F_d (back through the discriminator to the generated batch).

    python benchmarks/mnist_step.py [--steps=30] [--batch_size=100]
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from improved_gan_tf2.models.semi_supervised import SemiSupervisedGAN  # noqa: E402
from improved_gan_tf2.networks.mnist import mnist_discriminator, mnist_generator  # noqa: E402
from improved_gan_tf2.optimizers import OriginalAdam  # noqa: E402

flags.DEFINE_integer("steps", 30, "Timed train steps per configuration (after warm-up steps).")
flags.DEFINE_integer("batch_size", 100, "Batch size (the original's 100).")
flags.DEFINE_integer("matmul_size", 2048, "Size n of the n x n x n matmul that measures the machine's rate.")
FLAGS = flags.FLAGS


def multiply_adds(model):
    """Multiply-adds of one example through the model's dense kernels."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights if len(w.shape) == 2)


def matmul_gflops(n, repeats=10):
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    run = tf.function(lambda x, y: tf.matmul(x, y))
    run(a, b).numpy()
    begin = time.perf_counter()
    for _ in range(repeats):
        result = run(a, b)
    result.numpy()
    return 2.0 * n ** 3 * repeats / (time.perf_counter() - begin) / 1e9


def time_steps(joint, jit_compile, batch_size, steps):
    keras.utils.set_random_seed(0)
    gan = SemiSupervisedGAN(mnist_generator(), mnist_discriminator(), joint_discriminator_pass=joint, seed=0)
    gan.compile(OriginalAdam(0.003), OriginalAdam(0.003))
    rng = np.random.RandomState(0)
    data = tuple(tf.constant(a) for a in (
        rng.rand(batch_size, 784).astype(np.float32), rng.randint(0, 10, batch_size).astype(np.int32),
        rng.rand(batch_size, 784).astype(np.float32), rng.rand(batch_size, 784).astype(np.float32)))
    gan.initialize(data[0], batch_size)
    step = tf.function(gan.train_step, jit_compile=jit_compile)  # what fit runs, as one compiled function
    for _ in range(3):
        logs = step(data)
    float(logs["loss_lab"])
    begin = time.perf_counter()
    for _ in range(steps):
        logs = step(data)
    float(logs["loss_lab"])
    return steps / (time.perf_counter() - begin), gan


def main(argv):
    del argv
    batch = FLAGS.batch_size
    matmul_before = matmul_gflops(FLAGS.matmul_size)
    results = {}
    for joint in (True, False):
        for jit in (False, True):
            results[joint, jit], gan = time_steps(joint, jit, batch, FLAGS.steps)
    matmul = max(matmul_before, matmul_gflops(FLAGS.matmul_size))
    f_d, f_g = multiply_adds(gan.discriminator), multiply_adds(gan.generator)
    gflop = 2.0 * (batch * f_g + 3 * 3 * batch * f_d + 3 * batch * f_g + 2 * batch * f_d + batch * f_d) / 1e9
    print(f"device: {tf.config.list_logical_devices()[0].name} ({os.cpu_count()} CPU cores visible); "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"discriminator {f_d / 1e6:.3f} M multiply-adds/example, generator {f_g / 1e6:.3f} M; "
          f"analytic GFLOP per step at batch {batch}: {gflop:.3f}")
    print(f"dense matmul ({FLAGS.matmul_size}^3, float32): {matmul:.1f} GFLOP/s")
    print("| discriminator passes | XLA | steps/s | ms/step | achieved GFLOP/s | achieved / matmul |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (joint, jit), rate in results.items():
        print(f"| {'joint (1 pass)' if joint else 'separate (3 passes)'} | {'on' if jit else 'off'} | {rate:.2f} | "
              f"{1000 / rate:.1f} | {rate * gflop:.1f} | {rate * gflop / matmul:.3f} |")
    default = results[True, False]
    print(f"steps_per_sec={default:.3f} achieved_over_matmul={default * gflop / matmul:.3f}")


if __name__ == "__main__":
    app.run(main)
