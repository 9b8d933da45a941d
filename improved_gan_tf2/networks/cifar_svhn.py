"""The 32x32 networks of the CIFAR-10 and SVHN scripts (``train_{cifar,svhn}_{feature_matching,
minibatch_discrimination}.py``), one parameterised definition each, and what the four scripts share.

Generator (the same in all four scripts): z (100, U(0, 1)) -> dense 4x4x512 + batch norm + ReLU -> 5x5 stride-2
deconvolution to 8x8x256 + batch norm + ReLU -> to 16x16x128 + batch norm + ReLU -> weight-normalized 5x5
stride-2 deconvolution to 32x32x3 + tanh (trainable scale, ``init_scale=0.1``). The batch norms are the
original's ``nn.batch_norm(g=None)``: batch statistics always, a learned shift, no scale.

Discriminator: input dropout 0.2 (feature matching) or Gaussian noise 0.2 (minibatch discrimination) ->
3 weight-normalized 3x3 convolutions of width ``w1`` (the third stride 2, Lasagne ``pad=1``) -> dropout 0.5 ->
3 of width ``w2`` (the third stride 2) -> dropout 0.5 -> a 3x3 "valid" convolution of width ``w2`` -> two
per-pixel NIN layers of width ``w2`` -> global average pooling (the feature-matching layer) -> optionally
``MinibatchDiscrimination(100)`` -> weight-normalized dense 10 (trainable scale, ``init_scale=0.1``). All hidden
layers use leaky ReLU 0.2. Widths ``(w1, w2)``: (96, 192) for CIFAR-10 and for SVHN with minibatch
discrimination, (64, 128) for SVHN with feature matching -- as in the original scripts.

Layouts are TensorFlow's (NHWC); :mod:`improved_gan_tf2.port` converts parameters saved by the original.
"""
import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.layers import (
    Deconv2D,
    GaussianNoise,
    GeneratorBatchNorm,
    MinibatchDiscrimination,
    VirtualBatchNorm,
    WeightNormConv2D,
    WeightNormConv2DTranspose,
    WeightNormDense,
)
from improved_gan_tf2.plotting import column_major_grid, stretch, tile_images

NOISE_DIM = 100
IMAGE_SHAPE = (32, 32, 3)
GENERATOR_WIDTHS = (512, 256, 128)
GENERATOR_NORMS = ("batch", "virtual")
INPUT_NOISES = ("dropout", "gaussian")
#: One-sided label smoothing for the Table 3 runs: the real examples' target 1 - 0.25, the only smoothing value
#: in the authors' code (``d_label_smooth=.25`` of ``imagenet/model.py``); the CIFAR code has none.
PAPER_LABEL_SMOOTHING = 0.25
#: Weight of the historical-averaging term for the Table 3 "-L+HA" run (the paper gives the term no weight).
PAPER_HISTORICAL_AVERAGING = 1.0
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


@keras.saving.register_keras_serializable(package="improved_gan_tf2")
class PrependReferenceBatch(keras.layers.Layer):
    """Prepends a fixed reference batch of noise, drawn once from U(0, 1) and never trained, to every batch
    of z (virtual batch norm, paper Sec. 3.4: each VBN layer normalizes with the reference batch's statistics).
    The reference rows are removed again by :class:`DropReferenceBatch`."""

    def __init__(self, reference_size, **kwargs):
        super().__init__(**kwargs)
        self.reference_size = int(reference_size)

    def build(self, input_shape):
        self.reference = self.add_weight(
            name="reference", shape=(self.reference_size, int(input_shape[-1])),
            initializer=keras.initializers.RandomUniform(0.0, 1.0), trainable=False,
        )

    def call(self, inputs):
        return tf.concat([tf.cast(self.reference, inputs.dtype), inputs], axis=0)

    def compute_output_shape(self, input_shape):
        return (None,) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "reference_size": self.reference_size}


