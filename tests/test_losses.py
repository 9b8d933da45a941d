"""Losses against NumPy transcriptions of the original scripts' cost expressions."""
import numpy as np
import pytest
import tensorflow as tf

import numpy_reference as ref
from improved_gan_tf2 import losses


def test_supervised_loss(rng):
    logits, labels = rng.randn(20, 10) * 3, rng.randint(0, 10, 20)
    expected = -np.mean(logits[np.arange(20), labels]) + np.mean(ref.lse(logits))
    np.testing.assert_allclose(losses.supervised_loss(logits, labels).numpy(), expected, rtol=1e-10)
    # it is the ordinary cross-entropy of the K classes
    xent = tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(losses.supervised_loss(logits, labels).numpy(), np.mean(xent), rtol=1e-6)


def test_unsupervised_loss(rng):
    l_unl, l_gen = rng.randn(20, 10) * 3, rng.randn(30, 10) * 3 - 2
    lse_unl, lse_gen = ref.lse(l_unl), ref.lse(l_gen)
    expected = -0.5 * lse_unl.mean() + 0.5 * ref.softplus(lse_unl).mean() + 0.5 * ref.softplus(lse_gen).mean()
    np.testing.assert_allclose(losses.unsupervised_loss(l_unl, l_gen).numpy(), expected, rtol=1e-10)
    # the same thing as -0.5 E log D(x) - 0.5 E log(1 - D(G(z))) with D = Z / (Z + 1)
    d_unl, d_gen = 1 / (1 + np.exp(-lse_unl)), 1 / (1 + np.exp(-lse_gen))
    np.testing.assert_allclose(expected, -0.5 * np.log(d_unl).mean() - 0.5 * np.log(1 - d_gen).mean(), rtol=1e-8)


def test_unsupervised_loss_is_stable_for_large_logits():
    value = losses.unsupervised_loss(tf.constant([[500.0, 0.0]]), tf.constant([[-500.0, 0.0]]))
    assert np.isfinite(value.numpy())


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_feature_matching_loss(rng, norm):
    real, fake = rng.randn(20, 7), rng.randn(30, 7) + 0.3
    diff = real.mean(0) - fake.mean(0)
    expected = np.mean(diff ** 2) if norm == "l2" else np.mean(np.abs(diff))
    np.testing.assert_allclose(losses.feature_matching_loss(real, fake, norm).numpy(), expected, rtol=1e-10)


def test_feature_matching_rejects_unknown_norm():
    with pytest.raises(ValueError, match="norm must be"):
        losses.feature_matching_loss(np.zeros((2, 2)), np.zeros((2, 2)), norm="l3")


def test_minibatch_generator_loss(rng):
    l_gen = rng.randn(20, 10) * 2
    expected = -np.mean(ref.softplus(ref.lse(l_gen)))
    np.testing.assert_allclose(losses.minibatch_generator_loss(l_gen).numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("target", [0.0, 0.375, 0.75, 1.0])
def test_sigmoid_kl_with_logits(rng, target):
    logits = rng.randn(50) * 4
    p = 1 / (1 + np.exp(-logits))
    xent = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    entropy = 0.0 if target in (0, 1) else -(target * np.log(target) + (1 - target) * np.log(1 - target))
    out = losses.sigmoid_kl_with_logits(logits, target).numpy()
    np.testing.assert_allclose(out, xent - entropy, rtol=1e-7, atol=1e-10)
    assert out.shape == (50,)
    if 0 < target < 1:  # a KL divergence: zero where sigmoid(logit) equals the target
        at_target = np.log(target / (1 - target))
        np.testing.assert_allclose(losses.sigmoid_kl_with_logits([at_target], target).numpy(), 0.0, atol=1e-7)
    assert np.all(out >= -1e-7)


def test_sigmoid_kl_rejects_non_probabilities():
    with pytest.raises(ValueError, match="probability"):
        losses.sigmoid_kl_with_logits([0.0], 1.5)


def test_classification_error(rng):
    logits, labels = rng.randn(40, 10), rng.randint(0, 10, 40)
    np.testing.assert_allclose(losses.classification_error(logits, labels).numpy(),
                               np.mean(logits.argmax(1) != labels), rtol=1e-6)


def test_historical_averaging_penalty(rng):
    params = [rng.randn(3, 4), rng.randn(5)]
    history = [[rng.randn(3, 4), rng.randn(5)] for _ in range(6)]
    averages = [np.mean([h[k] for h in history], axis=0) for k in range(2)]
    expected = sum(((p - a) ** 2).sum() for p, a in zip(params, averages))
    value = losses.historical_averaging_penalty([tf.constant(p) for p in params], averages)
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-10)
