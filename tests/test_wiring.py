"""How the parts are wired, checked against references that do not call the code under test:

- the ``training`` value every network call of the models receives (discriminator step, generator step, feature
  passes, data-dependent init, test pass, sampling), for ``SemiSupervisedGAN`` and ``ImageNetGAN``: flipping any
  one of them (noise and dropout off while training, or on at test time) fails a test here;
- which examples each experiment labels and in which order it feeds them, with ``--seed`` and ``--seed_data`` set
  apart, against a transcription of the original scripts' code (``numpy_reference.original_labelled_and_epochs``);
- the test error of the averaged parameters (MNIST, CIFAR-10 and both SVHN evaluations) against NumPy forward
  passes of the networks with the averaged values, and the original's evaluation loops written out here.
"""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import numpy_reference as ref
import numpy_reference_cifar as cifar_ref
from helpers import build
from improved_gan_tf2 import experiments, port
from improved_gan_tf2.data.pipeline import evaluation_dataset
from improved_gan_tf2.models.imagenet import ImageNetGAN

# ============================================================================ the training flag of every call


def _spy(network, name, log):
    """Record ``(name, training)`` on every call of ``network`` (its ``call`` receives what the model passed)."""
    call = network.call

    def spied(*args, training=None, **kwargs):
        log.append((name, training))
        return call(*args, training=training, **kwargs)

    network.call = spied


def _semi_supervised(name, **options):
    keras.utils.set_random_seed(0)
    experiment = experiments.get_experiment(name)
    flags = dict(experiment.default_flags(), batch_size=8, seed=0, width_scale=0.0625)
    gan = experiments.build_model(experiment, flags, **options)
    log = []
    _spy(gan.generator, "G", log)
    _spy(gan.discriminator, "D", log)
    return gan, log


def _mnist_batches(rng, n=8):
    x = lambda: tf.constant(rng.rand(n, 784).astype(np.float32))  # noqa: E731
    return x(), tf.constant(rng.randint(0, 10, n).astype(np.int32)), x(), x()


@pytest.mark.parametrize("name,joint,expected_step", [
    # one discriminator pass for the three batches, then the real features and the generated batch
    ("train_mnist_feature_matching", True, [("G", True), ("D", True), ("D", True), ("G", True), ("D", True)]),
    ("train_mnist_feature_matching", False,
     [("G", True), ("D", True), ("D", True), ("D", True), ("D", True), ("G", True), ("D", True)]),
    # three generator updates on the minibatch loss
    ("train_mnist_minibatch_discrimination", None,
     [("G", True), ("D", True), ("D", True), ("D", True)] + [("G", True), ("D", True)] * 3),
])
def test_semi_supervised_passes_training_as_the_original(rng, name, joint, expected_step):
    """The original runs every training pass with noise and dropout on (``deterministic=False``), the init pass
    too, and the test pass with them off (``deterministic=True``); its generator always uses batch statistics."""
    options = {} if joint is None else dict(joint_discriminator_pass=joint)
    gan, log = _semi_supervised(name, **options)
    data = _mnist_batches(rng)
    gan.initialize(data[0], 8)
    assert log == [("G", True), ("D", True)]  # data-dependent init: noise active
    del log[:]
    gan.train_step(data)
    assert log == expected_step
    del log[:]
    gan.test_step(data[:2])
    assert log == [("D", False), ("D", False)]  # averaged, then raw parameters: no noise at test time
    del log[:]
    gan.sample(8)
    gan.sample(8, seed=3)
    assert log == [("G", True), ("G", True)]


def test_imagenet_passes_training_as_the_original(rng):
    keras.utils.set_random_seed(0)
    gan = ImageNetGAN(batch_size=2, z_dim=4, gf_dim=2, df_dim=2, image_size=32, num_classes=3, minibatch_kernels=2,
                      minibatch_kernel_dim=2, sample_size=4, seed=1, towers_per_replica=2)
    gan.compile(keras.optimizers.SGD(1e-4), keras.optimizers.SGD(1e-4))
    log = []
    _spy(gan.generator, "G", log)
    _spy(gan.discriminator, "D", log)
    images = tf.constant(rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32))
    gan.train_step((images, tf.constant([0, 1, 2, 0])))
    assert log == [("G", True), ("D", True)] * 2  # each tower: generator and joint discriminator, training
    del log[:]
    gan.sample()
    gan.sample(2, seed=5)
    assert log == [("G", False), ("G", False)]