@keras.saving.register_keras_serializable(package="improved_gan_tf2")
class DropReferenceBatch(keras.layers.Layer):
    """Removes the first ``reference_size`` rows (the reference batch of :class:`PrependReferenceBatch`)."""

    def __init__(self, reference_size, **kwargs):
        super().__init__(**kwargs)
        self.reference_size = int(reference_size)

    def call(self, inputs):
        return inputs[self.reference_size:]

    def compute_output_shape(self, input_shape):
        return (None,) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "reference_size": self.reference_size}


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
            return GeneratorBatchNorm(name=f"batch_norm_{index}")
        return VirtualBatchNorm(reference_size, name=f"virtual_batch_norm_{index}")

    z = keras.Input((noise_dim,), name="z")
    h = PrependReferenceBatch(reference_size, name="reference_batch")(z) if normalization == "virtual" else z
    # Lasagne DenseLayer, W ~ N(0, 0.05), its bias removed by the batch norm; the norm is per unit (before the
    # reshape), as in the original.
    h = keras.layers.Dense(4 * 4 * w0, use_bias=False, kernel_initializer=_normal(), name="dense")(h)
    h = keras.layers.Activation("relu", name="relu_1")(norm(1)(h))
    h = keras.layers.Reshape((4, 4, w0), name="reshape")(h)
    for index, width in ((2, w1), (3, w2)):
        h = Deconv2D(width, 5, strides=2, padding="half", use_bias=False, name=f"deconv_{index}")(h)
        h = keras.layers.Activation("relu", name=f"relu_{index}")(norm(index)(h))
    if normalization == "virtual":
        h = DropReferenceBatch(reference_size, name="drop_reference_batch")(h)
    images = WeightNormConv2DTranspose(3, 5, strides=2, padding="half", activation="tanh", train_scale=True,
                                       init_scale=0.1, dtype=OUTPUT_DTYPE, name="output")(h)
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
        h = GaussianNoise(0.2, name="input_noise")(x)
    index = 0
    for block, width in enumerate((w1, w2), start=1):
        for stride in (1, 1, 2):
            index += 1
            h = WeightNormConv2D(width, 3, strides=stride, padding="half", activation="leaky_relu",
                                 name=f"conv_{index}")(h)
        h = keras.layers.Dropout(0.5, name=f"dropout_{block}")(h)
    h = WeightNormConv2D(w2, 3, padding="valid", activation="leaky_relu", name="conv_7")(h)
    h = WeightNormDense(w2, activation="leaky_relu", name="nin_1")(h)
    h = WeightNormDense(w2, activation="leaky_relu", name="nin_2")(h)
    features = keras.layers.GlobalAveragePooling2D(dtype=OUTPUT_DTYPE, name="global_pool")(h)
    h = features
    if minibatch_kernels:
        h = MinibatchDiscrimination(minibatch_kernels, dtype=OUTPUT_DTYPE, name="minibatch")(h)
    logits = WeightNormDense(num_classes, train_scale=True, init_scale=0.1, dtype=OUTPUT_DTYPE, name="logits")(h)
    return keras.Model(x, [logits, features], name=name)


# ------------------------------------------------------------------------------------------ experiments


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What distinguishes the four original scripts."""

    name: str
    dataset: str                 #: "cifar10" or "svhn"
    generator_loss: str          #: "feature_matching" or "minibatch"
    discriminator_widths: tuple
    input_noise: str
    minibatch_kernels: int
    epochs: int
    ramp_epochs: int             #: lr = learning_rate * min(3 - epoch / ramp_epochs, 1)
    count: int                   #: labelled examples per class
    evaluation_tail: str         #: see improved_gan_tf2.data.pipeline.evaluation_dataset
    samples_png: str             #: the file name the original wrote its samples to

    @property
    def generator_steps(self):
        return 3 if self.generator_loss == "minibatch" else 1

    @property
    def unlabelled_copies(self):
        """The feature-matching scripts keep a second unlabelled copy for the generator; the others do not."""
        return 2 if self.generator_loss == "feature_matching" else 1

    def learning_rate(self, base, epoch):
        """The original's ramp-down: ``base * min(3 - epoch / ramp_epochs, 1)`` (0 at ``3 * ramp_epochs``)."""
        return base * min(3.0 - epoch / float(self.ramp_epochs), 1.0)


