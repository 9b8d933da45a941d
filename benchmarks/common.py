"""What the benchmarks share: the device's name and the same process's dense matmul rate, the yardstick every
benchmark reports its figures against (the machines are shared and noisy, so only ratios measured in one run
compare)."""
import os
import time


def device_name(tf):
    """The first GPU's name, or the CPU model and the number of cores visible."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
        return "%d x %s" % (len(names), names[0])
    model = ""
    try:
        with open("/proc/cpuinfo") as stream:
            model = next((line.split(":", 1)[1].strip() for line in stream if line.startswith("model name")), "")
    except OSError:
        pass
    return f"CPU {model} ({len(os.sched_getaffinity(0))} cores visible)".replace("  ", " ")


def matmul_gflops(tf, size, dtype=None, repeats=5):
    """GFLOP/s of a chain of four ``size``-cube matrix products in ``dtype`` (float32 by default), the best of
    ``repeats`` runs after a warm-up."""
    dtype = dtype or tf.float32
    a = tf.random.normal((size, size), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)

    @tf.function
    def chain(x, y):
        for _ in range(4):
            x = tf.matmul(x, y) * tf.cast(1.0 / size, dtype)
        return x

    float(tf.reduce_sum(tf.cast(chain(a, b), tf.float32)))  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        float(tf.reduce_sum(tf.cast(chain(a, b), tf.float32)))
        best = min(best, time.perf_counter() - start)
    return 4 * 2 * size ** 3 / best / 1e9


def forward_multiply_adds(model):
    """Multiply-adds of one example's forward pass through ``model``'s convolutions (``WeightNormConv2D``, Keras
    ``Conv2D``), transposed convolutions (``Deconv2D``, ``WeightNormConv2DTranspose``), dense layers
    (``WeightNormDense``, Keras ``Dense``) and minibatch-discrimination layers (both kinds)."""
    import math

    import keras

    from improved_gan_tf2 import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, (layers.WeightNormConv2D, keras.layers.Conv2D)):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * c * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, (layers.Deconv2D, layers.WeightNormConv2DTranspose)):
            _, h, w, c = layer.input.shape  # each input pixel scatters a k x k x out patch
            kh, kw = layer.kernel_size
            total += h * w * c * kh * kw * layer.filters
        elif isinstance(layer, (layers.WeightNormDense, keras.layers.Dense)):
            spatial = math.prod(layer.output.shape[1:-1]) if len(layer.output.shape) > 2 else 1
            total += spatial * layer.input.shape[-1] * layer.output.shape[-1]
        elif isinstance(layer, (layers.MinibatchDiscrimination, layers.HalvedMinibatchDiscrimination)):
            total += layer.input.shape[-1] * layer.num_kernels * layer.dim_per_kernel
    return int(total)


def environment_lines():
    """Two lines naming what measured: the CPU model and its SIMD features, and the versions
    (``improved_gan_tf2.environment.describe()``)."""
    from improved_gan_tf2.environment import describe

    info = describe()
    return [f"cpu: {info['cpu']} ({info['cpu_count']} cores; {', '.join(info['cpu_features'] or [])}); "
            f"devices: {', '.join(info['devices'])}",
            f"versions: Python {info['python']}, TensorFlow {info['tensorflow']}, Keras {info['keras']}, "
            f"NumPy {info['numpy']}; {info['platform']}"]


class Interleaved:
    """Times several functions in alternation, round after round, so that a shared machine's load falls on all of
    them alike; reports medians and spreads of wall and CPU (process) time per call, and of ratios to one of them
    taken within each round. ``functions``: name -> ``run(calls)``, which makes ``calls`` calls and waits for
    the last."""

    def __init__(self, functions, calls):
        self.functions = dict(functions)
        self.calls = calls
        self.wall = {name: [] for name in self.functions}
        self.cpu = {name: [] for name in self.functions}

    def rounds(self, count):
        for _ in range(count):
            for name, run in self.functions.items():
                wall, cpu = time.perf_counter(), time.process_time()
                run(self.calls)
                self.wall[name].append(1000 * (time.perf_counter() - wall) / self.calls)
                self.cpu[name].append(1000 * (time.process_time() - cpu) / self.calls)
        return self

    @staticmethod
    def _summary(values):
        import numpy as np

        values = np.asarray(values)
        return float(np.median(values)), float(values.min()), float(values.max())

    def ms(self, name, clock="wall"):
        """``(median, min, max)`` milliseconds per call."""
        return self._summary((self.wall if clock == "wall" else self.cpu)[name])

    def ratio(self, name, reference, clock="wall"):
        """``(median, min, max)`` over rounds of ``name``'s time over ``reference``'s in the same round."""
        times = self.wall if clock == "wall" else self.cpu
        return self._summary([a / b for a, b in zip(times[name], times[reference])])
