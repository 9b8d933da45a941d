"""Cost of the Gaussian noise of one MNIST training iteration (about 1.5 million normals), by sampler.

The noise layers of the MNIST discriminator see a 300-row batch in the discriminator step and two 100-row
batches in the generator step, at widths 784, 1000, 500, 250, 250 and 250. Each sampler adds noise of
stddev 0.5 to all of them inside one ``tf.function``; times are the best of ``--rounds`` and are reported with
their ratio to the plain uniform draw (the random bits every sampler needs) measured in the same run. The CPU and
versions are printed first:

- ``improved_gan_tf2.layers.GaussianNoise``: Theano's Box-Muller on uniforms (what the scripts use);
- ``Box-Muller, one draw``: the same arithmetic on uniforms drawn in one call for the whole iteration and split
  (one Philox stream instead of one per layer and pass);
- ``keras.layers.GaussianNoise``: TensorFlow's normal sampler;
- ``ndtri``: the inverse normal CDF of uniforms;
- ``uniform``: uniforms only (not Gaussian; the floor);
- ``uniform, one draw``: the same uniforms in one call.

    python benchmarks/gaussian_noise.py [--rounds=7] [--repeats=30]
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from improved_gan_tf2.layers import GaussianNoise, box_muller_normal  # noqa: E402

from common import environment_lines  # noqa: E402

flags.DEFINE_integer("rounds", 7, "Timing rounds; the best counts.")
flags.DEFINE_integer("repeats", 30, "Iterations' worth of noise per round.")
FLAGS = flags.FLAGS

WIDTHS = (784, 1000, 500, 250, 250, 250)
ROWS = (300, 100, 100)


def main(argv):
    del argv
    inputs = [tf.zeros((rows, width)) for rows in ROWS for width in WIDTHS]
    draws = sum(int(x.shape[0] * x.shape[1]) for x in inputs)
    seed = keras.random.SeedGenerator(0)

    def each(noise):
        return lambda xs: [noise(x) for x in xs]

    def uniform(x):
        return x + keras.random.uniform(tf.shape(x), seed=seed)

    def ndtri(x):
        return x + 0.5 * tf.math.ndtri(keras.random.uniform(tf.shape(x), seed=seed) + 2.0 ** -24)

    def training(layer_class):
        layers = [layer_class(0.5, seed=i) for i in range(len(inputs))]
        return lambda xs: [layer(x, training=True) for layer, x in zip(layers, xs)]

    def one_draw(transform):
        def run(xs):
            halves = [(int(x.shape[0] * x.shape[1]) + 1) // 2 for x in xs]
            uniforms = keras.random.uniform((2, sum(halves)), seed=seed)
            starts = [sum(halves[:i]) for i in range(len(xs))]
            return [transform(x, uniforms[:, start:start + half]) for x, start, half in zip(xs, starts, halves)]
        return run

    samplers = {
        "improved_gan_tf2.layers.GaussianNoise": training(GaussianNoise),
        "Box-Muller, one draw": one_draw(lambda x, u: x + box_muller_normal(u, x.shape, 0.5)),
        "keras.layers.GaussianNoise": training(keras.layers.GaussianNoise),
        "ndtri": each(ndtri),
        "uniform": each(uniform),
        "uniform, one draw": one_draw(lambda x, u: x + tf.reshape(tf.reshape(u, [-1])[:int(x.shape[0] * x.shape[1])],
                                                                  x.shape)),
    }
    times = {}
    for name, sampler in samplers.items():
        run = tf.function(sampler)
        run(inputs)[0].numpy()
        times[name] = float("inf")
        for _ in range(FLAGS.rounds):
            begin = time.perf_counter()
            for _ in range(FLAGS.repeats):
                out = run(inputs)
            out[0].numpy()
            times[name] = min(times[name], (time.perf_counter() - begin) / FLAGS.repeats)
    for line in environment_lines():
        print(line)
    print(f"{draws / 1e6:.2f} million draws per iteration")
    print("| sampler | ms per iteration | ns per draw | / uniform draw |")
    print("| --- | --- | --- | --- |")
    for name, seconds in times.items():
        print(f"| {name} | {1000 * seconds:.2f} | {1e9 * seconds / draws:.2f} | {seconds / times['uniform']:.2f} |")


if __name__ == "__main__":
    app.run(main)
