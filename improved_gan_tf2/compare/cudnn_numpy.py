"""cuDNN's convolution semantics in NumPy: the specification ``dropins/cudnn_standins.py`` must meet.

NCHW images, kernels ``(O, C, kh, kw)``. ``conv_mode="cross"`` is a cross-correlation (what
``Conv2DDNNLayer`` computes by default), ``"conv"`` flips the kernel. ``pad`` is applied on both sides of each
axis; the output has ``(in + 2 pad - k) // stride + 1`` rows and columns. :func:`conv2d_grad_input` is that
convolution's gradient with respect to its input, i.e. its transpose (cuDNN's ``dnn_gradinput``, the
original's deconvolution).
"""
import numpy as np


def _pair(value):
    return (int(value), int(value)) if np.isscalar(value) else tuple(int(v) for v in value)


def _border(border_mode, kernel_hw):
    if border_mode == "valid":
        return (0, 0)
    if border_mode == "full":
        return (kernel_hw[0] - 1, kernel_hw[1] - 1)
    if border_mode == "half":
        return (kernel_hw[0] // 2, kernel_hw[1] // 2)
    return _pair(border_mode)


def output_size(size, kernel, pad, stride):
    return (size + 2 * pad - kernel) // stride + 1


def _patches(x, kh, kw, stride):
    """(n, c, oh, ow, kh, kw) view of the padded ``x``."""
    n, c, h, w = x.shape
    sh, sw = stride
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, c, oh, ow, kh, kw), (s[0], s[1], s[2] * sh, s[3] * sw, s[2], s[3]), writeable=False)


def conv2d(x, w, border_mode="valid", stride=(1, 1), conv_mode="cross"):
    """``dnn_conv(x, w, border_mode, subsample=stride, conv_mode)`` in float64."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    if conv_mode == "conv":
        w = w[:, :, ::-1, ::-1]
    elif conv_mode != "cross":
        raise ValueError(f"conv_mode must be 'conv' or 'cross', got {conv_mode!r}")
    kh, kw = w.shape[2:]
    ph, pw = _border(border_mode, (kh, kw))
    xp = np.ascontiguousarray(np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))))
    return np.einsum("ncijuv,ocuv->noij", _patches(xp, kh, kw, _pair(stride)), w, optimize=True)


def conv2d_grad_input(w, top, input_shape, border_mode="valid", stride=(1, 1), conv_mode="cross"):
    """The gradient of :func:`conv2d` with respect to its input of shape ``input_shape`` (N, C, H, W), given the
    output gradient ``top``: each output position scatters ``top * kernel`` back onto the window it read."""
    w = np.asarray(w, np.float64)
    top = np.asarray(top, np.float64)
    if conv_mode == "conv":
        w = w[:, :, ::-1, ::-1]
    n, c, h, wd = (int(d) for d in input_shape)
    kh, kw = w.shape[2:]
    ph, pw = _border(border_mode, (kh, kw))
    sh, sw = _pair(stride)
    oh, ow = top.shape[2:]
    if (oh, ow) != (output_size(h, kh, ph, sh), output_size(wd, kw, pw, sw)):
        raise ValueError(f"top {top.shape} does not fit the convolution of an input {tuple(input_shape)}")
    padded = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    contribution = np.einsum("noij,ocuv->ncijuv", top, w, optimize=True)
    for u in range(kh):
        for v in range(kw):
            padded[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw] += contribution[:, :, :, :, u, v]
    return padded[:, :, ph:ph + h, pw:pw + wd]
