"""Where the time of one MNIST training iteration goes: the step of ``benchmarks/mnist_step.py`` (joint pass, no
XLA, batch 100) timed with parts of it switched off, each variant in a fresh process so that nothing leaks from
one to the next. A variant is not a training setup: it only measures what the part costs.

    full          the step as ``fit`` runs it
    no_noise      the discriminator's Gaussian noise layers pass their input through
    sgd           keras.optimizers.SGD instead of OriginalAdam for both players
    no_average    no parameter-average update
    no_norm       weight-normalized layers use their kernel as is (no norm, forward or backward)

Prints one line per variant (best of ``--rounds`` rounds of ``--steps`` steps), then the matmul rate measured in
the same processes::

    python benchmarks/mnist_step_breakdown.py [--variants=full,no_noise,no_noise+sgd,...] [--steps=30] [--rounds=5]
"""
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = ("full", "no_noise", "sgd", "no_average", "no_norm", "no_noise+sgd+no_average",
            "no_noise+sgd+no_average+no_norm")


def time_variant(parts, steps, rounds):
    """Runs in a child process: builds the MNIST GAN with ``parts`` switched off and returns ms per step."""
    import keras
    import numpy as np
    import tensorflow as tf

    from improved_gan_tf2 import layers, optimizers
    from improved_gan_tf2.models.semi_supervised import SemiSupervisedGAN
    from improved_gan_tf2.networks.mnist import mnist_discriminator, mnist_generator

    if "no_noise" in parts:
        layers.GaussianNoise.call = lambda self, inputs, training=None: inputs
    if "no_average" in parts:
        optimizers.ParameterAverage.update = lambda self: None
    if "no_norm" in parts:
        layers.WeightNormDense.kernel_scales = lambda self: tf.convert_to_tensor(self.scale)
    keras.utils.set_random_seed(0)
    gan = SemiSupervisedGAN(mnist_generator(), mnist_discriminator(), seed=0)
    optimizer = (lambda: keras.optimizers.SGD(0.003)) if "sgd" in parts else (lambda: optimizers.OriginalAdam(0.003))
    gan.compile(optimizer(), optimizer())
    rng = np.random.RandomState(0)
    data = tuple(tf.constant(a) for a in (
        rng.rand(100, 784).astype(np.float32), rng.randint(0, 10, 100).astype(np.int32),
        rng.rand(100, 784).astype(np.float32), rng.rand(100, 784).astype(np.float32)))
    gan.initialize(data[0], 100)
    step = tf.function(gan.train_step)
    for _ in range(3):
        logs = step(data)
    float(logs["loss_lab"])
    a = tf.random.normal((2048, 2048))
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    best_step, best_matmul = float("inf"), 0.0
    for _ in range(rounds):
        begin = time.perf_counter()
        for _ in range(steps):
            logs = step(data)
        float(logs["loss_lab"])
        best_step = min(best_step, (time.perf_counter() - begin) / steps)
        begin = time.perf_counter()
        for _ in range(5):
            product = matmul(a)
        product.numpy()
        best_matmul = max(best_matmul, 2.0 * 2048 ** 3 * 5 / (time.perf_counter() - begin) / 1e9)
    return {"ms": 1000 * best_step, "matmul": best_matmul}


def main():
    from absl import app, flags

    flags.DEFINE_list("variants", list(VARIANTS), "Variants to time, comma-separated; '+' joins parts switched "
                                                  "off together (no_noise+sgd).")
    flags.DEFINE_integer("steps", 30, "Timed steps per round.")
    flags.DEFINE_integer("rounds", 5, "Rounds per variant; the best counts.")

    def run(argv):
        del argv
        FLAGS = flags.FLAGS
        variants = FLAGS.variants
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        rates = []
        for variant in variants:
            parts = [p for p in variant.split("+") if p != "full"]
            unknown = set(parts) - {"no_noise", "sgd", "no_average", "no_norm"}
            if unknown:
                raise app.UsageError(f"unknown part(s) {sorted(unknown)} in --variants; parts: no_noise, sgd, "
                                     "no_average, no_norm (or full)")
            code = (f"import json, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                    f"import mnist_step_breakdown as b; "
                    f"print('RESULT', json.dumps(b.time_variant({parts!r}, {FLAGS.steps}, {FLAGS.rounds})))")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
            result = json.loads(out.stdout.split("RESULT", 1)[1])
            rates.append(result["matmul"])
            print(f"{variant:36s} {result['ms']:6.1f} ms/step", flush=True)
        print(f"dense matmul (2048^3, float32), best in those processes: {max(rates):.1f} GFLOP/s")

    app.run(run)


if __name__ == "__main__":
    main()
