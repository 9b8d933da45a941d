"""The 32x32 networks of the CIFAR-10 and SVHN scripts (``train_{cifar,svhn}_{feature_matching,
minibatch_discrimination}.py``), one parameterised definition each.

Generator (the same in all four scripts): z (100, U(0, 1)) -> dense 4x4x512 + batch norm + ReLU -> 5x5 stride-2
deconvolution to 8x8x256 + batch norm + ReLU -> to 16x16x128 + batch norm + ReLU -> weight-normalized 5x5
stride-2 deconvolution to 32x32x3 + tanh (trainable scale, ``init_scale=0.1``). The batch norms are the
original's ``nn.batch_norm(g=None)``: batch statistics always, a learned shift, no scale.

Discriminator: input dropout 0.2 (feature matching) or Gaussian noise 0.2 (minibatch discrimination) ->
3 weight-normalized 3x3 convolutions of width ``w1`` (the third stride 2, Lasagne ``pad=1``) -> dropout 0.5 ->
3 of width ``w2`` (the third stride 2) -> dropout 0.5 -> a 3x3 "valid" convolution of width ``w2`` -> two
per-pixel NIN layers of width ``w2`` -> global average pooling (the feature-matching layer) -> optionally
``MinibatchDiscrimination(100)`` -> weight-normalized dense 10 (trainable scale, ``init_scale=0.1``). All
hidden layers use leaky ReLU 0.2. Widths ``(w1, w2)``: (96, 192) for CIFAR-10 and for SVHN with minibatch
discrimination, (64, 128) for SVHN with feature matching -- as in the original scripts.

Layouts are TensorFlow's (NHWC); :mod:`improved_gan_tf2.port` converts parameters saved by the original.
"""
import keras

from improved_gan_tf2 import layers

NOISE_DIM = 100
IMAGE_SHAPE = (32, 32, 3)
GENERATOR_WIDTHS = (512, 256, 128)
GENERATOR_NORMS = ("batch", "virtual")
INPUT_NOISES = ("dropout", "gaussian")
#: The networks' outputs (generated images, features, minibatch features, logits) are computed in float32 also
#: under a mixed-precision policy (``keras.mixed_precision``), so that the losses and the generated batch that
#: joins the real ones are float32; with the default float32 policy this changes nothing.
OUTPUT_DTYPE = "float32"


def _normal(stddev=0.05):
    return keras.initializers.RandomNormal(0.0, stddev)


def scaled_width(width, width_scale=1.0):
    """``width * width_scale`` rounded, at least 1 (``width_scale=1`` gives the original widths)."""
    return max(1, int(round(width * float(width_scale))))


# ------------------------------------------------------------------------------------------ generator


