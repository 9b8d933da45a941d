"""Test and benchmark utility: GraphDefs shaped like ``classify_image_graph_def.pb``, with random weights.

The real 2015 Inception graph cannot be downloaded everywhere (nor shipped here), so the tests and
``benchmarks/inception_throughput.py`` build stand-ins with the same tensor names and the same traps:

- input chain ``DecodeJpeg/contents`` -> ``DecodeJpeg`` -> ``Cast`` -> ``ExpandDims`` whose static shape has a
  batch of 1 (and ``_output_shapes`` hints recorded at batch 1 on every node);
- ``ResizeBilinear`` to a fixed size, then ``Sub`` 128 and ``Mul`` 1/128;
- ``BatchNormWithGlobalNormalization`` nodes (an op removed at GraphDef version 9, which the 2015 graph uses; the
  GraphDef's producer version is set below 9 as the real file's is) and an old-style ``Concat``;
- ``pool_3`` (average pool to ``[1, 1, 1, F]``), ``pool_3/_reshape`` hard-coded to ``[1, F]``,
  ``softmax/logits/MatMul`` (weights ``softmax/weights``), a non-zero ``softmax/biases`` added in
  ``softmax/logits``, then ``softmax``.

These are not the Inception weights: scores computed on them mean nothing.
"""
import os
import tarfile
import tempfile

import numpy as np

GRAPH_NAME = "classify_image_graph_def.pb"
TGZ_NAME = "inception-2015-12-05.tgz"
LEGACY_PRODUCER = 8  # below 9, where BatchNormWithGlobalNormalization was removed


def _input_chain(tf, image_size):
    contents = tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
    x = tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg")
    x = tf.cast(x, tf.float32, name="Cast")
    x = tf.expand_dims(x, 0, name="ExpandDims")  # static shape [1, ?, ?, 3]: the batch-of-1 trap
    size = tf.constant([image_size, image_size], tf.int32, name="ResizeBilinear/size")
    x = tf.raw_ops.ResizeBilinear(images=x, size=size, name="ResizeBilinear")
    x = tf.subtract(x, tf.constant(128.0, name="Sub/y"), name="Sub")
    return tf.multiply(x, tf.constant(1.0 / 128.0, name="Mul/y"), name="Mul")


def _head(tf, pool_input, pool_size, weights, biases):
    features = weights.shape[0]
    pool = tf.nn.avg_pool2d(pool_input, pool_size, 1, "VALID", name="pool_3")
    flat = tf.reshape(pool, [1, features], name="pool_3/_reshape")  # hard-coded batch of 1, as in the real graph
    w = tf.constant(weights, name="softmax/weights")
    b = tf.constant(biases, name="softmax/biases")
    logits = tf.add(tf.matmul(flat, w, name="softmax/logits/MatMul"), b, name="softmax/logits")
    tf.nn.softmax(logits, name="softmax")


def _set_legacy_batchnorm(node, t, m, v, beta, gamma, eps, scale_after_normalization, dtype):
    node.op = "BatchNormWithGlobalNormalization"
    del node.input[:]
    node.input.extend([t, m, v, beta, gamma])
    node.attr.clear()
    node.attr["T"].type = dtype
    node.attr["variance_epsilon"].f = eps
    node.attr["scale_after_normalization"].b = scale_after_normalization


