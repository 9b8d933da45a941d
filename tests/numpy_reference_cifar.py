"""NumPy forward passes of the original CIFAR-10 / SVHN networks, in Theano/Lasagne conventions.

Written from ``mnist_svhn_cifar10/nn.py`` and the ``train_{cifar,svhn}_*.py`` layer lists: NCHW activations,
Lasagne's parameter layouts and order (``ll.get_all_params``), cuDNN cross-correlation for the convolutions,
Theano's flipped-kernel ``half``-padded transposed convolution for the deconvolutions. Used to check that
``improved_gan_tf2.port`` loads the original's parameter files into the Keras models exactly.
"""
import numpy as np

from numpy_reference import conv2d_nchw, minibatch_features, theano_deconv_half


def lrelu(x, a=0.2):
    return np.maximum(x, a * x)


def _wn(v, g, axes, out_axis):
    """nn.WeightNormLayer: W = V * g / sqrt(1e-6 + sum(V^2)) with g broadcast along the output axis."""
    shape = [1] * v.ndim
    shape[out_axis] = -1
    return v * g.reshape(shape) / np.sqrt(1e-6 + (v ** 2).sum(axis=axes, keepdims=True))


# ------------------------------------------------------------------------------------------ parameter lists


def random_discriminator_params(rng, widths=(96, 192), minibatch_kernels=0, num_classes=10, in_channels=3):
    """Random values for ``ll.get_all_params(disc_layers)`` (all parameters, Lasagne order) and the flags
    telling which are in the trainable list. Returns ``(arrays, trainable_mask)``."""
    w1, w2 = widths
    arrays, mask = [], []

    def wn(w_shape, units, train_g=False):
        arrays.extend([rng.normal(0, 0.05, w_shape), rng.normal(0, 0.1, units), rng.uniform(0.5, 2.0, units)])
        mask.extend([True, True, train_g])

    channels = in_channels
    for width in (w1, w1, w1, w2, w2, w2, w2):  # conv_1..conv_7: W (O, C, 3, 3)
        wn((width, channels, 3, 3), width)
        channels = width
    wn((w2, w2), w2)  # nin_1: W (C, O)
    wn((w2, w2), w2)  # nin_2
    inputs = w2
    if minibatch_kernels:
        arrays.extend([rng.normal(0, 0.05, (w2, minibatch_kernels, 5)),
                       rng.normal(-1.0, 0.1, (minibatch_kernels, 5)), rng.normal(-1.0, 0.1, minibatch_kernels)])
        mask.extend([True, True, True])
        inputs += minibatch_kernels
    wn((inputs, num_classes), num_classes, train_g=True)
    return [a.astype(np.float32) for a in arrays], mask


def random_generator_params(rng, widths=(512, 256, 128), noise_dim=100):
    """Random values for ``ll.get_all_params(gen_layers)``; returns ``(arrays, trainable_mask)``. The batch
    norms' running averages (not trainable, never used) come last in each batch-norm layer."""
    w0, w1, w2 = widths
    arrays = [rng.normal(0, 0.05, (noise_dim, w0 * 16)), rng.normal(0, 0.1, w0 * 16),  # dense W, bn b
              np.zeros(w0 * 16), np.ones(w0 * 16),                                       # avg mean, var
              rng.normal(0, 0.05, (w0, w1, 5, 5)), rng.normal(0, 0.1, w1), np.zeros(w1), np.ones(w1),
              rng.normal(0, 0.05, (w1, w2, 5, 5)), rng.normal(0, 0.1, w2), np.zeros(w2), np.ones(w2),
              rng.normal(0, 0.05, (w2, 3, 5, 5)), rng.normal(0, 0.1, 3), rng.uniform(0.5, 2.0, 3)]
    mask = [True, True, False, False] * 3 + [True, True, True]
    return [a.astype(np.float32) for a in arrays], mask


# ------------------------------------------------------------------------------------------ forward passes


def discriminator_forward(params, x, minibatch=False):
    """``ll.get_output(disc_layers[-1], x, deterministic=True)`` (no dropout, no noise): logits ``(N, K)``
    and the global-pool features, from the full parameter list and NCHW images ``x``."""
    p = [np.asarray(a, np.float64) for a in params]
    h = np.asarray(x, np.float64)
    i = 0
    for stride, pad in ((1, 1), (1, 1), (2, 1), (1, 1), (1, 1), (2, 1), (1, 0)):
        v, b, g = p[i:i + 3]
        i += 3
        h = lrelu(conv2d_nchw(h, _wn(v, g, (1, 2, 3), 0), stride, pad) + b[None, :, None, None])
    for _ in range(2):  # NINLayer: out[n, o, y, x] = sum_c h[n, c, y, x] W[c, o]
        v, b, g = p[i:i + 3]
        i += 3
        h = lrelu(np.einsum("ncyx,co->noyx", h, _wn(v, g, 0, 1)) + b[None, :, None, None])
    features = h.mean(axis=(2, 3))
    h = features
    if minibatch:
        h = minibatch_features(h, p[i], p[i + 1], p[i + 2])[0]
        i += 3
    v, b, g = p[i:i + 3]
    logits = h @ _wn(v, g, 0, 1) + b
    assert i + 3 == len(p)
    return logits, features


def generator_forward(params, z):
    """``ll.get_output(gen_layers[-1])`` for noise ``z``: NCHW images; the batch norms use the batch's
    statistics (biased variance, 1e-6 in the root), as always in the original. ``params``: the trainable list
    (``gen_params.npz``)."""
    p = [np.asarray(a, np.float64) for a in params]
    w_dense, b1, w_d1, b2, w_d2, b3, v_out, b_out, g_out = p

    def bn(h, b, axes):
        m = h.mean(axis=axes, keepdims=True)
        var = ((h - m) ** 2).mean(axis=axes, keepdims=True)
        shape = [1] * h.ndim
        shape[1] = -1
        return (h - m) / np.sqrt(1e-6 + var) + b.reshape(shape)

    n = z.shape[0]
    h = np.maximum(bn(np.asarray(z, np.float64) @ w_dense, b1, (0,)), 0)
    h = h.reshape(n, w_d1.shape[0], 4, 4)
    h = np.maximum(bn(theano_deconv_half(h, w_d1, 2, (8, 8)), b2, (0, 2, 3)), 0)
    h = np.maximum(bn(theano_deconv_half(h, w_d2, 2, (16, 16)), b3, (0, 2, 3)), 0)
    w = _wn(v_out, g_out, (0, 2, 3), 1)
    return np.tanh(theano_deconv_half(h, w, 2, (32, 32)) + b_out[None, :, None, None])
