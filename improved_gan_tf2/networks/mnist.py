"""The MNIST networks of ``train_mnist_feature_matching.py`` (and ``train_mnist_fm_custom_labels.py``).

Generator: z (100, U(0, 1)) -> dense 500 + batch norm + softplus -> dense 500 + batch norm + softplus ->
``l2normalize``-d dense 784 + sigmoid (pixels in [0, 1]).
Discriminator: Gaussian noise 0.3 -> four-plus-one weight-normalized dense layers (1000, 500, 250, 250, 250; ReLU)
each followed by Gaussian noise 0.5 -> weight-normalized dense 10 with a trainable scale. Feature matching uses
the output of the last hidden layer (the original's ``layers[-3]``), before its noise.
"""
import keras

from improved_gan_tf2.layers import (
    GaussianNoise,
    GeneratorBatchNorm,
    L2NormalizedDense,
    MinibatchDiscrimination,
    MnistWeightNormDense,
)

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


def mnist_discriminator(num_classes=10, hidden_units=(1000, 500, 250, 250, 250), minibatch_kernels=0,
                        name="mnist_discriminator"):
    """The MNIST discriminator. Returns a model mapping images ``(n, 784)`` to ``[logits, features]``.

    ``minibatch_kernels`` (0 in the original scripts): a ``MinibatchDiscrimination`` layer with that many kernels
    of 5 dimensions on the last hidden layer's output, in place of that layer's noise, before the logits (the
    paper's MNIST minibatch model, whose code was not released). Its features come from a noise-free layer, as
    in the CIFAR-10/SVHN discriminators: N(0, 0.5) noise on the 250 features would dominate the distances
    between examples."""
    x = keras.Input((IMAGE_DIM,), name="images")
    h = GaussianNoise(0.3, name="input_noise")(x)
    features = None
    for index, units in enumerate(hidden_units, start=1):
        features = MnistWeightNormDense(units, activation="relu", name=f"dense_{index}")(h)
        if minibatch_kernels and index == len(hidden_units):
            h = MinibatchDiscrimination(minibatch_kernels, name="minibatch")(features)
        else:
            h = GaussianNoise(0.5, name=f"noise_{index}")(features)
    logits = MnistWeightNormDense(num_classes, activation=None, train_scale=True, name="logits")(h)
    return keras.Model(x, [logits, features], name=name)