def small_graph_def(image_size=16, channels=8, classes=10, seed=0, logit_scale=25.0, bias_scale=3.0):
    """A tiny Inception-like GraphDef and its weights (a dict of float32 arrays, for NumPy references).

    Network after ``Mul``: ``conv`` = relu(batchnorm(conv3x3_SAME(x))) with a legacy batchnorm node,
    ``mixed/join`` = Concat(relu(conv1x1_a(conv)), relu(conv1x1_b(conv))), then ``pool_3`` (average over the
    ``image_size`` x ``image_size`` map) of ``2 * channels`` features, and the softmax head with ``classes``.
    Batchnorm: ``(x - mean) * rsqrt(var + eps) * gamma + beta``, ``eps`` in the returned dict.
    """
    import tensorflow as tf

    rng = np.random.RandomState(seed)
    c, f = channels, 2 * channels
    w = {
        "conv": rng.normal(0, 1.0 / np.sqrt(27), (3, 3, 3, c)),
        "bn_mean": rng.normal(0, 0.2, c),
        "bn_var": rng.uniform(0.5, 1.5, c),
        "bn_beta": rng.normal(0, 0.2, c),
        "bn_gamma": rng.uniform(0.5, 1.5, c),
        "mixed_a": rng.normal(0, 1.0 / np.sqrt(c), (1, 1, c, c)),
        "mixed_b": rng.normal(0, 1.0 / np.sqrt(c), (1, 1, c, c)),
        "softmax_w": rng.normal(0, logit_scale / np.sqrt(f), (f, classes)),
        "softmax_b": rng.normal(0, bias_scale, classes),
    }
    w = {k: v.astype(np.float32) for k, v in w.items()}
    w["bn_eps"] = 1e-3

    g = tf.Graph()
    with g.as_default():
        x = _input_chain(tf, image_size)
        x = tf.nn.conv2d(x, tf.constant(w["conv"], name="conv/conv2d_params"), 1, "SAME", name="conv/Conv2D")
        bn_inputs = [
            tf.constant(w["bn_" + k], name="conv/batchnorm/" + n).op.name
            for k, n in (("mean", "moving_mean"), ("var", "moving_variance"), ("beta", "beta"),
                         ("gamma", "gamma"))
        ]
        x = tf.identity(x, name="conv/batchnorm")  # becomes BatchNormWithGlobalNormalization below
        x = tf.nn.relu(x, name="conv")
        branches = []
        for key, scope in (("mixed_a", "mixed/conv"), ("mixed_b", "mixed/tower/conv")):
            y = tf.nn.conv2d(x, tf.constant(w[key], name=scope + "/conv2d_params"), 1, "SAME",
                             name=scope + "/Conv2D")
            branches.append(tf.nn.relu(y, name=scope))
        x = tf.raw_ops.Concat(concat_dim=tf.constant(3, name="mixed/join/concat_dim"), values=branches,
                              name="mixed/join")
        _head(tf, x, image_size, w["softmax_w"], w["softmax_b"])
    graph_def = g.as_graph_def(add_shapes=True)  # _output_shapes hints at batch 1
    for node in graph_def.node:
        if node.name == "conv/batchnorm":
            shapes = node.attr["_output_shapes"]
            kept = type(shapes)()
            kept.CopyFrom(shapes)
            _set_legacy_batchnorm(node, "conv/Conv2D", *bn_inputs, w["bn_eps"], True, tf.float32.as_datatype_enum)
            node.attr["_output_shapes"].CopyFrom(kept)
    graph_def.versions.producer = LEGACY_PRODUCER
    graph_def.versions.min_consumer = 0
    return graph_def, w


def _inception_v3_layers():
    """Keras ``InceptionV3(weights=None)`` at 299x299 as a topologically ordered list of
    ``(kind, name, input names, output name, config, weights)``; only its architecture and conv kernels are used."""
    import keras

    model = keras.applications.InceptionV3(weights=None, include_top=False, input_shape=(299, 299, 3))
    layers = []
    for layer in model.layers:
        node = layer._inbound_nodes[0]
        layers.append((type(layer).__name__, layer.name, [t.name for t in node.input_tensors],
                       node.output_tensors[0].name, layer.get_config(),
                       [np.asarray(v) for v in layer.get_weights()]))
    return layers


def _run_layers(tf, layers, x, bn_stats, batchnorm):
    """Apply ``layers`` to ``x`` with TF ops (eagerly or while building a graph); ``batchnorm(x, name, stats)``
    emits each batch norm, ``bn_stats[name]`` holds (or, when missing, receives) its mean and variance."""
    env = {}
    for kind, name, inputs, output, cfg, weights in layers:
        ins = [env[i] for i in inputs]
        if kind == "InputLayer":
            y = x
        elif kind == "Conv2D":
            y = tf.nn.conv2d(ins[0], tf.constant(weights[0], name=name + "/conv2d_params"), cfg["strides"],
                             cfg["padding"].upper(), name=name + "/Conv2D")
        elif kind == "BatchNormalization":
            if name not in bn_stats:  # calibration: unit-variance activations, so the features do not vanish
                mean, var = tf.nn.moments(ins[0], axes=[0, 1, 2])
                bn_stats[name] = (mean.numpy(), var.numpy())
            y = batchnorm(ins[0], name, bn_stats[name])
        elif kind == "Activation":
            y = tf.nn.relu(ins[0], name=name)
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            pool = tf.nn.max_pool2d if kind == "MaxPooling2D" else tf.nn.avg_pool2d
            y = pool(ins[0], cfg["pool_size"], cfg["strides"], cfg["padding"].upper(), name=name)
        elif kind == "Concatenate":
            y = tf.raw_ops.Concat(concat_dim=tf.constant(3, name=name + "/concat_dim"), values=ins, name=name)
        else:
            raise NotImplementedError(kind)
        env[output] = y
    return y


