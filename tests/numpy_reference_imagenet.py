"""NumPy transcriptions of what ``openai/improved-gan``'s ``imagenet/`` code computes, written from its definitions
(``ops.py``, ``discriminator.py``, ``build_model.py``, ``model.py``, ``utils.py``,
``convert_imagenet_to_records.py``), in float64 and the original's own step order.
"""
import math

import numpy as np


def moments(x, axes):
    """tf.nn.moments: mean and biased variance."""
    mean = x.mean(axis=axes)
    return mean, ((x - mean) ** 2).mean(axis=axes)


def batch_norm_with_global_normalization(x, mean, var, beta, gamma, eps):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def batch_norm_cross(x, gamma0, beta0, gamma1, beta1, eps=1e-5):
    """ops.batch_norm_cross.__call__ (rank 2 is reshaped to N x 1 x 1 x C there)."""
    rank2 = x.ndim == 2
    if rank2:
        x = x[:, None, None, :]
    n, c = x.shape[0], x.shape[3]
    ch0 = x[:, :, :, : c // 2]
    ch1 = x[:, :, :, c // 2: 2 * (c // 2)]
    ch0b0 = ch0[: n // 2]
    ch1b1 = ch1[n // 2:]
    m0, v0 = moments(ch0b0, (0, 1, 2))
    m1, v1 = moments(ch1b1, (0, 1, 2))
    out = np.concatenate(
        [batch_norm_with_global_normalization(ch0, m0, v0, beta0, gamma0, eps),
         batch_norm_with_global_normalization(ch1, m1, v1, beta1, gamma1, eps)], axis=3)
    return out[:, 0, 0, :] if rank2 else out


def halved_minibatch_features(h, matrix, bias, n_kernels, dim_per_kernel):
    """discriminator.py from ``x = linear(h, n_kernels * dim_per_kernel, scope="d_h")`` to
    ``x = tf.concat(1, [h] + minibatch_features)``, with ``self.batch_size = n // 2``."""
    batch_size = h.shape[0]
    half_size = batch_size // 2
    x = h @ matrix + bias
    activation = x.reshape(batch_size, n_kernels, dim_per_kernel)
    big = np.zeros((batch_size, batch_size)) + np.eye(batch_size)
    big = big[:, None, :]
    abs_dif = np.abs(activation[:, :, :, None] - activation.transpose(1, 2, 0)[None]).sum(axis=2)
    mask = 1.0 - big
    masked = np.exp(-abs_dif) * mask

    def half(t, second):
        return t[:, :, second * half_size:(second + 1) * half_size]

    f1 = half(masked, 0).sum(axis=2) / half(mask, 0).sum()
    f2 = half(masked, 1).sum(axis=2) / half(mask, 1).sum()
    return np.concatenate([h, f1, f2], axis=1)


def gan_logits(class_logits):
    """discriminator.py: max-shifted log-sum-exp of the positive classes minus the generated-class logit."""
    positive = class_logits[:, :-1]
    generated = class_logits[:, -1]
    mx = positive.max(axis=1, keepdims=True)
    return np.log(np.exp(positive - mx).sum(axis=1)) + mx[:, 0] - generated


def sigmoid_cross_entropy_with_logits(logits, targets):
    return np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))


def sigmoid_kl_with_logits(logits, target):
    """model.sigmoid_kl_with_logits."""
    entropy = 0.0 if target in (0.0, 1.0) else -target * np.log(target) - (1.0 - target) * np.log(1.0 - target)
    return sigmoid_cross_entropy_with_logits(logits, np.ones_like(logits) * target) - entropy


def build_model_losses(class_logits, labels, d_label_smooth=0.25, generator_target_prob=0.375):
    """build_model_single_gpu's losses on one tower (``batch_size`` real rows, then as many generated)."""
    b = labels.shape[0]
    logits = gan_logits(class_logits)
    d_on_data_logits, d_on_g_logits = logits[:b], logits[b:]
    real_class_logits = class_logits[:b]
    d_loss_real = sigmoid_kl_with_logits(d_on_data_logits, 1.0 - d_label_smooth).mean()
    lse = np.log(np.exp(real_class_logits - real_class_logits.max(1, keepdims=True)).sum(1)) \
        + real_class_logits.max(1)
    d_loss_class = (lse - real_class_logits[np.arange(b), labels]).mean()
    d_loss_fake = sigmoid_cross_entropy_with_logits(d_on_g_logits, np.zeros_like(d_on_g_logits)).mean()
    g_loss = sigmoid_kl_with_logits(d_on_g_logits, generator_target_prob).mean()
    error_rate = 1.0 - np.mean([real_class_logits[i, labels[i]] >= real_class_logits[i].max() for i in range(b)])
    return dict(d_loss=d_loss_real + d_loss_fake + d_loss_class, g_loss=g_loss, d_loss_real=d_loss_real,
                d_loss_fake=d_loss_fake, d_loss_class=d_loss_class, error_rate=error_rate)


def running_error_rate(error_rates):
    """build_model.py's ``avg_error_rate`` after each of ``error_rates`` (tower 0's)."""
    avg, num, out = 0.0, 0.0, []
    for e in error_rates:
        num += 1.0
        tc = max(0.01, 1.0 / num)
        avg = (1.0 - tc) * avg + tc * e
        out.append(avg)
    return out


def tf1_adam(params, grads_fn, steps, lr, beta1=0.5, beta2=0.999, eps=1e-8):
    """tf.train.AdamOptimizer: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t m / (sqrt(v) + eps)."""
    params = [p.astype(np.float64).copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        grads = grads_fn(params)
        lr_t = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        for k, g in enumerate(grads):
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v[k] = beta2 * v[k] + (1 - beta2) * g * g
            params[k] = params[k] - lr_t * m[k] / (np.sqrt(v[k]) + eps)
    return params


# ---------------------------------------------------------------------- utils.py and the converter


def py2_round(x):
    """Python 2's round(): halves away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def scipy_bytescale(data):
    """scipy.misc.bytescale(data) with its defaults (cmin = min, cmax = max, low 0, high 255)."""
    if data.dtype == np.uint8:
        return data
    cmin, cmax = data.min(), data.max()
    cscale = cmax - cmin
    if cscale == 0:
        cscale = 1
    scale = float(255 - 0) / cscale
    bytedata = (data - cmin) * scale + 0
    return (bytedata.clip(0, 255) + 0.5).astype(np.uint8)


def scipy_imresize(arr, size):
    """scipy.misc.imresize(arr, [size, size]) (interp='bilinear'): toimage (bytescale) then PIL resize."""
    from PIL import Image

    image = Image.fromarray(scipy_bytescale(arr))
    return np.array(image.resize((size, size), resample=2))  # 2: PIL's BILINEAR


def get_image_for_records(img_float, imsize=128):
    """utils.get_image(f, IMSIZE, is_crop=True, resize_w=IMSIZE) on scipy.misc.imread's float array, then
    colorize and the uint8 conversion of convert_imagenet_to_records.py."""
    h, w = img_float.shape[:2]
    crop_h = min(h, w)
    crop_w = crop_h
    j = int(py2_round((h - crop_h) / 2.0))
    i = int(py2_round((w - crop_w) / 2.0))
    cropped_image = scipy_imresize(img_float[j:j + crop_h, i:i + crop_w], imsize)
    image = np.array(cropped_image) / 127.5 - 1.0
    if image.ndim == 2:  # colorize
        image = image.reshape(image.shape[0], image.shape[1], 1)
        image = np.concatenate([image, image, image], axis=2)
    image += 1.0
    image *= 255.0 / 2.0
    return image.astype("uint8")


def merge(images, size):
    """utils.merge (images already in [0, 1] after inverse_transform)."""
    h, w = images.shape[1], images.shape[2]
    img = np.zeros((h * size[0], w * size[1], 3))
    for idx, image in enumerate(images):
        i = idx % size[1]
        j = idx // size[1]
        img[j * h:j * h + h, i * w:i * w + w, :] = image
    return img