EXPERIMENTS = {
    e.name: e for e in (
        Experiment("cifar_feature_matching", "cifar10", "feature_matching", (96, 192), "dropout", 0, 1200, 400,
                   400, "drop", "cifar_sample_feature_match.png"),
        Experiment("cifar_minibatch_discrimination", "cifar10", "minibatch", (96, 192), "gaussian", 100, 1200, 400,
                   400, "drop", "cifar10_sample_minibatch.png"),
        Experiment("svhn_feature_matching", "svhn", "feature_matching", (64, 128), "dropout", 0, 900, 300, 100,
                   "overlap_predictions", "svhn_sample_feature_match.png"),
        Experiment("svhn_minibatch_discrimination", "svhn", "minibatch", (96, 192), "gaussian", 100, 900, 300, 100,
                   "overlap_batches", "svhn_sample_minibatch.png"),
    )
}


def cifar_svhn_gan(experiment, unlabeled_weight=1.0, learning_rate=0.0003, seed=None, jit_compile=False,
                   width_scale=1.0, batch_size=100, virtual_batch_norm=False, label_smoothing=0.0,
                   use_labels=True, historical_averaging=0.0, minibatch_features=True):
    """The compiled model of one of the four scripts (``experiment``: a key of :data:`EXPERIMENTS` or an
    :class:`Experiment`): its networks, its generator loss (feature matching with the L1 norm, or the
    minibatch loss with three generator updates per discriminator update), the original's Adam (beta1 = 0.5).

    ``width_scale`` multiplies every layer width (1: the original; small values make quick tests).
    The remaining arguments serve the Table 3 ablations and default to the released code:
    ``virtual_batch_norm`` (generator normalization, reference batch of ``batch_size``), ``label_smoothing``,
    ``use_labels``, ``historical_averaging`` (see ``SemiSupervisedGAN``) and ``minibatch_features`` (False
    drops the discriminator's minibatch layer, keeping the minibatch generator loss).
    """
    from improved_gan_tf2.models.semi_supervised import SemiSupervisedGAN
    from improved_gan_tf2.optimizers import OriginalAdam

    spec = EXPERIMENTS[experiment] if isinstance(experiment, str) else experiment
    generator = cifar_svhn_generator(
        [scaled_width(w, width_scale) for w in GENERATOR_WIDTHS],
        normalization="virtual" if virtual_batch_norm else "batch", reference_size=batch_size,
    )
    discriminator = cifar_svhn_discriminator(
        [scaled_width(w, width_scale) for w in spec.discriminator_widths], input_noise=spec.input_noise,
        minibatch_kernels=spec.minibatch_kernels if minibatch_features else 0,
    )
    gan = SemiSupervisedGAN(
        generator, discriminator, noise_dim=NOISE_DIM, unlabeled_weight=unlabeled_weight,
        generator_loss=spec.generator_loss, feature_norm="l1", generator_steps=spec.generator_steps, seed=seed,
        label_smoothing=label_smoothing, use_labels=use_labels, historical_averaging=historical_averaging,
    )
    gan.compile(OriginalAdam(learning_rate), OriginalAdam(learning_rate), jit_compile=jit_compile)
    return gan


def init_batch(x_lab, first_epoch, size=500):
    """The original's data-dependent-init batch for CIFAR-10/SVHN: the first ``size`` rows of epoch 0's tiled,
    shuffled labelled set (``trainx[:500]``); ``first_epoch`` is that epoch's ``EpochIndices``."""
    return np.asarray(x_lab)[first_epoch.lab_idx[:size]]