def cifar_svhn_generator(widths=GENERATOR_WIDTHS, noise_dim=NOISE_DIM, normalization="batch", reference_size=100,
                         name="generator"):
    """The 32x32 generator. Returns a model mapping z ``(n, noise_dim)`` to images ``(n, 32, 32, 3)`` in
    [-1, 1].

    ``widths``: channels of the 4x4, 8x8 and 16x16 layers (the original's 512, 256, 128).
    ``normalization``: ``"batch"`` is the original's ``nn.batch_norm(g=None)`` (batch statistics, a shift, no
    scale). ``"virtual"`` is not in the released CIFAR/SVHN code: virtual batch norm (paper Sec. 3.4, the
    library's ``VirtualBatchNorm``: a scale and a shift, epsilon 1e-5) with a fixed reference batch of
    ``reference_size`` noise vectors, as the paper's Table 3 "Our methods"; the reference rows run through the
    network up to the last batch norm and are dropped before the output layer.
    """
    if normalization not in GENERATOR_NORMS:
        raise ValueError(f"normalization must be one of {GENERATOR_NORMS}, got {normalization!r}.")
    w0, w1, w2 = (int(w) for w in widths)

    def norm(index):
        if normalization == "batch":
            return layers.GeneratorBatchNorm(name=f"batch_norm_{index}")
        return layers.VirtualBatchNorm(reference_size, name=f"virtual_batch_norm_{index}")

    z = keras.Input((noise_dim,), name="z")
    h = layers.PrependReferenceBatch(reference_size, name="reference_batch")(z) if normalization == "virtual" else z
    # Lasagne DenseLayer, W ~ N(0, 0.05), its bias removed by the batch norm; the norm is per unit (before the
    # reshape), as in the original.
    h = keras.layers.Dense(4 * 4 * w0, use_bias=False, kernel_initializer=_normal(), name="dense")(h)
    h = keras.layers.Activation("relu", name="relu_1")(norm(1)(h))
    h = keras.layers.Reshape((4, 4, w0), name="reshape")(h)
    for index, width in ((2, w1), (3, w2)):
        h = layers.Deconv2D(width, 5, strides=2, padding="half", use_bias=False, name=f"deconv_{index}")(h)
        h = keras.layers.Activation("relu", name=f"relu_{index}")(norm(index)(h))
    if normalization == "virtual":
        h = layers.DropReferenceBatch(reference_size, name="drop_reference_batch")(h)
    images = layers.WeightNormConv2DTranspose(3, 5, strides=2, padding="half", activation="tanh",
                                              train_scale=True, init_scale=0.1, dtype=OUTPUT_DTYPE, name="output")(h)
    return keras.Model(z, images, name=name)


# ------------------------------------------------------------------------------------------ discriminator


def cifar_svhn_discriminator(widths=(96, 192), input_noise="dropout", minibatch_kernels=0, num_classes=10,
                             name="discriminator"):
    """The 9-layer weight-normalized discriminator. Returns a model mapping images ``(n, 32, 32, 3)`` to
    ``[logits, features]``; ``features`` is the global-pool output (the original's ``disc_layers[-2]`` of the
    feature-matching scripts).

    ``widths``: ``(w1, w2)``, (96, 192) or (64, 128). ``input_noise``: ``"dropout"`` (p = 0.2, feature
    matching) or ``"gaussian"`` (sigma = 0.2, minibatch discrimination). ``minibatch_kernels``: 0 for none, 100
    in the minibatch-discrimination scripts (5 dimensions per kernel).
    """
    if input_noise not in INPUT_NOISES:
        raise ValueError(f"input_noise must be one of {INPUT_NOISES}, got {input_noise!r}.")
    w1, w2 = (int(w) for w in widths)
    x = keras.Input(IMAGE_SHAPE, name="images")
    if input_noise == "dropout":
        h = keras.layers.Dropout(0.2, name="input_dropout")(x)
    else:
        h = layers.GaussianNoise(0.2, name="input_noise")(x)
    index = 0
    for block, width in enumerate((w1, w2), start=1):
        for stride in (1, 1, 2):
            index += 1
            h = layers.WeightNormConv2D(width, 3, strides=stride, padding="half", activation=layers.lrelu,
                                        name=f"conv_{index}")(h)
        h = keras.layers.Dropout(0.5, name=f"dropout_{block}")(h)
    h = layers.WeightNormConv2D(w2, 3, padding="valid", activation=layers.lrelu, name="conv_7")(h)
    h = layers.WeightNormDense(w2, activation=layers.lrelu, name="nin_1")(h)
    h = layers.WeightNormDense(w2, activation=layers.lrelu, name="nin_2")(h)
    features = keras.layers.GlobalAveragePooling2D(dtype=OUTPUT_DTYPE, name="global_pool")(h)
    h = features
    if minibatch_kernels:
        h = layers.MinibatchDiscrimination(minibatch_kernels, dtype=OUTPUT_DTYPE, name="minibatch")(h)
    logits = layers.WeightNormDense(num_classes, train_scale=True, init_scale=0.1, dtype=OUTPUT_DTYPE,
                                    name="logits")(h)
    return keras.Model(x, [logits, features], name=name)
