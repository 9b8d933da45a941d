"""SemiSupervisedGAN: one train_step is one iteration of the original loop (checked against a step-by-step
recomputation with the NumPy Adam of nn.py), and test_step measures the averaged parameters."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import numpy_reference as ref
from improved_gan_tf2 import losses
from improved_gan_tf2.layers import MinibatchDiscrimination
from improved_gan_tf2.models.semi_supervised import SemiSupervisedGAN, mixes_examples
from improved_gan_tf2.networks.mnist import mnist_discriminator, mnist_generator
from improved_gan_tf2.optimizers import OriginalAdam

NOISE, DIM, CLASSES, BATCH = 3, 5, 3, 6
LR = float(np.float32(0.01))  # keras keeps the learning rate in float32


def tiny_networks(seed=0):
    keras.utils.set_random_seed(seed)
    z = keras.Input((NOISE,))
    generator = keras.Model(z, keras.layers.Dense(DIM, activation="sigmoid")(keras.layers.Dense(4, activation="tanh")(z)))
    x = keras.Input((DIM,))
    features = keras.layers.Dense(4, activation="relu")(x)
    discriminator = keras.Model(x, [keras.layers.Dense(CLASSES)(features), features])
    return generator, discriminator


def make_gan(joint=None, generator_loss="feature_matching", generator_steps=1, unlabeled_weight=0.7):
    generator, discriminator = tiny_networks()
    gan = SemiSupervisedGAN(generator, discriminator, noise_dim=NOISE, unlabeled_weight=unlabeled_weight,
                            generator_loss=generator_loss, feature_norm="l2", generator_steps=generator_steps,
                            joint_discriminator_pass=joint, seed=42)
    gan.compile(OriginalAdam(LR), OriginalAdam(LR))
    return gan


def batch(rng):
    return (rng.rand(BATCH, DIM).astype(np.float32), rng.randint(0, CLASSES, BATCH).astype(np.int32),
            rng.rand(BATCH, DIM).astype(np.float32), rng.rand(BATCH, DIM).astype(np.float32))


def one_step(gan, data):
    gan.fit(tf.data.Dataset.from_tensors(data), epochs=1, verbose=0, shuffle=False)


def numpy_forward(weights, x):
    """Dense(4, relu) -> Dense(3) with weights [w1, b1, w2, b2]; returns (logits, features)."""
    w1, b1, w2, b2 = weights
    features = np.maximum(x @ w1 + b1, 0)
    return features @ w2 + b2, features


@pytest.mark.parametrize("joint", [True, False])
def test_train_step_is_one_iteration_of_the_original_loop(rng, joint):
    data = batch(rng)
    x_lab, y_lab, x_unl, x_unl2 = data
    gan = make_gan(joint=joint)
    d_vars, g_vars = gan.discriminator.trainable_variables, gan.generator.trainable_variables
    d0 = [v.numpy().astype(np.float64) for v in d_vars]
    g0 = [v.numpy().astype(np.float64) for v in g_vars]
    # the model's noise: the same seed generator, drawn in the same order (discriminator step, then generator)
    seeds = keras.random.SeedGenerator(42)
    z_disc = keras.random.uniform((BATCH, NOISE), seed=seeds).numpy()
    z_gen = keras.random.uniform((BATCH, NOISE), seed=seeds).numpy()

    one_step(gan, data)

    # discriminator: loss_lab + w * loss_unl on (labelled, unlabelled, generated) batches, one Adam step
    def d_grads(params):
        variables = [tf.Variable(p) for p in params]
        with tf.GradientTape() as tape:
            l_lab = numpy_forward_tf(variables, x_lab)[0]
            l_unl = numpy_forward_tf(variables, x_unl)[0]
            l_gen = numpy_forward_tf(variables, generated)[0]
            loss = losses.supervised_loss(l_lab, y_lab) + 0.7 * losses.unsupervised_loss(l_unl, l_gen)
        return [g.numpy() for g in tape.gradient(loss, variables)]

    # the generator's weights are still the initial ones when the discriminator step draws its batch
    for v, w in zip(g_vars, g0):
        v.assign(w)
    generated = gan.generator(z_disc).numpy().astype(np.float64)
    d1 = ref.adam_updates(d0, d_grads, steps=1, lr=LR)
    # generator: feature matching against the UPDATED discriminator on the second unlabelled batch
    real_features = numpy_forward(d1, x_unl2)[1]

    def g_grads(params):
        variables = [tf.Variable(p) for p in params]
        with tf.GradientTape() as tape:
            h = tf.tanh(tf.matmul(z_gen.astype(np.float64), variables[0]) + variables[1])
            fake = tf.sigmoid(tf.matmul(h, variables[2]) + variables[3])
            fake_features = numpy_forward_tf([tf.constant(p) for p in d1], fake)[1]
            loss = losses.feature_matching_loss(real_features, fake_features, "l2")
        return [g.numpy() for g in tape.gradient(loss, variables)]

    g1 = ref.adam_updates(g0, g_grads, steps=1, lr=LR)
    for got, want in zip(d_vars, d1):
        np.testing.assert_allclose(got.numpy(), want, rtol=2e-4, atol=1e-6)
    # the generator's variables were reset above to compute the reference: compare a second, identical run
    gan2 = make_gan(joint=joint)
    one_step(gan2, data)
    for got, want in zip(gan2.generator.trainable_variables, g1):
        np.testing.assert_allclose(got.numpy(), want, rtol=2e-4, atol=1e-6)
    # the parameter average moved once, from zero, toward the parameters BEFORE the step's Adam update (Theano
    # applies all updates of train_batch_disc at once): a = 1e-4 * p0, not 1e-4 * p1
    for average, before, after in zip(gan2.parameter_average.values(), d0, d1):
        np.testing.assert_allclose(average.numpy(), 1e-4 * before, rtol=2e-4, atol=1e-10)
        assert not np.allclose(average.numpy(), 1e-4 * after, rtol=1e-6, atol=0)
    assert int(gan2.discriminator_optimizer.iterations.numpy()) == 1
    assert int(gan2.generator_optimizer.iterations.numpy()) == 1


def numpy_forward_tf(variables, x):
    w1, b1, w2, b2 = variables
    features = tf.nn.relu(tf.matmul(tf.cast(x, w1.dtype), w1) + b1)
    return tf.matmul(features, w2) + b2, features


def test_joint_and_separate_discriminator_passes_agree(rng):
    data = batch(rng)
    joint, separate = make_gan(joint=True), make_gan(joint=False)
    for _ in range(3):
        one_step(joint, data)
        one_step(separate, data)
    for a, b in zip(joint.discriminator.weights + joint.generator.weights,
                    separate.discriminator.weights + separate.generator.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_test_step_reports_the_averaged_and_the_raw_parameters(rng):
    gan = make_gan()
    one_step(gan, batch(rng))
    x, y = rng.rand(40, DIM).astype(np.float32), rng.randint(0, CLASSES, 40).astype(np.int32)
    result = gan.evaluate(tf.data.Dataset.from_tensor_slices((x, y)).batch(20), return_dict=True, verbose=0)
    averaged = [a.numpy() for a in gan.parameter_average.values()]
    raw = [v.numpy() for v in gan.discriminator.trainable_variables]
    assert result["test_err"] == pytest.approx(np.mean(numpy_forward(averaged, x)[0].argmax(1) != y))
    assert result["test_err_raw"] == pytest.approx(np.mean(numpy_forward(raw, x)[0].argmax(1) != y))
    np.testing.assert_allclose(gan(x).numpy(), numpy_forward(averaged, x)[0], rtol=1e-4, atol=1e-7)


def test_minibatch_loss_takes_generator_steps_per_discriminator_step(rng):
    gan = make_gan(generator_loss="minibatch", generator_steps=3)
    one_step(gan, batch(rng))
    assert int(gan.discriminator_optimizer.iterations.numpy()) == 1
    assert int(gan.generator_optimizer.iterations.numpy()) == 3


def test_zero_unlabeled_weight_trains_on_labels_only(rng):
    """--unlabeled_weight=0: the discriminator's update depends on the labelled batch alone."""
    x_lab, y_lab, x_unl, x_unl2 = batch(rng)
    a, b = make_gan(unlabeled_weight=0.0), make_gan(unlabeled_weight=0.0)
    one_step(a, (x_lab, y_lab, x_unl, x_unl2))
    one_step(b, (x_lab, y_lab, rng.rand(BATCH, DIM).astype(np.float32), x_unl2))
    for u, v in zip(a.discriminator.trainable_variables, b.discriminator.trainable_variables):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-6)


def test_mixes_examples_decides_the_joint_pass():
    assert not mixes_examples(mnist_discriminator())
    x = keras.Input((6,))
    h = MinibatchDiscrimination(4)(x)
    assert mixes_examples(keras.Model(x, [keras.layers.Dense(3)(h), h]))
    gan = SemiSupervisedGAN(mnist_generator(), mnist_discriminator())
    assert gan.joint_discriminator_pass


def test_bad_arguments_are_rejected():
    generator, discriminator = tiny_networks()
    with pytest.raises(ValueError, match="generator_loss"):
        SemiSupervisedGAN(generator, discriminator, generator_loss="wasserstein")
    with pytest.raises(ValueError, match="generator_steps"):
        SemiSupervisedGAN(generator, discriminator, generator_steps=0)
