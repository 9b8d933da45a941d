"""The 128x128 ImageNet networks of ``imagenet/`` (``generator.py``, ``discriminator.py``; paper Sec. 6.4).

- :func:`build_generator_network`: ``z`` (8192 dims, U(-1, 1)) → linear → 4x4x(8·gf_dim) → five stride-2
  5x5 transposed convolutions to 128x128 → a stride-1 one to 3 channels (bias -0.45, weights N(0, 0.075)) →
  tanh. Every hidden layer is followed by :class:`~improved_gan_tf2.layers.VirtualBatchNorm`, ReLU and the
  concatenation of fresh U(-1, 1) noise channels, as the original. Its inputs are ``z`` and the six noise
  tensors; the first ``reference_size`` rows of each are the reference batch.
- :class:`ImageNetGenerator`: that network plus its fixed reference batch (``z`` and noise, non-trainable
  weights drawn once and saved with the model); call it on live inputs only.
- :func:`build_discriminator`: input noise N(0, 0.1), seven 3x3 convolutions each with
  :class:`~improved_gan_tf2.layers.BatchNormCross` and leaky ReLU (0.2), a dense layer of 40·df_dim units
  (again cross batch norm and leaky ReLU), :class:`~improved_gan_tf2.layers.HalvedMinibatchDiscrimination`
  (300 kernels x 50 dims), and 1001 logits (1000 classes + "generated"). It takes the joint batch
  ``concat([real, generated])``.

Widths: ``gf_dim``/``df_dim`` are the original's width multipliers (64 for the paper's model); ``z_dim``,
``num_classes``, the minibatch sizes and ``image_size`` (any multiple of 32; the original is fixed at 128) may be
shrunk for tests and smoke runs. Layer names follow the original's variable scopes (``g_h0_lin``, ``g_vbn_0``,
``d_h0_conv``, ``d_bn_0``, ``d_h``, ``d_indiv_logits``, ...).
"""
import keras
import tensorflow as tf

from improved_gan_tf2 import layers

Z_DIM = 8192
GF_DIM = 64
DF_DIM = 64
IMAGE_SIZE = 128
NUM_CLASSES = 1000
MINIBATCH_KERNELS = 300
MINIBATCH_KERNEL_DIM = 50
INPUT_NOISE_STDDEV = 0.1
OUT_INIT_BIAS = -0.45
OUT_STDDEV = 0.075
LEAK = 0.2

#: Names of the generator's inputs, in order: ``z`` then the noise concatenated after each hidden layer.
GENERATOR_INPUT_NAMES = ("z", "h0z", "h1z", "h2z", "h3z", "h4z", "h5z")


def _check_image_size(image_size):
    image_size = int(image_size)
    if image_size < 32 or image_size % 32:
        raise ValueError(
            f"image_size must be a multiple of 32 (the generator doubles 5 times from image_size/32; the "
            f"original is 128), got {image_size}."
        )
    return image_size


