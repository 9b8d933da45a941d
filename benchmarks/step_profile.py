"""Where a training step's time goes between its matrix products: a ``tf.profiler`` trace of the MNIST step of
``benchmarks/mnist_step.py`` (joint pass, no XLA, batch 100) or of the CIFAR-10 step of ``benchmarks/cifar_step.py``,
summed per TensorFlow op type.

Times are each op's own time on the thread that ran it: per op of the step's graph the median over the traced
steps (robust to a step in which another process took the core), summed per op type (so with two threads busy
the sum can exceed the step's wall time); XLA computations (the optimizer's and the parameter average's) are
one entry, the mean of all their runs. Prints the products' share (matrix products, or convolutions and their
gradients for CIFAR), then the ten largest other op types with their calls per step. The executor's own
bookkeeping between ops is not in any op and not counted::

    python benchmarks/step_profile.py [--model=mnist|cifar] [--steps=20] [--width_scale=1]

The last line: ``products_share=<float> top_other=<op type>``.
"""
import collections
import glob
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags  # noqa: E402

flags.DEFINE_enum("model", "mnist", ["mnist", "cifar"], "Which training step to trace.")
flags.DEFINE_integer("steps", 20, "Traced steps (after warm-up steps).")
flags.DEFINE_float("width_scale", 1.0, "CIFAR only: multiplies every layer width (1: the original networks).")
FLAGS = flags.FLAGS

#: Op types that are the products: dense matrix products, convolutions and their gradients.
PRODUCT_OPS = ("MatMul", "Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "BatchMatMul", "Einsum")
XLA = "XLA computation"


def is_product(op_type):
    """True for the op types of :data:`PRODUCT_OPS`, also as oneDNN's ``_Mkl``/``_MklNative``/``_Fused`` forms."""
    name = op_type.lstrip("_")
    for prefix in ("MklNative", "Mkl", "Fused"):
        name = name[len(prefix):] if name.startswith(prefix) else name
    return name in PRODUCT_OPS


def op_times(xspace, steps):
    """``{op type: (ms per step, calls per step)}`` from a profiler ``XSpace``: TensorFlow op events are named
    ``"<op name>:<op type>"``; XLA executions are counted under :data:`XLA`. Each op (each node of the step's
    graph, which runs once per step) counts with the median of its durations over the steps, so that an op
    descheduled by another process in one step does not inflate the total; XLA computations, which share one
    event name, with their mean."""
    import numpy as np

    durations = collections.defaultdict(list)
    for plane in xspace.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if name.startswith("CpuExecutable::Execute"):
                    name = XLA
                elif "::" in name or ":" not in name:
                    continue  # the runtime's own events (executor, function calls)
                else:
                    op_type = name.rsplit(":", 1)[1]
                    if not op_type or not (op_type[0].isupper() or op_type[0] == "_"):
                        continue
                durations[name].append(event.duration_ps / 1e9)
    totals, calls = collections.Counter(), collections.Counter()
    for name, values in durations.items():
        per_step = len(values) / steps
        if name == XLA:  # several computations under one name: their mean
            totals[XLA] += sum(values) / steps
        else:
            totals[name.rsplit(":", 1)[1]] += float(np.median(values)) * per_step
        calls[XLA if name == XLA else name.rsplit(":", 1)[1]] += per_step
    return {op_type: (totals[op_type], calls[op_type]) for op_type in totals}


def trace(run, steps):
    """Profile ``run(steps)``; returns :func:`op_times` of the trace."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        run(steps)
        tf.profiler.experimental.stop()
        xspace = xplane_pb2.XSpace()
        with open(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0], "rb") as stream:
            xspace.ParseFromString(stream.read())
    return op_times(xspace, steps)


def report(times, products_name, top=10):
    """The lines :func:`main` prints for ``times`` (of :func:`op_times`)."""
    products = sum(ms for op_type, (ms, _) in times.items() if is_product(op_type))
    others = sorted(((ms, calls, op_type) for op_type, (ms, calls) in times.items() if not is_product(op_type)),
                    reverse=True)
    other_total = sum(ms for ms, _, _ in others)
    total = products + other_total
    lines = [f"op time per step (ms, summed over threads): {total:.1f}; {products_name} {products:.1f} "
             f"({products / total:.2f}), everything else {other_total:.1f} ({other_total / total:.2f})",
             f"| the {top} largest other op types | ms per step | share of all op time | calls per step |",
             "| --- | --- | --- | --- |"]
    for ms, calls, op_type in others[:top]:
        lines.append(f"| {op_type} | {ms:.2f} | {ms / total:.3f} | {calls:.0f} |")
    lines.append(f"products_share={products / total:.3f} top_other={others[0][2] if others else '-'}")
    return lines


def mnist_step():
    from mnist_step import make_step

    run, _ = make_step(joint=True, jit_compile=False, batch_size=100)
    return run, "matrix products"


def cifar_step():
    from cifar_step import make_step

    run, *_ = make_step(batch_size=100, width_scale=FLAGS.width_scale)
    return run, "convolutions and matrix products"


def main(argv):
    del argv
    from common import environment_lines

    run, products_name = mnist_step() if FLAGS.model == "mnist" else cifar_step()
    run(2)
    times = trace(run, FLAGS.steps)
    for line in environment_lines() + [f"{FLAGS.model} training step, {FLAGS.steps} traced steps"]:
        print(line)
    for line in report(times, products_name):
        print(line)


if __name__ == "__main__":
    app.run(main)
