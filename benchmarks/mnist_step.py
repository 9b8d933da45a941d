"""Speed of one MNIST training iteration (discriminator step + generator step) at batch 100.

Prints steps per second, the analytic GFLOP of one step, the achieved GFLOP/s and, measured in the same
process, the machine's dense float32 matmul GFLOP/s, for the train step as ``fit`` runs it (a ``tf.function``)
with the discriminator's three batches in one joint pass or in three, each without and with XLA. It also times
the step's own matrix products alone, back to back in one ``tf.function``: that rate bounds what the whole step
can reach. The last line is the default configuration (joint pass, no XLA):

    steps_per_sec=<float> achieved_over_matmul=<float>

Analytic count: the multiply-adds of the matrix products one iteration needs, times 2. With batch ``B``, ``F_d``
the multiply-adds of one example through the discriminator, ``F_1`` those of its first layer, ``F_f`` those up to
the feature layer (all but the logits layer), ``F_g`` and ``G_1`` the same for the generator:

- discriminator step: ``3B`` examples forward (``F_d``), the weight gradients (``F_d``) and the input gradients
  of every layer but the first (``F_d - F_1``; nothing needs the gradient of the images); ``B`` generated
  samples (``F_g``);
- generator step: ``B`` samples (``F_g``); the real and the generated batch forward to the features, in two
  passes (``2B F_f``);
  back through the discriminator for the generated batch (``B F_f``); the generator's weight gradients (``F_g``)
  and input gradients but the first layer's (``F_g - G_1``).

The dense matmul rate is the best of a 2048-cube product alone and two of them side by side, so it uses both
cores whatever the threading. ``--steps`` sets the timed steps per configuration (after warm-up steps).

The overhead ratio: the default step and its products alone, timed in alternation (``--ratio_rounds`` rounds of
``--steps`` calls each, so that a shared machine's load falls on both alike), the ratio taken within each round;
printed as the median with its range, in wall time and in CPU time (the process's, all threads: on a loaded
machine it moves less than wall time). 1 would mean nothing but the products. The last line::

    steps_per_sec=<float> achieved_over_matmul=<float> overhead_ratio=<median wall-time step / products alone>

    python benchmarks/mnist_step.py [--steps=30] [--batch_size=100] [--rounds=3] [--ratio_rounds=15] [--nojit]
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from improved_gan_tf2 import experiments  # noqa: E402
from improved_gan_tf2.optimizers import OriginalAdam  # noqa: E402

from common import Interleaved, environment_lines  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags (defined only when the script runs, so that other benchmarks can import its
    functions)."""
    flags.DEFINE_integer("steps", 30, "Timed train steps per configuration and round (after warm-up steps).")
    flags.DEFINE_integer("batch_size", 100, "Batch size (the original's 100).")
    flags.DEFINE_integer("matmul_size", 2048, "Size n of the n x n x n matmul that measures the machine's rate.")
    flags.DEFINE_integer("rounds", 3, "Timing rounds; each configuration reports its best round, and the matmul rate "
                                      "is the best measured between rounds (the machine is shared and noisy).")
    flags.DEFINE_integer("ratio_rounds", 15, "Alternating rounds of the default step and its products alone for the "
                                             "overhead ratio.")
    flags.DEFINE_boolean("jit", True, "Also time the step compiled whole by XLA (slow on CPUs: --nojit skips it).")


def kernel_shapes(model):
    """``(inputs, units)`` of the model's dense kernels, in layer order."""
    return [tuple(int(d) for d in w.shape) for w in model.trainable_weights if len(w.shape) == 2]


def step_matmuls(discriminator, generator, batch):
    """``(m, k, n, transpose_a, transpose_b)`` of every matrix product one iteration needs (see the docstring)."""
    disc, gen = kernel_shapes(discriminator), kernel_shapes(generator)
    products = []
    for rows in (batch, batch):  # samples for the discriminator step, then the generator step's own
        products += [(rows, k, n, False, False) for k, n in gen]
    products += [(3 * batch, k, n, False, False) for k, n in disc]  # joint forward pass
    products += [(k, 3 * batch, n, True, False) for k, n in disc]  # weight gradients
    products += [(3 * batch, n, k, False, True) for k, n in disc[1:]]  # input gradients
    features = disc[:-1]
    for _ in ("real", "generated"):  # two passes to the features
        products += [(batch, k, n, False, False) for k, n in features]
    products += [(batch, n, k, False, True) for k, n in features]  # back to the generated images
    products += [(k, batch, n, True, False) for k, n in gen]  # generator weight gradients
    products += [(batch, n, k, False, True) for k, n in gen[1:]]  # generator input gradients
    return products


def analytic_gflop(discriminator, generator, batch):
    return sum(2.0 * m * k * n for m, k, n, _, _ in step_matmuls(discriminator, generator, batch)) / 1e9


