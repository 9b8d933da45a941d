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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = ("full", "no_noise", "sgd", "no_average", "no_norm", "no_noise+sgd+no_average",
            "no_noise+sgd+no_average+no_norm")


def time_variant(parts, steps, rounds):
    """Runs in a child process: the step of ``mnist_step.make_step`` with ``parts`` switched off; returns its
    best ms per step and the best matmul rate measured between its rounds."""
    import keras
    import tensorflow as tf

    from improved_gan_tf2 import layers, optimizers
    from mnist_step import MatmulRate, make_step

    if "no_noise" in parts:
        layers.GaussianNoise.call = lambda self, inputs, training=None: inputs
    if "no_average" in parts:
        optimizers.ParameterAverage.update = lambda self: None
    if "no_norm" in parts:
        layers.WeightNormDense.kernel_scales = lambda self: tf.convert_to_tensor(self.scale)
    optimizer = keras.optimizers.SGD if "sgd" in parts else optimizers.OriginalAdam
    run, _ = make_step(joint=True, jit_compile=False, batch_size=100, optimizer=optimizer)
    matmul = MatmulRate(2048)
    steps_per_sec = 0.0
    for _ in range(rounds):
        steps_per_sec = max(steps_per_sec, run(steps))
        matmul.measure()
    return {"ms": 1000 / steps_per_sec, "matmul": matmul.best}


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
