"""NumPy transcriptions of what ``openai/improved-gan`` computes, written from its definitions.

Kept in the original's conventions where those are the trap (NCHW, Lasagne/Theano kernel layouts, Theano's
flipped convolution and ``half`` padding); tests convert layouts explicitly.
"""
import numpy as np


def lse(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def softplus(x):
    return np.logaddexp(0.0, x)


def weight_norm(v, g, axes, eps=1e-6, out_axis=-1):
    """nn.py: W = V * g / sqrt(eps + sum(V^2)) with the sum over ``axes``; ``g`` broadcast on ``out_axis``."""
    shape = [1] * v.ndim
    shape[out_axis] = -1
    return v * g.reshape(shape) / np.sqrt(eps + (v ** 2).sum(axis=axes, keepdims=True))


def init_pass(pre_activation, axes, init_scale=1.0):
    """WeightNormLayer.get_output_for(init=True): returns (output, new bias, factor multiplying g)."""
    m = pre_activation.mean(axis=axes, keepdims=True)
    centred = pre_activation - m
    inv = init_scale / np.sqrt((centred ** 2).mean(axis=axes, keepdims=True))
    return centred * inv, (-m * inv).reshape(-1), inv.reshape(-1)


def conv2d_nchw(x, w, stride, pad):
    """Lasagne Conv2DDNNLayer (cuDNN cross-correlation, no flip): x (N,C,H,W), w (O,C,kh,kw)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("ncuv,ocuv->no", patch, w)
    return out


def theano_deconv_half(x, w, stride, out_hw):
    """nn.Deconv2DLayer: AbstractConv2d_gradInputs(border_mode='half', filter_flip=True).

    x (N, O, h, w) is the forward convolution's output; w (O, C, k, k) in Lasagne's layout. The forward
    convolution of an image (N, C, H, W) is a true convolution (flipped kernel) with padding k//2 on both
    sides; this is its transpose: each input pixel scatters ``x * W[o, c, k-1-u, k-1-v]`` to padded position
    ``(stride*i + u, stride*j + v)``.
    """
    n, o, h, wd = x.shape
    _, c, kh, kw = w.shape
    ph, pw = kh // 2, kw // 2
    img = np.zeros((n, c, out_hw[0] + 2 * ph, out_hw[1] + 2 * pw))
    wf = w[:, :, ::-1, ::-1]
    for i in range(h):
        for j in range(wd):
            for u in range(kh):
                for v in range(kw):
                    img[:, :, stride * i + u, stride * j + v] += np.einsum("no,oc->nc", x[:, :, i, j], wf[:, :, u, v])
    return img[:, :, ph:ph + out_hw[0], pw:pw + out_hw[1]]


def minibatch_features(x, theta, log_weight_scale, b, init=False):
    """nn.MinibatchLayer.get_output_for; returns (output, new log_weight_scale, new b) (the last two on init)."""
    x = x.reshape(x.shape[0], -1)
    w = theta * (np.exp(log_weight_scale) / np.sqrt((theta ** 2).sum(axis=0)))[None]
    act = np.tensordot(x, w, axes=[[1], [0]])  # n B C
    abs_dif = np.abs(act[:, :, :, None] - act.transpose(1, 2, 0)[None]).sum(axis=2)  # n B n
    abs_dif = abs_dif + 1e6 * np.eye(x.shape[0])[:, None, :]
    if init:
        mmd = 0.5 * abs_dif.min(axis=2).mean(axis=0)
        abs_dif = abs_dif / mmd[None, :, None]
        log_weight_scale = log_weight_scale - np.log(mmd)[:, None]
    f = np.exp(-abs_dif).sum(axis=2)
    if init:
        mf = f.mean(axis=0)
        f = f - mf
        b = -mf
    else:
        f = f + b
    return np.concatenate([x, f], axis=1), log_weight_scale, b


def vbn(x_ref, x_live, gamma, beta, eps=1e-5, log_scale=False, per_pixel=False):
    """imagenet/model.py VBN / VBNL / VBNLP on NHWC (rank-2 inputs are reshaped to N x 1 x 1 x C there)."""
    reshape = x_ref.ndim == 2
    if reshape:
        x_ref, x_live = x_ref[:, None, None, :], x_live[:, None, None, :]
    axes = (0,) if per_pixel else (0, 1, 2)
    mean = x_ref.mean(axis=axes, keepdims=True)
    mean_sq = (x_ref ** 2).mean(axis=axes, keepdims=True)
    g = np.exp(gamma) if log_scale else gamma

    def normalize(x, m, ms):
        return (x - m) / np.sqrt(eps + ms - m ** 2) * g + beta

    ref_out = normalize(x_ref, mean, mean_sq)
    c = 1.0 / (x_ref.shape[0] + 1.0)
    if per_pixel:
        new_m, new_ms = x_live, x_live ** 2
    else:
        new_m = x_live.mean(axis=(1, 2), keepdims=True)
        new_ms = (x_live ** 2).mean(axis=(1, 2), keepdims=True)
    live_out = normalize(x_live, c * new_m + (1 - c) * mean, c * new_ms + (1 - c) * mean_sq)
    if reshape:
        ref_out, live_out = ref_out[:, 0, 0], live_out[:, 0, 0]
    return ref_out, live_out


def generator_batch_norm(x, b, eps=1e-6):
    """nn.BatchNormLayer with g=None, not deterministic: batch mean, biased variance, eps inside the root."""
    axes = tuple(range(x.ndim - 1))
    m = x.mean(axis=axes)
    var = ((x - m) ** 2).mean(axis=axes)
    return (x - m) / np.sqrt(eps + var) + b


def adam_updates(params, grads_fn, steps, lr, mom1=0.5, mom2=0.999):
    """nn.adam_updates iterated ``steps`` times; ``grads_fn(params) -> grads``."""
    params = [p.astype(np.float64).copy() for p in params]
    v = [np.zeros_like(p) for p in params]
    mg = [np.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        grads = grads_fn(params)
        for k, g in enumerate(grads):
            v[k] = mom1 * v[k] + (1 - mom1) * g
            mg[k] = mom2 * mg[k] + (1 - mom2) * g ** 2
            v_hat = v[k] / (1 - mom1 ** t)
            mg_hat = mg[k] / (1 - mom2 ** t)
            params[k] = params[k] - lr * v_hat / np.sqrt(mg_hat + 1e-8)
    return params


def mrg_normal(flattened_uniforms, size, avg=0.0, std=1.0):
    """Theano's ``MRG_RandomStreams.normal`` given the uniform draw it makes: ``n`` evened up, the first half
    ``U1`` and the second half ``U2``, ``sqrt(-2 ln U1) cos(2 pi U2)`` joined with ``... sin(2 pi U2)``, the
    extra sample dropped, reshaped, ``avg + std * samples``."""
    n = int(np.prod(size))
    n_samples = n + n % 2
    assert flattened_uniforms.shape == (n_samples,)
    u1, u2 = flattened_uniforms[:n_samples // 2], flattened_uniforms[n_samples // 2:]
    sqrt_ln_u1 = np.sqrt(-2.0 * np.log(u1))
    samples = np.concatenate([sqrt_ln_u1 * np.cos(2.0 * np.pi * u2), sqrt_ln_u1 * np.sin(2.0 * np.pi * u2)])
    return avg + std * samples[:n].reshape(size)


def original_labelled_and_epochs(x, y, seed, seed_data, count, epochs, *, labels_by="seed_data", tiling="floor",
                                 unlabelled_copies=2, init_batch="permuted", y_true=None):
    """What the original ``train_*.py`` scripts do with ``--seed`` and ``--seed_data``, transcribed from their
    code: ``rng = RandomState(seed)`` seeds Theano's and Lasagne's RNGs with two ``randint(2 ** 15)`` draws; the
    labelled examples are the first ``count`` of each class after a permutation by ``RandomState(seed_data)``
    (``labels_by="seed_data"``), by ``rng`` itself (``"seed"``, the minibatch CIFAR script), or masked by the
    UNPERMUTED true labels ``y_true`` while indexing the permuted arrays (``"custom"``, the custom-labels script);
    every epoch tiles the labelled set ``n // n_lab`` (floor) or ``ceil(n / n_lab)`` times, each copy permuted by
    ``rng``, then permutes the unlabelled copies (one or two) by ``rng``, cumulatively. The init batch is
    ``trainx[:500]`` where the script calls ``init_param``: the permuted training set ("permuted") or epoch 0's
    tiled labelled set ("first_epoch").

    Returns ``(txs, epochs_out, init)``: the labelled examples in order, and per epoch ``(labelled rows in order,
    unlabelled rows, second unlabelled rows)``."""
    x, y = np.asarray(x), np.asarray(y)
    n = len(x)
    rng = np.random.RandomState(seed)
    rng.randint(2 ** 15)  # MRG_RandomStreams(rng.randint(2 ** 15))
    rng.randint(2 ** 15)  # lasagne.random.set_rng(np.random.RandomState(rng.randint(2 ** 15)))
    data_rng = rng if labels_by == "seed" else np.random.RandomState(seed_data)
    inds = data_rng.permutation(n)
    trainx, trainy = x[inds], y[inds]
    mask_labels = np.asarray(y_true) if labels_by == "custom" else trainy
    txs = np.concatenate([trainx[mask_labels == j][:count] for j in range(10)], axis=0)
    trainx_unl, trainx_unl2 = x.copy(), x.copy()
    epochs_out = []
    for _ in range(epochs):
        reps = n // len(txs) if tiling == "floor" else int(np.ceil(n / float(len(txs))))
        lab = np.concatenate([txs[rng.permutation(len(txs))] for _ in range(reps)], axis=0)
        trainx_unl = trainx_unl[rng.permutation(n)]
        if unlabelled_copies == 2:
            trainx_unl2 = trainx_unl2[rng.permutation(n)]
        epochs_out.append((lab, trainx_unl, trainx_unl2 if unlabelled_copies == 2 else trainx_unl))
    init = trainx[:500] if init_batch == "permuted" else epochs_out[0][0][:500]
    return txs, epochs_out, init
