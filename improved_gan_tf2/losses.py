"""Losses of the semi-supervised GAN (paper Sec. 3 and 5) as the original scripts compute them.

The discriminator has K class logits ``l``; the (K+1)-th "generated" logit is fixed at 0, so
``D(x) = Z(x) / (Z(x) + 1)`` with ``Z(x) = sum_k exp(l_k(x))`` (paper Sec. 5). ``lse`` below is
``log Z``. Ports of the cost expressions in ``mnist_svhn_cifar10/train_*.py`` and of
``sigmoid_kl_with_logits`` in ``imagenet/model.py``. All return scalars (means over the batch) except
:func:`sigmoid_kl_with_logits`, which is elementwise like the original.
"""
import numpy as np
import tensorflow as tf


def log_sum_exp(logits, axis=-1):
    """``log sum_k exp(l_k)``, the original's max-shifted ``nn.log_sum_exp``."""
    return tf.reduce_logsumexp(logits, axis=axis)


def supervised_loss(logits, labels):
    """Cross-entropy of the K real classes: ``-mean(l[y]) + mean(lse(l))`` (``loss_lab``)."""
    logits = tf.convert_to_tensor(logits)
    labels = tf.cast(labels, tf.int32)
    picked = tf.gather(logits, labels, axis=1, batch_dims=1)
    return -tf.reduce_mean(picked) + tf.reduce_mean(log_sum_exp(logits))


def unsupervised_loss(logits_unl, logits_gen):
    """Real-vs-generated loss with the fixed zero logit (``loss_unl``).

    ``-0.5 mean(lse(l_unl)) + 0.5 mean(softplus(lse(l_unl))) + 0.5 mean(softplus(lse(l_gen)))``,
    i.e. ``-0.5 E log D(x) - 0.5 E log(1 - D(G(z)))``.
    """
    lse_unl = log_sum_exp(logits_unl)
    lse_gen = log_sum_exp(logits_gen)
    return (
        -0.5 * tf.reduce_mean(lse_unl)
        + 0.5 * tf.reduce_mean(tf.nn.softplus(lse_unl))
        + 0.5 * tf.reduce_mean(tf.nn.softplus(lse_gen))
    )


def feature_matching_loss(real_features, fake_features, norm="l2"):
    """Feature matching (paper Sec. 3.1) on batch means of an intermediate layer.

    ``norm="l2"``: ``mean((m_real - m_fake)^2)`` (MNIST, on the last hidden layer);
    ``norm="l1"``: ``mean(|m_real - m_fake|)`` (CIFAR-10 and SVHN, on the global-pool output).
    """
    difference = tf.reduce_mean(real_features, axis=0) - tf.reduce_mean(fake_features, axis=0)
    if norm == "l2":
        return tf.reduce_mean(tf.square(difference))
    if norm == "l1":
        return tf.reduce_mean(tf.abs(difference))
    raise ValueError(f"norm must be 'l2' (MNIST) or 'l1' (CIFAR-10/SVHN), got {norm!r}.")


def minibatch_generator_loss(logits_gen):
    """The minibatch-discrimination models' generator loss, ``-mean(softplus(lse(l_gen)))``."""
    return -tf.reduce_mean(tf.nn.softplus(log_sum_exp(logits_gen)))


def sigmoid_kl_with_logits(logits, target):
    """KL divergence between Bernoulli(``target``) and Bernoulli(sigmoid(``logits``)), elementwise.

    Sigmoid cross-entropy minus the target's entropy, so its minimum is 0 also for soft targets. With
    ``target = 1 - 0.25`` on real data it is one-sided label smoothing (paper Sec. 3.4); the ImageNet
    generator uses ``target = 0.375``. ``target`` is one Python float, as in ``imagenet/model.py``.
    """
    target = float(target)
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target must be a probability in [0, 1], got {target}.")
    entropy = 0.0 if target in (0.0, 1.0) else -target * np.log(target) - (1.0 - target) * np.log(1.0 - target)
    logits = tf.convert_to_tensor(logits)
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), tf.cast(target, logits.dtype)),
                                                   logits=logits) - tf.cast(entropy, logits.dtype)


def classification_error(logits, labels):
    """Fraction of rows whose arg-max logit is not the label (``train_err``, ``test_err``)."""
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.reduce_mean(tf.cast(tf.not_equal(predictions, tf.cast(labels, tf.int32)), tf.float32))


def historical_averaging_penalty(variables, averages):
    """Historical averaging (paper Sec. 3.3): ``sum_i ||theta_i - (1/t) sum_{s<=t} theta_i[s]||^2``.

    Not in the released code: the paper describes the term and Table 3 reports a run with it. Here
    ``averages`` are the running means of the parameters over past steps (see
    :class:`improved_gan_tf2.optimizers.HistoricalAverage`); the penalty is the squared L2 distance of the
    current parameters from them, summed over all parameters, to be added to a player's cost.
    """
    return tf.add_n([tf.reduce_sum(tf.square(v - tf.convert_to_tensor(a))) for v, a in zip(variables, averages)])