# ============================================================================ labelled examples and epoch order


def _synthetic(n=240, seed=0):
    """``n`` examples whose single feature is their index, every class ``n / 10`` times (240: the floor tiling of
    40 labelled examples fills every batch of 10)."""
    labels = np.random.RandomState(seed).permutation(np.arange(n) % 10).astype(np.int32)
    return np.arange(n, dtype=np.float32)[:, None], labels


SEMI_SUPERVISED = sorted(name for name, e in experiments.EXPERIMENTS.items()
                         if isinstance(e, experiments.SemiSupervisedExperiment))


@pytest.mark.parametrize("name", SEMI_SUPERVISED)
def test_labelled_examples_and_epoch_order_follow_the_original_with_seeds_apart(name):
    experiment = experiments.get_experiment(name)
    x, y = _synthetic()
    y_true = np.random.RandomState(1).permutation(y)  # the custom-labels script: other true labels
    data = dict(x_train=x, y_train=y, x_test=x[:50], y_test=y[:50], y_train_true=y_true)
    experiment = dataclasses.replace(experiment, load_data=lambda flags: data)
    flags = dict(experiment.default_flags(), seed=3, count=4, batch_size=10, labels="unused")
    if "seed_data" in flags:
        flags["seed_data"] = 5
    prepared = experiments.prepare_data(experiment, flags)

    labels_by = experiment.labelled_choice
    txs, epochs, init = ref.original_labelled_and_epochs(
        x, y, 3, 5, 4, 3, labels_by=labels_by, tiling=experiment.tiling,
        unlabelled_copies=experiment.unlabelled_copies, init_batch=experiment.init_batch,
        y_true=y_true if labels_by == "custom" else None)
    np.testing.assert_array_equal(prepared.x_lab, txs)
    np.testing.assert_array_equal(x[prepared.run_files["labelled_indices.npy"]], txs)
    np.testing.assert_array_equal(prepared.x_init, init)
    order = prepared.make_epoch_order()
    for lab, unl, unl2 in epochs:
        epoch = order.next_epoch()
        np.testing.assert_array_equal(prepared.x_lab[epoch.lab_idx], lab)
        np.testing.assert_array_equal(prepared.x_unl[epoch.unl_idx], unl)
        np.testing.assert_array_equal(prepared.x_unl[epoch.unl2_idx], unl2)
    # the check tells the two seeds apart: with --seed_data taken for --seed (or the reverse) it fails
    other, _, _ = ref.original_labelled_and_epochs(x, y, 5, 3, 4, 1, labels_by=labels_by, y_true=y_true)
    assert not np.array_equal(other, txs)


# ============================================================================ test error of the averaged parameters


def _mnist_numpy_logits(params, x):
    """The MNIST discriminator without noise (``deterministic=True``), in NumPy: ``nn.DenseLayer`` weight norm
    ``W = V g / sqrt(sum V^2)``, ReLU on the hidden layers. ``params``: ``(V, g, b)`` per layer."""
    h = np.asarray(x, np.float64)
    for index, (v, g, b) in enumerate(params):
        w = v / np.sqrt((v.astype(np.float64) ** 2).sum(axis=0)) * g
        h = h @ w + b
        if index < len(params) - 1:
            h = np.maximum(h, 0)
    return h


def _averages_differ_from_the_parameters(gan, rng):
    """Averages of the trained values, then other raw parameters: the raw and averaged errors must differ."""
    for average, variable in zip(gan.parameter_average.averages, gan.discriminator.trainable_variables):
        average.assign(variable)
        variable.assign(variable + rng.normal(0, 0.5, variable.shape).astype(np.float32))


