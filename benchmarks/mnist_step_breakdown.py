"""Where the time of one MNIST training iteration goes: the step of ``benchmarks/mnist_step.py`` (joint pass, no
XLA, batch 100) with parts of it switched off or replaced, every variant built in one process (a part is switched
when the step is traced) and all of them timed in alternation with the step's matrix products alone, so that a
shared machine's load falls on all alike. A variant is not a training setup: it only measures what a part costs.

    full                    the step as ``fit`` runs it
    no_noise                the discriminator's Gaussian noise layers pass their input through
    sgd                     keras.optimizers.SGD instead of OriginalAdam for both players
    no_average              no parameter-average update
    no_norm                 weight-normalized layers use their kernel as is (no norm, forward or backward)
    autodiff_norm           the norm's gradient as TensorFlow's autodiff makes it (the version before 48603c0..
                            issue #26's: broadcast, doubled kernel and product, three kernel-sized arrays)
    per_parameter_updates   OriginalAdam and the parameter average as one XLA computation per parameter (before)
    norm_per_pass           the discriminator's weight norms computed in every pass of the generator update,
                            not held once for all of them (before; ``layers.held_weight_norms``)

``+`` joins parts (``no_noise+sgd``). Prints, per variant, the median milliseconds per step in wall and in CPU
time (the process's, all threads) with their range over the rounds, and the median ratio to the products alone
measured in the same rounds::

    python benchmarks/mnist_step_breakdown.py [--variants=full,no_noise,...] [--steps=10] [--rounds=15]

The last line: ``<first variant>_over_products=<median wall-time ratio>``.
"""
import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags  # noqa: E402

PARTS = ("no_noise", "sgd", "no_average", "no_norm", "autodiff_norm", "per_parameter_updates", "norm_per_pass")
VARIANTS = ("full", "no_noise", "sgd+no_average", "no_norm", "no_noise+sgd+no_average",
            "no_noise+sgd+no_average+no_norm", "norm_per_pass", "autodiff_norm+per_parameter_updates+norm_per_pass")

flags.DEFINE_list("variants", list(VARIANTS), "Variants to time, comma-separated; '+' joins parts (parts: "
                                              + ", ".join(PARTS) + "; or full).")
flags.DEFINE_integer("steps", 10, "Steps per variant and round.")
flags.DEFINE_integer("rounds", 15, "Alternating rounds; medians and ranges are over them.")
FLAGS = flags.FLAGS


@contextlib.contextmanager
def switched(parts):
    """Within the block, the library computes without (or with the earlier version of) ``parts``."""
    import tensorflow as tf

    from improved_gan_tf2 import layers, optimizers
    from improved_gan_tf2.layers import weight_norm
    from improved_gan_tf2.models import semi_supervised

    saved = [(layers.GaussianNoise, "call"), (optimizers.ParameterAverage, "update"), (weight_norm, "_normalizing_factors"),
             (semi_supervised, "held_weight_norms")]
    saved = [(owner, name, owner.__dict__[name]) for owner, name in saved]
    adam_step = optimizers.OriginalAdam.__dict__["_backend_update_step"]
    if "no_noise" in parts:
        layers.GaussianNoise.call = lambda self, inputs, training=None: inputs
    if "no_average" in parts:
        optimizers.ParameterAverage.update = tf.autograph.experimental.do_not_convert(lambda self: None)
    elif "per_parameter_updates" in parts:
        def update(self):
            for variable, average in zip(self._variables, self.averages):
                optimizers._moving_average_updates([average], [tf.convert_to_tensor(variable)],
                                                   tf.constant(self.rate, average.dtype))
        optimizers.ParameterAverage.update = update
    if "per_parameter_updates" in parts:
        del optimizers.OriginalAdam._backend_update_step  # Keras's: update_step per variable
    if "norm_per_pass" in parts:
        semi_supervised.held_weight_norms = lambda model: contextlib.nullcontext()
    if "no_norm" in parts:
        weight_norm._normalizing_factors = lambda kernel, scale, epsilon, axes: scale
    elif "autodiff_norm" in parts:
        weight_norm._normalizing_factors = lambda kernel, scale, epsilon, axes: scale / tf.sqrt(
            epsilon + tf.reduce_sum(tf.square(kernel), axis=axes))
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
        optimizers.OriginalAdam._backend_update_step = adam_step


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    from improved_gan_tf2 import optimizers

    from common import Interleaved, environment_lines
    from mnist_step import make_matmuls_alone, make_step, step_matmuls

    tf.get_logger().setLevel("ERROR")  # each variant is a model and a tf.function of its own: no retracing warning
    functions = {}
    for variant in FLAGS.variants:
        parts = [p for p in variant.split("+") if p != "full"]
        unknown = set(parts) - set(PARTS)
        if unknown:
            raise app.UsageError(f"unknown part(s) {sorted(unknown)} in --variants; parts: {', '.join(PARTS)} "
                                 "(or full)")
        with switched(parts):  # the step is traced (and warmed up) inside make_step
            run, gan = make_step(joint=True, jit_compile=False, batch_size=100,
                                 optimizer=keras.optimizers.SGD if "sgd" in parts else optimizers.OriginalAdam)
        functions[variant] = run
    functions["products alone"] = make_matmuls_alone(step_matmuls(gan.discriminator, gan.generator, 100))
    timing = Interleaved(functions, FLAGS.steps).rounds(FLAGS.rounds)
    for line in environment_lines():
        print(line)
    print(f"{FLAGS.rounds} alternating rounds of {FLAGS.steps} steps; median [min-max]")
    print("| variant | wall ms/step | CPU ms/step | wall / products alone | CPU / products alone |")
    print("| --- | --- | --- | --- | --- |")
    for name in functions:
        cells = []
        for kind in ("ms", "ratio"):
            for clock in ("wall", "cpu"):
                med, low, high = (timing.ms(name, clock) if kind == "ms"
                                  else timing.ratio(name, "products alone", clock))
                cells.append(f"{med:.1f} [{low:.1f}-{high:.1f}]" if kind == "ms" else
                             f"{med:.2f} [{low:.2f}-{high:.2f}]")
        print(f"| {name} | " + " | ".join(cells) + " |")
    first = FLAGS.variants[0]
    print(f"{first}_over_products={timing.ratio(first, 'products alone')[0]:.3f}")


if __name__ == "__main__":
    app.run(main)
