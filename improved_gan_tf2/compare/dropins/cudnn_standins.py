"""CPU stand-ins for ``lasagne.layers.dnn`` (cuDNN), for running the original Theano scripts without a GPU.

Written for improved-gan-tf2's comparison tool (``python -m improved_gan_tf2.compare setup`` copies this file
next to the patched copy of the original scripts). Semantics are cuDNN's:

- ``dnn_conv(img, kerns, border_mode, subsample, conv_mode)``: ``conv_mode='cross'`` is a cross-correlation
  (no kernel flip), ``'conv'`` a true convolution (kernel flipped); ``border_mode`` is ``'valid'``, ``'full'``,
  ``'half'`` or an explicit ``(pad_h, pad_w)`` applied on both sides; ``subsample`` is the stride. Output size
  ``(in + 2 pad - k) // stride + 1``, as cuDNN.
- ``dnn_gradinput(kerns, topgrad, img_shp, ...)``: the gradient of that convolution with respect to its input
  (the "deconvolution"), computed by Theano's ``conv2d_grad_wrt_inputs``.
- ``Conv2DDNNLayer``: Lasagne's layer of that name (same parameters ``W (O, C, kh, kw)``, ``b``, same
  ``pad``/``stride`` rules, ``flip_filters=False`` by default), convolving with ``dnn_conv``.

Importing this module uses the real ``lasagne.layers.dnn`` when it imports (a GPU with cuDNN); otherwise it
registers itself as ``lasagne.layers.dnn`` so that code reaching ``lasagne.layers.dnn.<name>`` finds the
stand-ins. ``dnn`` is whichever of the two is in use; ``USING_STANDINS`` says which. Set
``IGAN_FORCE_CUDNN_STANDINS=1`` to use the stand-ins even where cuDNN is available.
"""
import os
import sys

import theano.tensor as T
from theano.tensor.nnet.abstract_conv import conv2d_grad_wrt_inputs

import lasagne
from lasagne.layers.conv import BaseConvLayer
from lasagne.utils import as_tuple  # noqa: F401  (lasagne.layers.dnn exports it; the original nn.py uses it)


def _border_mode(border_mode):
    if isinstance(border_mode, str):
        if border_mode not in ("valid", "full", "half"):
            raise ValueError("border_mode must be 'valid', 'full', 'half' or a pair of ints, got %r" % (border_mode,))
        return border_mode
    if isinstance(border_mode, int):
        return (border_mode, border_mode)
    return tuple(int(b) for b in border_mode)


def _flip(conv_mode):
    if conv_mode not in ("conv", "cross"):
        raise ValueError("conv_mode must be 'conv' or 'cross', got %r" % (conv_mode,))
    return conv_mode == "conv"


def dnn_conv(img, kerns, border_mode="valid", subsample=(1, 1), dilation=(1, 1), conv_mode="conv",
             direction_hint=None, workmem=None, algo=None, precision=None, num_groups=1):
    """cuDNN's ``dnn_conv`` on the CPU (NCHW images, ``(O, C, kh, kw)`` kernels)."""
    return T.nnet.conv2d(img, kerns, border_mode=_border_mode(border_mode), subsample=tuple(subsample),
                         filter_flip=_flip(conv_mode), filter_dilation=tuple(dilation), num_groups=num_groups)


def dnn_gradinput(kerns, topgrad, img_shp, border_mode="valid", subsample=(1, 1), dilation=(1, 1),
                  conv_mode="conv", alg=None, num_groups=1):
    """The gradient of ``dnn_conv(img, kerns, ...)`` with respect to ``img`` (of shape ``img_shp``)."""
    return conv2d_grad_wrt_inputs(topgrad, kerns, input_shape=tuple(img_shp), border_mode=_border_mode(border_mode),
                                  subsample=tuple(subsample), filter_flip=_flip(conv_mode),
                                  filter_dilation=tuple(dilation), num_groups=num_groups)


class Conv2DDNNLayer(BaseConvLayer):
    """``lasagne.layers.dnn.Conv2DDNNLayer`` computed with :func:`dnn_conv` (cross-correlation by default)."""

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1), pad=0, untie_biases=False,
                 W=lasagne.init.GlorotUniform(), b=lasagne.init.Constant(0.),
                 nonlinearity=lasagne.nonlinearities.rectify, flip_filters=False, num_groups=1, **kwargs):
        super(Conv2DDNNLayer, self).__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b,
                                             nonlinearity, flip_filters, num_groups, n=2, **kwargs)

    def convolve(self, input, **kwargs):
        pad = self.pad
        if pad == "same":
            pad = tuple(k // 2 for k in self.filter_size)  # what the cuDNN layer passes on
        return dnn_conv(input, self.W, border_mode=pad, subsample=self.stride,
                        conv_mode="conv" if self.flip_filters else "cross", num_groups=self.num_groups)


def _real_dnn():
    if os.environ.get("IGAN_FORCE_CUDNN_STANDINS"):
        return None
    try:
        from lasagne.layers import dnn as real
        return real
    except Exception:  # ImportError without a GPU; Theano may raise others
        return None


_REAL = _real_dnn()
USING_STANDINS = _REAL is None
if USING_STANDINS:
    dnn = sys.modules[__name__]
    sys.modules["lasagne.layers.dnn"] = dnn
    lasagne.layers.dnn = dnn
else:
    dnn = _REAL