def fit_cifar_svhn(experiment, run, data, labelled, make_epoch_order, *, unlabeled_weight, learning_rate, seed,
                   batch_size, epochs, jit_compile=False, width_scale=1.0, **ablations):
    """The CIFAR-10/SVHN scripts' training: :func:`cifar_svhn_gan` of ``experiment``, init on the first 500 of
    epoch 0's tiled labelled set, the original's epoch order, the learning-rate ramp-down, the experiment's test
    evaluation and sample grid. ``make_epoch_order()`` returns a fresh ``OriginalEpochOrder`` (called once for the
    init batch, once for training); ``ablations`` go to :func:`cifar_svhn_gan`. Returns the run's summary."""
    from improved_gan_tf2.training import fit_semi_supervised

    spec = EXPERIMENTS[experiment] if isinstance(experiment, str) else experiment
    x_init = init_batch(labelled.x_lab, make_epoch_order().next_epoch())
    gan = cifar_svhn_gan(spec, unlabeled_weight, learning_rate, seed, jit_compile, width_scale=width_scale,
                         batch_size=batch_size, **ablations)
    return fit_semi_supervised(
        gan, run,
        x_lab=labelled.x_lab, y_lab=labelled.y_lab, x_unl=data["x_train"], x_test=data["x_test"],
        y_test=data["y_test"], x_init=x_init, epoch_order=make_epoch_order(), batch_size=batch_size, epochs=epochs,
        learning_rate_schedule=lambda epoch: spec.learning_rate(learning_rate, epoch),
        make_grid=sample_grid(spec), evaluation_tail=spec.evaluation_tail,
    )


# ------------------------------------------------------------------------------------------ sample grids


def cifar_sample_grid(samples):
    """The CIFAR scripts' grid: ``img_tile`` of the first 100 samples, stretched to [0, 1] as a whole,
    about square, 1-pixel white borders (the original then drew it with matplotlib under a title)."""
    return tile_images(np.asarray(samples)[:100], aspect_ratio=1.0, border_color=1.0, stretch_values=True)


def svhn_sample_grid(samples, rows=10):
    """The SVHN scripts' grid: the first 100 samples, sample ``k`` in row ``k % 10`` and column ``k // 10``, no
    borders, stretched to [0, 1] as a whole (``scipy.misc.imsave`` scaled the minimum to 0 and the maximum
    to 255). With fewer than 100 samples (the original needed 100) the columns are completed with blank images
    at the samples' minimum."""
    samples = np.asarray(samples, np.float64)[:rows * rows]
    missing = (-len(samples)) % rows
    if missing:
        samples = np.concatenate([samples, np.full((missing,) + samples.shape[1:], samples.min())])
    return stretch(column_major_grid(samples, rows=rows))


def sample_grid(experiment):
    spec = EXPERIMENTS[experiment] if isinstance(experiment, str) else experiment
    return cifar_sample_grid if spec.dataset == "cifar10" else svhn_sample_grid


def flops_per_example(generator, discriminator):
    """Multiply-adds of one example's forward pass through each network's convolutions and dense layers:
    ``(generator, discriminator)``. Used by ``benchmarks/cifar_step.py``."""
    def count(model):
        total = 0
        for layer in model.layers:
            if isinstance(layer, (WeightNormConv2D,)):
                _, h, w, c = layer.output.shape
                kh, kw = layer.kernel_size
                total += h * w * c * kh * kw * layer.input.shape[-1]
            elif isinstance(layer, (Deconv2D, WeightNormConv2DTranspose)):
                _, h, w, c = layer.input.shape  # each input pixel scatters a k x k x out patch
                kh, kw = layer.kernel_size
                total += h * w * c * kh * kw * layer.filters
            elif isinstance(layer, (WeightNormDense, keras.layers.Dense)):
                spatial = math.prod(layer.output.shape[1:-1]) if len(layer.output.shape) > 2 else 1
                total += spatial * layer.input.shape[-1] * layer.output.shape[-1]
            elif isinstance(layer, MinibatchDiscrimination):
                total += layer.input.shape[-1] * layer.num_kernels * layer.dim_per_kernel
        return int(total)

    return count(generator), count(discriminator)
