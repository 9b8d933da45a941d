"""Losses of the semi-supervised GAN (paper Sec. 3 and 5) as the original scripts compute them.

The discriminator has K class logits ``l``; the (K+1)-th "generated" logit is fixed at 0, so
``D(x) = Z(x) / (Z(x) + 1)`` with ``Z(x) = sum_k exp(l_k(x))`` (paper Sec. 5). ``lse`` below is
``log Z``. Ports of the cost expressions in ``mnist_svhn_cifar10/train_*.py`` and of
``sigmoid_kl_with_logits`` in ``imagenet/model.py``, and the ImageNet model's four losses
(``imagenet/build_model.py``). All return scalars (means over the batch) except :func:`sigmoid_kl_with_logits`
and :func:`gan_logits`, which are per example like the original.
"""
import numpy as np
import tensorflow as tf

#: One-sided label smoothing: the real examples' target ``1 - 0.25``, the only smoothing value in the authors'
#: code (``d_label_smooth=.25`` of ``imagenet/model.py``; used for the CIFAR-10 Table 3 runs as well).
PAPER_LABEL_SMOOTHING = 0.25
#: The ImageNet generator's target probability for its samples being real (``imagenet/build_model.py``).
IMAGENET_GENERATOR_TARGET = 0.75 / 2.0


def log_sum_exp(logits, axis=-1):
    """``log sum_k exp(l_k)``, the original's max-shifted ``nn.log_sum_exp``."""
    return tf.reduce_logsumexp(logits, axis=axis)


def supervised_loss(logits, labels):
    """Cross-entropy of the K real classes: ``-mean(l[y]) + mean(lse(l))`` (``loss_lab``)."""
    logits = tf.convert_to_tensor(logits)
    labels = tf.cast(labels, tf.int32)
    picked = tf.gather(logits, labels, axis=1, batch_dims=1)
    return -tf.reduce_mean(picked) + tf.reduce_mean(log_sum_exp(logits))


def unsupervised_loss(logits_unl, logits_gen, label_smoothing=0.0):
    """Real-vs-generated loss with the fixed zero logit (``loss_unl``).

    ``-0.5 mean(lse(l_unl)) + 0.5 mean(softplus(lse(l_unl))) + 0.5 mean(softplus(lse(l_gen)))``,
    i.e. ``-0.5 E log D(x) - 0.5 E log(1 - D(G(z)))``.

    ``label_smoothing`` (one-sided, paper Sec. 3.4; not in the released CIFAR/SVHN/MNIST code): with
    ``D(x) = sigmoid(lse(l(x)))`` the real examples' target becomes ``1 - label_smoothing`` and the generated
    ones' stays 0: ``0.5 mean(KL(Bernoulli(1 - a) || D(x_unl))) + 0.5 mean(softplus(lse(l_gen)))``, the KL of
    :func:`sigmoid_kl_with_logits`, as the ImageNet code writes its smoothed term. 0 gives exactly the expression
    above.
    """
    label_smoothing = float(label_smoothing)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
    lse_unl = log_sum_exp(logits_unl)
    lse_gen = log_sum_exp(logits_gen)
    if label_smoothing == 0.0:
        return (
            -0.5 * tf.reduce_mean(lse_unl)
            + 0.5 * tf.reduce_mean(tf.nn.softplus(lse_unl))
            + 0.5 * tf.reduce_mean(tf.nn.softplus(lse_gen))
        )
    real = sigmoid_kl_with_logits(lse_unl, 1.0 - label_smoothing)
    return 0.5 * tf.reduce_mean(real) + 0.5 * tf.reduce_mean(tf.nn.softplus(lse_gen))


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
    """Fraction of rows whose arg-max logit is not the label (``train_err``, ``test_err``), in float64 for float64
    logits (as the original computes it with ``floatX=float64``), else float32."""
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    errors = tf.cast(tf.not_equal(predictions, tf.cast(labels, tf.int32)), error_dtype(logits))
    return tf.reduce_mean(errors)


def error_dtype(logits):
    """The dtype errors and error rates are counted in: float64 for float64 logits, float32 otherwise."""
    return tf.float64 if logits.dtype == tf.float64 else tf.float32


def historical_averaging_penalty(variables, averages):
    """Historical averaging (paper Sec. 3.3): ``sum_i ||theta_i - (1/t) sum_{s<=t} theta_i[s]||^2``.

    Not in the released code: the paper describes the term and Table 3 reports a run with it. Here
    ``averages`` are the running means of the parameters over past steps (see
    :class:`improved_gan_tf2.optimizers.HistoricalAverage`); the penalty is the squared L2 distance of the
    current parameters from them, summed over all parameters, to be added to a player's cost.
    """
    return tf.add_n([tf.reduce_sum(tf.square(v - tf.convert_to_tensor(a))) for v, a in zip(variables, averages)])


def gan_logits(class_logits):
    """``log sum_{k < K} exp(l_k) - l_K``: the ImageNet discriminator's logit of "real" against its last,
    "generated", class (``build_model.py``)."""
    class_logits = tf.convert_to_tensor(class_logits)
    return tf.reduce_logsumexp(class_logits[:, :-1], axis=1) - class_logits[:, -1]


def imagenet_losses(class_logits, labels, label_smoothing=PAPER_LABEL_SMOOTHING,
                    generator_target_prob=IMAGENET_GENERATOR_TARGET):
    """The losses of ``imagenet/build_model.py`` on one tower's joint batch (real rows first, then as many
    generated).

    ``class_logits``: ``2h x (K + 1)``; ``labels``: the ``h`` real labels. With ``g = gan_logits``:
    ``d_loss_real = mean KL(1 - label_smoothing || sigmoid(g_real))`` (one-sided label smoothing),
    ``d_loss_fake = mean xent(0, sigmoid(g_fake))``, ``d_loss_class = mean softmax xent`` of the real rows'
    ``K + 1`` logits, ``d_loss`` their sum, ``g_loss = mean KL(generator_target_prob || sigmoid(g_fake))``,
    and ``error_rate``, the real rows' top-1 error.
    """
    class_logits = tf.convert_to_tensor(class_logits)
    labels = tf.cast(labels, tf.int32)
    half = tf.shape(labels)[0]
    logits = gan_logits(class_logits)
    real_logits, fake_logits = logits[:half], logits[half:]
    real_class_logits = class_logits[:half]
    d_loss_real = tf.reduce_mean(sigmoid_kl_with_logits(real_logits, 1.0 - label_smoothing))
    d_loss_fake = tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(fake_logits), logits=fake_logits)
    )
    d_loss_class = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=real_class_logits)
    )
    g_loss = tf.reduce_mean(sigmoid_kl_with_logits(fake_logits, generator_target_prob))
    correct = tf.cast(tf.math.in_top_k(labels, real_class_logits, 1), tf.float32)
    return {
        "d_loss": d_loss_real + d_loss_fake + d_loss_class,
        "g_loss": g_loss,
        "d_loss_real": d_loss_real,
        "d_loss_fake": d_loss_fake,
        "d_loss_class": d_loss_class,
        "error_rate": 1.0 - tf.reduce_mean(correct),
    }