class MatmulRate:
    """Dense float32 matmul GFLOP/s: the best of one n-cube product and two side by side."""

    def __init__(self, n):
        self.n = n
        self.a, self.b = tf.random.normal((n, n)), tf.random.normal((n, n))
        self.one = tf.function(lambda a: tf.matmul(a, a))
        self.two = tf.function(lambda a, b: tf.matmul(a, a)[0, 0] + tf.matmul(b, b)[0, 0])
        self.best = 0.0
        self.measure()

    def measure(self, repeats=8):
        self.one(self.a).numpy()
        self.two(self.a, self.b).numpy()
        begin = time.perf_counter()
        for _ in range(repeats):
            result = self.one(self.a)
        result.numpy()
        one = 2.0 * self.n ** 3 * repeats / (time.perf_counter() - begin) / 1e9
        begin = time.perf_counter()
        for _ in range(repeats // 2):
            result = self.two(self.a, self.b)
        result.numpy()
        two = 2.0 * 2 * self.n ** 3 * (repeats // 2) / (time.perf_counter() - begin) / 1e9
        self.best = max(self.best, one, two)
        return self.best


def make_step(joint, jit_compile, batch_size, optimizer=OriginalAdam):
    """The train step of ``train_mnist_feature_matching`` on fixed random data, warmed up; returns ``(run, gan)``
    where ``run(steps)`` times ``steps`` steps and returns steps per second. ``optimizer(learning_rate)`` makes
    each player's optimizer."""
    keras.utils.set_random_seed(0)
    experiment = experiments.get_experiment("train_mnist_feature_matching")
    flags = dict(experiment.default_flags(), seed=0, batch_size=batch_size)
    gan = experiments.build_model(experiment, flags, optimizer=optimizer, joint_discriminator_pass=joint)
    rng = np.random.RandomState(0)
    data = tuple(tf.constant(a) for a in (
        rng.rand(batch_size, 784).astype(np.float32), rng.randint(0, 10, batch_size).astype(np.int32),
        rng.rand(batch_size, 784).astype(np.float32), rng.rand(batch_size, 784).astype(np.float32)))
    gan.initialize(data[0], batch_size)
    step = tf.function(gan.train_step, jit_compile=jit_compile)  # what fit runs, as one compiled function
    for _ in range(3):
        logs = step(data)
    float(logs["loss_lab"])

    def run(steps):
        begin = time.perf_counter()
        for _ in range(steps):
            logs = step(data)
        float(logs["loss_lab"])
        return steps / (time.perf_counter() - begin)

    return run, gan


def make_matmuls_alone(products):
    operands = []
    for m, k, n, transpose_a, transpose_b in products:
        operands.append((tf.random.normal((k, m) if transpose_a else (m, k)),
                         tf.random.normal((n, k) if transpose_b else (k, n)), transpose_a, transpose_b))

    @tf.function
    def matmuls():
        return tf.add_n([tf.matmul(a, b, transpose_a=ta, transpose_b=tb)[0, 0] for a, b, ta, tb in operands])

    matmuls().numpy()

    def run(steps):
        begin = time.perf_counter()
        for _ in range(steps):
            result = matmuls()
        result.numpy()
        return steps / (time.perf_counter() - begin)

    return run


def main(argv):
    del argv
    batch = FLAGS.batch_size
    matmul = MatmulRate(FLAGS.matmul_size)
    configurations = {(joint, jit): make_step(joint, jit, batch)
                      for joint in (True, False) for jit in ((False, True) if FLAGS.jit else (False,))}
    gan = configurations[True, False][1]
    gflop = analytic_gflop(gan.discriminator, gan.generator, batch)
    products = step_matmuls(gan.discriminator, gan.generator, batch)
    alone = make_matmuls_alone(products)
    rates = {key: 0.0 for key in configurations}
    alone_rate = 0.0
    for _ in range(FLAGS.rounds):
        for key, (run, _) in configurations.items():
            rates[key] = max(rates[key], run(FLAGS.steps))
            matmul.measure()
        alone_rate = max(alone_rate, alone(FLAGS.steps))
        matmul.measure()
    step = configurations[True, False][0]
    timing = Interleaved({"step": step, "alone": alone}, FLAGS.steps).rounds(FLAGS.ratio_rounds)
    rate = matmul.best
    f_d = sum(k * n for k, n in kernel_shapes(gan.discriminator))
    f_g = sum(k * n for k, n in kernel_shapes(gan.generator))
    for line in environment_lines():
        print(line)
    print(f"discriminator {f_d / 1e6:.3f} M multiply-adds/example, generator {f_g / 1e6:.3f} M; "
          f"analytic GFLOP per step at batch {batch}: {gflop:.3f}")
    print(f"dense matmul ({FLAGS.matmul_size}^3, float32): {rate:.1f} GFLOP/s")
    print(f"the step's {len(products)} matrix products alone: "
          f"{1000 / alone_rate:.1f} ms, {alone_rate * gflop:.1f} GFLOP/s, {alone_rate * gflop / rate:.3f} of matmul "
          f"(the most the whole step can reach)")
    print("| discriminator passes | XLA | steps/s | ms/step | achieved GFLOP/s | achieved / matmul |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (joint, jit), steps_per_sec in rates.items():
        print(f"| {'joint (1 pass)' if joint else 'separate (3 passes)'} | {'on' if jit else 'off'} | "
              f"{steps_per_sec:.2f} | {1000 / steps_per_sec:.1f} | {steps_per_sec * gflop:.1f} | "
              f"{steps_per_sec * gflop / rate:.3f} |")
    print(f"overhead ratio, {FLAGS.ratio_rounds} alternating rounds of {FLAGS.steps} calls (median [min-max]):")
    for clock in ("wall", "cpu"):
        (s_med, s_min, s_max), (a_med, a_min, a_max) = timing.ms("step", clock), timing.ms("alone", clock)
        r_med, r_min, r_max = timing.ratio("step", "alone", clock)
        print(f"  {clock:4s} time: step {s_med:.1f} ms [{s_min:.1f}-{s_max:.1f}], products alone {a_med:.1f} ms "
              f"[{a_min:.1f}-{a_max:.1f}], step / products alone {r_med:.2f} [{r_min:.2f}-{r_max:.2f}]")
    default = rates[True, False]
    print(f"steps_per_sec={default:.3f} achieved_over_matmul={default * gflop / rate:.3f} "
          f"overhead_ratio={timing.ratio('step', 'alone')[0]:.3f}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
