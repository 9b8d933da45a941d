"""Inception-score throughput: images per second, one image per call (as the original) vs batched.

The real 2015 graph cannot be downloaded everywhere, so by default this scores a graph of the real network's
size built locally (``inception_score.fake_graph.inception_v3_graph_def``: Keras InceptionV3 with random weights,
299x299, 2048 ``pool_3`` features, the real graph's input chain, head and legacy batch-norm ops). Pass
``--model_dir`` to time the real graph instead. Both rates go through ``get_inception_score`` on the same loaded
graph, so their ratio is measured in one run on one device:

    python benchmarks/inception_throughput.py [--num_images 100] [--batch_size 50] [--image_size 32]

Last line: ``batched_over_single=<float>`` (batched images/s divided by one-at-a-time images/s).
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from common import device_name  # noqa: E402

flags.DEFINE_integer("num_images", 100, "images scored in each mode")
flags.DEFINE_integer("batch_size", 50, "batch size of the batched mode")
flags.DEFINE_integer("image_size", 32, "side of the random input images (the graph resizes them to 299)")
flags.DEFINE_string("model_dir", None, "directory of the real classify_image_graph_def.pb (default: build a "
                    "random-weight graph of the same size)")
flags.DEFINE_integer("repeats", 2, "timed runs per mode; the best is kept")
FLAGS = flags.FLAGS


def _rate(score, images, batch_size, repeats):
    score(images[:batch_size], batch_size)  # warm-up at this batch shape
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        score(images, batch_size)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def main(argv):
    del argv
    import tensorflow as tf

    from inception_score import fake_graph, model

    print("device: %s" % device_name(tf))

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = FLAGS.model_dir
        if model_dir is None:
            start = time.perf_counter()
            fake_graph.write_graph(fake_graph.inception_v3_graph_def(), tmp)
            model_dir = tmp
            print("built a random-weight Inception-v3-sized graph in %.1fs" % (time.perf_counter() - start))
        model.load_inception(model_dir, download=False)

        rng = np.random.RandomState(0)
        n, s = FLAGS.num_images, FLAGS.image_size
        images = rng.randint(0, 256, (n, s, s, 3)).astype(np.uint8)

        def score(imgs, batch_size):
            return model.get_inception_score(imgs, splits=1, batch_size=batch_size, model_dir=model_dir)

        single = _rate(score, images, 1, FLAGS.repeats)
        print("one image per call: %.2f images/s" % single)
        batched = _rate(score, images, FLAGS.batch_size, FLAGS.repeats)
        print("batched (batch_size=%d): %.2f images/s" % (FLAGS.batch_size, batched))
        a, b = score(images, 1), score(images, FLAGS.batch_size)
        print("same score both ways: %.7f vs %.7f" % (a[0], b[0]))
    print("batched_over_single=%.3f" % (batched / single))


if __name__ == "__main__":
    app.run(main)
