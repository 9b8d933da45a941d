"""The MNIST networks of ``train_mnist_feature_matching.py`` (and ``train_mnist_fm_custom_labels.py``).

Generator: z (100, U(0, 1)) -> dense 500 + batch norm + softplus -> dense 500 + batch norm + softplus ->
``l2normalize``-d dense 784 + sigmoid (pixels in [0, 1]).
Discriminator: Gaussian noise 0.3 -> four-plus-one weight-normalized dense layers (1000, 500, 250, 250, 250; ReLU)
each followed by Gaussian noise 0.5 -> weight-normalized dense 10 with a trainable scale. Feature matching uses
the output of the last hidden layer (the original's ``layers[-3]``), before its noise.
"""
import keras
import numpy as np

from improved_gan_tf2.layers import GaussianNoise, GeneratorBatchNorm, L2NormalizedDense, MnistWeightNormDense
from improved_gan_tf2.plotting import tile_images

NOISE_DIM = 100
IMAGE_DIM = 28 * 28


def mnist_generator(noise_dim=NOISE_DIM, name="mnist_generator"):
    """The MNIST generator; call it with ``training=True`` or not: its batch norm always uses the batch."""
    z = keras.Input((noise_dim,), name="z")
    h = z
    for index in (1, 2):
        # Lasagne DenseLayer (Glorot-uniform W) whose bias nn.batch_norm removed; softplus after the norm.
        h = keras.layers.Dense(500, use_bias=False, name=f"dense_{index}")(h)
        h = GeneratorBatchNorm(name=f"batch_norm_{index}")(h)
        h = keras.layers.Activation("softplus", name=f"softplus_{index}")(h)
    images = L2NormalizedDense(IMAGE_DIM, activation="sigmoid", name="output")(h)
    return keras.Model(z, images, name=name)


def mnist_discriminator(num_classes=10, hidden_units=(1000, 500, 250, 250, 250), name="mnist_discriminator"):
    """The MNIST discriminator. Returns a model mapping images ``(n, 784)`` to ``[logits, features]``."""
    x = keras.Input((IMAGE_DIM,), name="images")
    h = GaussianNoise(0.3, name="input_noise")(x)
    features = None
    for index, units in enumerate(hidden_units, start=1):
        features = MnistWeightNormDense(units, activation="relu", name=f"dense_{index}")(h)
        h = GaussianNoise(0.5, name=f"noise_{index}")(features)
    logits = MnistWeightNormDense(num_classes, activation=None, train_scale=True, name="logits")(h)
    return keras.Model(x, [logits, features], name=name)


def mnist_feature_matching_gan(unlabeled_weight=1.0, learning_rate=0.003, seed=None, jit_compile=False):
    """The compiled model of the MNIST scripts: these networks, feature matching with the L2 norm, and the
    original's Adam (beta1 = 0.5) for both players."""
    from improved_gan_tf2.models.semi_supervised import SemiSupervisedGAN
    from improved_gan_tf2.optimizers import OriginalAdam

    gan = SemiSupervisedGAN(mnist_generator(), mnist_discriminator(), unlabeled_weight=unlabeled_weight,
                            generator_loss="feature_matching", feature_norm="l2", seed=seed)
    gan.compile(OriginalAdam(learning_rate), OriginalAdam(learning_rate), jit_compile=jit_compile)
    return gan


def mnist_sample_grid(samples):
    """A 10x10 grid of the first 100 generated digits (values in [0, 1])."""
    return tile_images(np.asarray(samples)[:100].reshape(-1, 28, 28), tile_shape=(10, 10))


def fit_mnist_feature_matching(run, labelled, x_unl, x_test, y_test, *, seed, unlabeled_weight, learning_rate,
                               batch_size, epochs, jit_compile=False):
    """The MNIST scripts' training: their GAN, init on the first 500 permuted training images, the original's
    epoch order (labelled set tiled ``len(x_unl) // len(x_lab)`` times), a constant learning rate, a 10x10 grid.
    ``labelled`` is a :func:`~improved_gan_tf2.data.select_labelled` result; returns the run's summary."""
    from improved_gan_tf2.data import OriginalEpochOrder
    from improved_gan_tf2.training import fit_semi_supervised

    gan = mnist_feature_matching_gan(unlabeled_weight, learning_rate, seed, jit_compile)
    return fit_semi_supervised(
        gan, run,
        x_lab=labelled.x_lab, y_lab=labelled.y_lab, x_unl=x_unl, x_test=x_test, y_test=y_test,
        x_init=labelled.x_permuted[:500],
        epoch_order=OriginalEpochOrder(seed, len(labelled.x_lab), len(x_unl), tiling="floor"),
        batch_size=batch_size, epochs=epochs,
        learning_rate_schedule=lambda epoch: learning_rate,
        make_grid=mnist_sample_grid,
    )