def inception_v3_graph_def(seed=0, classes=1008):
    """A GraphDef of the real network's size: the Inception-v3 architecture (Keras ``InceptionV3``, 94 convs,
    2048 ``pool_3`` features on an 8x8 map at 299x299) with random weights, written with the real graph's ops
    (legacy ``BatchNormWithGlobalNormalization``, ``Concat``) between its input chain and its head. Batch-norm
    statistics are set from one batch of random 32x32 images so the features are not degenerate."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    layers = _inception_v3_layers()
    rng = np.random.RandomState(seed)
    eps = 1e-3
    bn_stats = {}

    def eager_bn(x, name, stats):
        return (x - stats[0]) * tf.math.rsqrt(stats[1] + eps)

    calib = tf.image.resize(rng.uniform(0, 255, (4, 32, 32, 3)).astype(np.float32), (299, 299))
    _run_layers(tf, layers, (calib - 128.0) / 128.0, bn_stats, eager_bn)

    legacy = {}

    def graph_bn(x, name, stats):
        consts = [tf.constant(v.astype(np.float32), name="%s/%s" % (name, k)).op.name
                  for k, v in (("moving_mean", stats[0]), ("moving_variance", stats[1]),
                               ("beta", np.zeros_like(stats[0])), ("gamma", np.ones_like(stats[0])))]
        legacy[name + "/batchnorm"] = [x.op.name] + consts
        return tf.identity(x, name=name + "/batchnorm")  # becomes BatchNormWithGlobalNormalization below

    weights = rng.normal(0, 3.0 / np.sqrt(2048), (2048, classes)).astype(np.float32)
    biases = rng.normal(0, 0.1, classes).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        y = _run_layers(tf, layers, _input_chain(tf, 299), bn_stats, graph_bn)
        _head(tf, y, 8, weights, biases)
    graph_def = g.as_graph_def(add_shapes=True)
    for node in graph_def.node:
        if node.name in legacy:
            shapes = type(node.attr["_output_shapes"])()
            shapes.CopyFrom(node.attr["_output_shapes"])
            _set_legacy_batchnorm(node, *legacy[node.name], eps, True, tf.float32.as_datatype_enum)
            node.attr["_output_shapes"].CopyFrom(shapes)
    graph_def.versions.producer = LEGACY_PRODUCER
    graph_def.versions.min_consumer = 0
    return graph_def


def write_graph(graph_def, directory, as_tgz=False):
    """Write ``graph_def`` as ``directory/classify_image_graph_def.pb``, or, with ``as_tgz``, only inside
    ``directory/inception-2015-12-05.tgz`` (next to a dummy file, as the real archive holds several).
    Returns the written path."""
    os.makedirs(directory, exist_ok=True)
    data = graph_def.SerializeToString()
    if not as_tgz:
        path = os.path.join(directory, GRAPH_NAME)
        with open(path, "wb") as f:
            f.write(data)
        return path
    path = os.path.join(directory, TGZ_NAME)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, GRAPH_NAME), "wb") as f:
            f.write(data)
        with open(os.path.join(tmp, "LICENSE"), "w") as f:
            f.write("random weights for tests\n")
        with tarfile.open(path, "w:gz") as tar:
            tar.add(os.path.join(tmp, "LICENSE"), arcname="LICENSE")
            tar.add(os.path.join(tmp, GRAPH_NAME), arcname=GRAPH_NAME)
    return path