def test_mnist_test_error_is_that_of_the_averaged_parameters(rng):
    gan, _ = _semi_supervised("train_mnist_feature_matching")
    gan.initialize(rng.rand(100, 784).astype(np.float32), 8)
    _averages_differ_from_the_parameters(gan, rng)
    layers = [layer for layer in gan.discriminator.layers if hasattr(layer, "kernel")]
    averages = {id(v): a.numpy() for v, a in zip(gan.discriminator.trainable_variables,
                                                 gan.parameter_average.averages)}

    def value(variable):  # the average of a trained parameter; the raw value of a non-trainable scale
        return averages[id(variable)] if id(variable) in averages else variable.numpy()

    params = [(value(l.kernel), value(l.scale), value(l.bias)) for l in layers]
    n, b = 53, 10
    x = rng.rand(n, 784).astype(np.float32)
    logits = _mnist_numpy_logits(params, x)
    y = logits.argmax(1).astype(np.int32)
    y[::4] = (y[::4] + 1) % 10
    expected = np.mean(logits[:50].argmax(1) != y[:50])  # the original's nr_batches_test = 53 // 10 batches
    assert 0 < expected < 1
    dataset, count = evaluation_dataset(x, y, b)
    result = gan.evaluate(dataset, return_dict=True, verbose=0)
    assert count == 50 and result["test_err"] == pytest.approx(expected, abs=1e-6)
    assert result["test_err_raw"] != pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", ["train_cifar_feature_matching", "train_svhn_feature_matching",
                                  "train_svhn_minibatch_discrimination"])
def test_cifar_svhn_test_error_is_the_originals(rng, name):
    """The averaged parameters through a NumPy forward pass in Theano conventions, evaluated as the original
    loops do: CIFAR-10 full batches; SVHN feature matching writes each window's predictions into one array (the
    last window overwriting); SVHN minibatch averages the windows' errors (windows matter there: the minibatch
    features of an image depend on the other images of its window)."""
    experiment = experiments.get_experiment(name)
    keras.utils.set_random_seed(0)
    gan = build(name, width_scale=0.0625, batch_size=10)
    minibatch = experiment.generator_loss == "minibatch"
    gan.initialize(rng.uniform(-1, 1, (20, 32, 32, 3)).astype(np.float32), 10)
    # the averaged network's parameters in the original's layouts (the non-trainable scales are the raw ones)
    for average, variable in zip(gan.parameter_average.averages, gan.discriminator.trainable_variables):
        average.assign(variable)
    averaged = port.original_params(gan.discriminator)
    _averages_differ_from_the_parameters(gan, rng)

    n, b = 35, 10
    x = rng.uniform(-1, 1, (n, 32, 32, 3)).astype(np.float32)

    def logits(first, last):
        return cifar_ref.discriminator_forward(averaged, x[first:last].transpose(0, 3, 1, 2), minibatch)[0]

    y = logits(0, n).argmax(1).astype(np.int32) if not minibatch else rng.randint(0, 10, n).astype(np.int32)
    y[::3] = (y[::3] + 1) % 10
    windows = []  # the original's test loop: ceil(n / b) batches, the last ending at n
    for t in range(int(np.ceil(n / float(b)))):
        last = min((t + 1) * b, n)
        windows.append((last - b, last))
    if experiment.evaluation_tail == "drop":
        expected = np.mean([np.mean(logits(t * b, (t + 1) * b).argmax(1) != y[t * b:(t + 1) * b])
                            for t in range(n // b)])
        expected_count = (n // b) * b
    elif experiment.evaluation_tail == "overlap_predictions":
        predictions = np.zeros((n, 10))
        for first, last in windows:
            predictions[first:last] = logits(first, last)
        expected, expected_count = np.mean(predictions.argmax(1) != y), n
    else:
        expected = np.mean([np.mean(logits(first, last).argmax(1) != y[first:last]) for first, last in windows])
        expected_count = n
    dataset, count = evaluation_dataset(x, y, b, tail=experiment.evaluation_tail)
    result = gan.evaluate(dataset, return_dict=True, verbose=0)
    assert count == expected_count
    assert result["test_err"] == pytest.approx(expected, abs=1e-6)
    assert result["test_err_raw"] != pytest.approx(expected, abs=1e-6)