def generator_input_shapes(z_dim=Z_DIM, gf_dim=GF_DIM, image_size=IMAGE_SIZE):
    """Per-example shapes of ``z`` and of the six noise tensors, in :data:`GENERATOR_INPUT_NAMES` order.

    Noise channels as ``generator.py``: ``gf_dim`` at the 4x4 and 8x8 layers, then ``gf_dim // 2``,
    ``gf_dim // 4``, ``gf_dim // 8`` and again ``gf_dim // 8`` at 128x128 (the original computes a
    sixteenth there but concatenates an eighth), each at least 1.
    """
    base = _check_image_size(image_size) // 32
    gf_dim = int(gf_dim)
    channels = [gf_dim, gf_dim, max(gf_dim // 2, 1), max(gf_dim // 4, 1), max(gf_dim // 8, 1), max(gf_dim // 8, 1)]
    shapes = [(int(z_dim),)]
    for level, ch in enumerate(channels):
        size = base * 2 ** level
        shapes.append((size, size, ch))
    return shapes


def build_generator_network(reference_size, z_dim=Z_DIM, gf_dim=GF_DIM, image_size=IMAGE_SIZE,
                            name="generator_network"):
    """The generator of ``generator.py`` as a functional model over reference + live rows.

    Inputs: ``[z, h0z, ..., h5z]`` (shapes from :func:`generator_input_shapes`), whose first
    ``reference_size`` rows are the virtual-batch-norm reference batch. Output: tanh images in [-1, 1] for
    all rows. Weights as ``ops.py``: ``linear`` and ``deconv2d`` kernels N(0, 0.02) and zero biases, 5x5
    transposed convolutions with TensorFlow's ``SAME`` padding; the output layer N(0, 0.075) with bias -0.45.
    """
    shapes = generator_input_shapes(z_dim, gf_dim, image_size)
    inputs = [keras.Input(shape=s, name=n) for s, n in zip(shapes, GENERATOR_INPUT_NAMES)]
    base = int(image_size) // 32
    gf_dim = int(gf_dim)
    normal = keras.initializers.RandomNormal(stddev=0.02)

    def vbn_relu_noise(h, level):
        h = layers.VirtualBatchNorm(reference_size, name=f"g_vbn_{level}")(h)
        h = keras.layers.ReLU(name=f"g_relu_{level}")(h)
        return keras.layers.Concatenate(axis=-1, name=f"g_concat_{level}")([h, inputs[level + 1]])

    h = keras.layers.Dense(gf_dim * 8 * base * base, kernel_initializer=normal, name="g_h0_lin")(inputs[0])
    h = keras.layers.Reshape((base, base, gf_dim * 8), name="g_h0_reshape")(h)
    h = vbn_relu_noise(h, 0)
    for level, filters in enumerate([gf_dim * 4, gf_dim * 2, gf_dim, gf_dim, gf_dim], start=1):
        h = layers.Deconv2D(filters, 5, strides=2, padding="same", kernel_initializer=normal, name=f"g_h{level}")(h)
        h = vbn_relu_noise(h, level)
    h = layers.Deconv2D(
        3, 5, strides=1, padding="same",
        kernel_initializer=keras.initializers.RandomNormal(stddev=OUT_STDDEV),
        bias_initializer=keras.initializers.Constant(OUT_INIT_BIAS), name="g_h6",
    )(h)
    outputs = keras.layers.Activation("tanh", name="g_tanh")(h)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="improved_gan_tf2")
class ImageNetGenerator(keras.Model):
    """The ImageNet generator with its virtual-batch-norm reference batch (``generator.py``, ``is_ref=True``).

    The reference inputs (``z`` and the six noise tensors of ``reference_size`` rows, U(-1, 1)) are
    non-trainable weights drawn once when the model is built and saved in checkpoints. Every call runs
    ``concat([reference, live])`` through :func:`build_generator_network` and returns the live rows, so each
    virtual batch norm normalizes with the reference batch's statistics, recomputed from the current weights
    (gradients flow through them, as in the original), and a live output does not depend on the other live
    rows. ``reference_size`` is the original's ``batch_size`` (per GPU tower; per replica here).

    >>> import numpy as np
    >>> gen = ImageNetGenerator(reference_size=4, z_dim=8, gf_dim=8, image_size=32)  # the original: 16, 8192, 64, 128
    >>> live = [np.random.uniform(-1, 1, (3,) + shape).astype("float32") for shape in gen.example_shapes]
    >>> tuple(gen(live).shape)  # z, h0z, ..., h5z of 3 live rows; any batch size
    (3, 32, 32, 3)
    """

    def __init__(self, reference_size, z_dim=Z_DIM, gf_dim=GF_DIM, image_size=IMAGE_SIZE, seed=None, **kwargs):
        kwargs.setdefault("name", "generator")
        super().__init__(**kwargs)
        self.reference_size = int(reference_size)
        if self.reference_size < 1:
            raise ValueError(f"reference_size must be at least 1, got {reference_size}.")
        self.z_dim = int(z_dim)
        self.gf_dim = int(gf_dim)
        self.image_size = _check_image_size(image_size)
        self.seed = seed
        self.example_shapes = generator_input_shapes(self.z_dim, self.gf_dim, self.image_size)
        self.network = build_generator_network(self.reference_size, self.z_dim, self.gf_dim, self.image_size)
        for i, (name, shape) in enumerate(zip(GENERATOR_INPUT_NAMES, self.example_shapes)):
            # one attribute each, so that tf.train.Checkpoint tracks them (it does not track lists)
            setattr(self, f"reference_{name}", self.add_weight(
                name=f"reference_{name}",
                shape=(self.reference_size,) + shape,
                initializer=keras.initializers.RandomUniform(
                    -1.0, 1.0, seed=None if seed is None else int(seed) + 1000 + i
                ),
                trainable=False,
            ))
        self.built = True

    @property
    def reference_inputs(self):
        """The reference batch's ``[z, h0z, ..., h5z]`` (non-trainable weights)."""
        return [getattr(self, f"reference_{name}") for name in GENERATOR_INPUT_NAMES]

    def build(self, input_shape=None):
        self.built = True

    def call(self, inputs, training=None):
        inputs = list(inputs)
        if len(inputs) != len(self.example_shapes):
            raise ValueError(
                f"The generator takes {len(self.example_shapes)} inputs {list(GENERATOR_INPUT_NAMES)}, "
                f"got {len(inputs)}."
            )
        joint = [
            tf.concat([tf.convert_to_tensor(ref), tf.cast(live, ref.dtype)], axis=0)
            for ref, live in zip(self.reference_inputs, inputs)
        ]
        return self.network(joint, training=training)[self.reference_size:]

    def reference_output(self, training=None):
        """The reference batch's own images (what the original's ``reference_G`` is)."""
        joint = [tf.convert_to_tensor(ref) for ref in self.reference_inputs]
        return self.network(joint, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.image_size, self.image_size, 3)

    def get_config(self):
        config = super().get_config()
        config.update(
            reference_size=self.reference_size, z_dim=self.z_dim, gf_dim=self.gf_dim, image_size=self.image_size,
            seed=self.seed,
        )
        return config


def build_discriminator(df_dim=DF_DIM, num_classes=NUM_CLASSES, minibatch_kernels=MINIBATCH_KERNELS,
                        minibatch_kernel_dim=MINIBATCH_KERNEL_DIM, image_size=IMAGE_SIZE,
                        input_noise_stddev=INPUT_NOISE_STDDEV, name="discriminator"):
    """The discriminator of ``discriminator.py`` on the joint batch ``concat([real, generated])``.

    Inputs: ``images`` (2h x S x S x 3, real rows first) and ``noise``, a standard normal tensor of the same
    shape: the network adds ``input_noise_stddev * noise`` (the original's N(0, 0.1) input noise; the caller
    draws it so that every replica draws its own). Output: ``num_classes + 1`` class logits, the last one
    the "generated" class. Convolutions 3x3 with TensorFlow's ``SAME`` padding, strides 2, 2, 2, 1, 1, 2, 2,
    widths df·(1, 2, 4, 4, 4, 8, 8), kernels truncated N(0, 0.02); dense layers N(0, 0.02), zero biases.
    """
    size = _check_image_size(image_size)
    df_dim = int(df_dim)
    images = keras.Input(shape=(size, size, 3), name="images")
    noise = keras.Input(shape=(size, size, 3), name="noise")
    h = keras.layers.Add(name="d_input_noise")([images, keras.layers.Rescaling(float(input_noise_stddev))(noise)])
    conv_init = keras.initializers.TruncatedNormal(stddev=0.02)
    dense_init = keras.initializers.RandomNormal(stddev=0.02)
    tower = [(1, 2), (2, 2), (4, 2), (4, 1), (4, 1), (8, 2), (8, 2)]
    for i, (mult, stride) in enumerate(tower):
        h = keras.layers.Conv2D(
            df_dim * mult, 3, strides=stride, padding="same", kernel_initializer=conv_init, name=f"d_h{i}_conv"
        )(h)
        h = layers.BatchNormCross(name=f"d_bn_{i}")(h)
        h = keras.layers.LeakyReLU(negative_slope=LEAK, name=f"d_lrelu_{i}")(h)
    h = keras.layers.Flatten(name="d_h6_flatten")(h)
    h = keras.layers.Dense(df_dim * 40, kernel_initializer=dense_init, name="d_h7")(h)
    h = layers.BatchNormCross(name="d_bn_7")(h)
    h = keras.layers.LeakyReLU(negative_slope=LEAK, name="d_lrelu_7")(h)
    h = layers.HalvedMinibatchDiscrimination(minibatch_kernels, minibatch_kernel_dim, kernel_initializer=dense_init,
                                        name="d_h")(h)
    logits = keras.layers.Dense(int(num_classes) + 1, kernel_initializer=dense_init, name="d_indiv_logits")(h)
    return keras.Model([images, noise], logits, name=name)
