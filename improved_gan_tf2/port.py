"""Parameters saved by the original Theano/Lasagne scripts, loaded into (and written from) these Keras models.

The original CIFAR-10 / SVHN scripts end with (commented out)::

    np.savez('disc_params.npz', *[p.get_value() for p in disc_params])
    np.savez('gen_params.npz', *[p.get_value() for p in gen_params])

with ``disc_params = ll.get_all_params(disc_layers, trainable=True)`` and ``gen_params =
ll.get_all_params(gen_layers, trainable=True)``: a ``.npz`` of ``arr_0, arr_1, ...`` in Lasagne's order -- layer
by layer from the input to the output, each layer's parameters in the order it added them. For the layers
involved (``nn.weight_norm`` deletes the wrapped layer's bias, ``nn.batch_norm`` likewise):

========================================  =====================================================================
original layer                            parameters, in order (``*``: not trainable, so not in those files)
========================================  =====================================================================
``Conv2DDNNLayer`` + ``WeightNormLayer``  ``W (O, C, kh, kw)``, ``b (O,)``, ``g (O,)*``
``NINLayer`` + ``WeightNormLayer``        ``W (C, O)``, ``b (O,)``, ``g (O,)*``
``DenseLayer`` + ``WeightNormLayer``      ``W (in, out)``, ``b``, ``g`` (trainable: ``train_g=True``)
``MinibatchLayer``                        ``theta (A, B, C)``, ``log_weight_scale (B, C)``, ``b (B,)``
``DenseLayer`` + ``BatchNormLayer``       ``W (100, 512*4*4)``, ``b``, ``avg_batch_mean*``, ``avg_batch_var*``
``Deconv2DLayer`` + ``BatchNormLayer``    ``W (C_in, C_out, 5, 5)``, ``b (C_out,)``, two averages*
``Deconv2DLayer`` + ``WeightNormLayer``   ``W (C_in, C_out, 5, 5)``, ``b``, ``g`` (``train_g=True``)
``nn.DenseLayer`` (MNIST discriminator)   ``theta (in, out)``, ``weight_scale*`` (trainable: last layer), ``b``
``DenseLayer`` + ``l2normalize`` (MNIST)  ``W (500, 784)``, ``b``, ``W_scale``
========================================  =====================================================================

Layout conversions (Theano/Lasagne NCHW to TensorFlow NHWC):

- convolution ``W[o, c, u, v]`` -> ``kernel[u, v, c, o]`` (cuDNN's ``Conv2DDNNLayer`` does not flip kernels, nor
  does ``tf.nn.conv2d``; Lasagne ``pad=1`` is the layers' ``padding="half"``);
- NIN and dense ``W[i, o]`` -> ``kernel[i, o]`` unchanged;
- deconvolution ``W[i, o, u, v]`` -> ``kernel[4 - u, 4 - v, o, i]``: Theano's ``border_mode='half'`` gradient
  convolves with the flipped kernel, so the array is flipped here for the layers' default ``flip_kernel=False``
  (a layer built with ``flip_kernel=True`` receives ``kernel[u, v, o, i]`` instead and flips at run time);
- the generator's first dense layer: its 8192 units are reshaped to NCHW ``(512, 4, 4)`` in the original and to
  NHWC ``(4, 4, 512)`` here, so its columns (and its batch norm's shift) are permuted from ``(c, h, w)`` to
  ``(h, w, c)`` order.

**The discriminator files are incomplete.** The weight-norm scales ``g`` of all but the last discriminator layer
are not trainable (``train_g=False``), so ``disc_params.npz`` lacks them, yet the data-dependent init set them
(``g *= init_stdv / std``): the trainable parameters alone do not determine the discriminator's output. Either
give the full list, ``ll.get_all_params(disc_layers)`` (what ``np.savez('disc_all_params.npz', *[p.get_value()
for p in ll.get_all_params(disc_layers)])`` writes; recognised by its length), or give the missing scales with
``scales=`` (in Lasagne order), or pass ``keep_missing_scales=True`` to leave the model's own scales in place
(which reproduces the original only if they happen to be equal). The generator's trainable list is complete:
its batch norms' running averages (in the full list, accepted and ignored) are never used, since the original
never runs its generator deterministically.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, List, Optional, Sequence, Union

import keras
import numpy as np

from improved_gan_tf2.layers import (
    Deconv2D,
    GeneratorBatchNorm,
    L2NormalizedDense,
    MinibatchDiscrimination,
    MnistWeightNormDense,
    VirtualBatchNorm,
    WeightNormConv2D,
    WeightNormConv2DTranspose,
    WeightNormDense,
)

ParamsLike = Union[str, os.PathLike, Sequence[np.ndarray]]


def _identity(a):
    return a


@dataclasses.dataclass
class Slot:
    """One parameter of the original, in Lasagne's order."""

    name: str                               #: e.g. "conv_1.W" (Keras layer name, original parameter name)
    variable: Optional[keras.Variable]       #: the Keras variable it maps to; None: read and ignored
    trainable: bool                         #: in the original's ``get_all_params(..., trainable=True)`` list
    to_keras: Callable = _identity           #: original array -> Keras value
    to_original: Callable = _identity        #: Keras value -> original array
    original_shape: Optional[tuple] = None   #: the shape the original's array has


def _conv_slots(layer):
    return [Slot(f"{layer.name}.W", layer.kernel, True, lambda a: np.transpose(a, (2, 3, 1, 0)),
                 lambda k: np.transpose(k, (3, 2, 0, 1)))]


def _deconv_converters(layer):
    if layer.flip_kernel:
        return (lambda a: np.transpose(a, (2, 3, 1, 0)), lambda k: np.transpose(k, (3, 2, 0, 1)))
    return (lambda a: np.transpose(a, (2, 3, 1, 0))[::-1, ::-1], lambda k: np.transpose(k[::-1, ::-1], (3, 2, 0, 1)))


def _weight_norm_tail(layer, scale_name="g"):
    """The bias ``b``, then the scale (``g``; ``W_scale`` for ``l2normalize``)."""
    return [
        Slot(f"{layer.name}.b", layer.bias, True),
        Slot(f"{layer.name}.{scale_name}", layer.scale, bool(layer.train_scale)),
    ]


def _nchw_unit_permutation(target_shape):
    """Keras unit ``j`` (NHWC order) takes the original's unit ``perm[j]`` (NCHW order)."""
    h, w, c = (int(d) for d in target_shape)
    return np.arange(h * w * c).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


def original_parameter_slots(model) -> List[Slot]:
    """The original's parameters of the network ``model`` stands for, in Lasagne's ``get_all_params`` order,
    each tied to its Keras variable and layout conversion. Works for the networks of
    :mod:`improved_gan_tf2.networks.cifar_svhn` (any widths, with or without minibatch features) and of
    :mod:`improved_gan_tf2.networks.mnist` (``nn.DenseLayer``: ``theta, weight_scale, b``; the generator's
    ``l2normalize``-d output layer: ``W, b, W_scale``; its dense + batch-norm layers as in the CIFAR generator)."""
    layers = list(model.layers)
    reshape = next((l for l in layers if isinstance(l, keras.layers.Reshape)), None)
    permutation = _nchw_unit_permutation(reshape.target_shape) if reshape is not None else None
    inverse = np.argsort(permutation) if permutation is not None else None
    slots: List[Slot] = []
    after_reshape = False
    for layer in layers:
        if isinstance(layer, keras.layers.Reshape):
            after_reshape = True
        elif isinstance(layer, VirtualBatchNorm) or getattr(layer, "reference_size", None) is not None:
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): the original CIFAR-10/SVHN "
                             "generator has no virtual batch norm, so there is nothing of the original to load.")
        elif isinstance(layer, WeightNormConv2D):
            slots += _conv_slots(layer) + _weight_norm_tail(layer)
        elif isinstance(layer, WeightNormConv2DTranspose):
            to_keras, to_original = _deconv_converters(layer)
            slots += [Slot(f"{layer.name}.W", layer.kernel, True, to_keras, to_original)] + _weight_norm_tail(layer)
        elif isinstance(layer, MnistWeightNormDense):  # nn.DenseLayer adds theta, weight_scale, b
            slots += [Slot(f"{layer.name}.theta", layer.kernel, True),
                      Slot(f"{layer.name}.weight_scale", layer.scale, bool(layer.train_scale)),
                      Slot(f"{layer.name}.b", layer.bias, True)]
        elif isinstance(layer, L2NormalizedDense):  # Lasagne DenseLayer's W, b, then l2normalize's W_scale
            slots += [Slot(f"{layer.name}.W", layer.kernel, True)] + _weight_norm_tail(layer, "W_scale")
        elif isinstance(layer, WeightNormDense):
            slots += [Slot(f"{layer.name}.W", layer.kernel, True)] + _weight_norm_tail(layer)
        elif isinstance(layer, MinibatchDiscrimination):
            slots += [Slot(f"{layer.name}.theta", layer.kernel, True),
                      Slot(f"{layer.name}.log_weight_scale", layer.log_weight_scale, True),
                      Slot(f"{layer.name}.b", layer.bias, True)]
        elif isinstance(layer, Deconv2D):
            if layer.use_bias:
                raise ValueError(f"layer {layer.name!r}: the original's deconvolutions lose their bias to the "
                                 "batch norm after them; build it with use_bias=False.")
            to_keras, to_original = _deconv_converters(layer)
            slots.append(Slot(f"{layer.name}.W", layer.kernel, True, to_keras, to_original))
        elif isinstance(layer, keras.layers.Dense):
            if layer.use_bias:
                raise ValueError(f"layer {layer.name!r}: the original's dense layer loses its bias to the batch "
                                 "norm after it; build it with use_bias=False.")
            if permutation is not None and not after_reshape:
                slots.append(Slot(f"{layer.name}.W", layer.kernel, True, lambda a: a[:, permutation],
                                  lambda k: k[:, inverse]))
            else:
                slots.append(Slot(f"{layer.name}.W", layer.kernel, True))
        elif isinstance(layer, GeneratorBatchNorm):
            if layer.gamma is not None or layer.bias is None:
                raise ValueError(f"layer {layer.name!r}: the original's batch norm has a shift and no scale.")
            if permutation is not None and not after_reshape:
                slots.append(Slot(f"{layer.name}.b", layer.bias, True, lambda a: a[permutation],
                                  lambda k: k[inverse]))
            else:
                slots.append(Slot(f"{layer.name}.b", layer.bias, True))
            slots += [Slot(f"{layer.name}.avg_batch_mean", None, False),
                      Slot(f"{layer.name}.avg_batch_var", None, False)]
        elif layer.weights:
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) has no counterpart in the original "
                             "CIFAR-10/SVHN networks.")
    return slots


def read_original_params(params: ParamsLike) -> List[np.ndarray]:
    """The arrays of an ``np.savez(path, *arrays)`` file (``arr_0``, ``arr_1``, ... in numeric order), or
    ``params`` itself when it is already a sequence of arrays."""
    if isinstance(params, (str, os.PathLike)):
        with np.load(params, allow_pickle=False) as data:
            keys = list(data.keys())
            if not all(k.startswith("arr_") and k[4:].isdigit() for k in keys):
                raise ValueError(f"{os.fspath(params)}: keys {keys[:5]}... are not np.savez's positional arr_0, "
                                 "arr_1, ... (the original wrote np.savez(path, *[p.get_value() for p in params])).")
            return [np.asarray(data[f"arr_{i}"]) for i in range(len(keys))]
    return [np.asarray(a) for a in params]


def load_original_params(model, params: ParamsLike, scales: Optional[ParamsLike] = None,
                         keep_missing_scales: bool = False) -> List[Slot]:
    """Assign the original's parameters (a ``.npz`` path or a list of arrays in Lasagne order) to ``model``.

    ``params`` is either the trainable list (``get_all_params(..., trainable=True)``, what the scripts save) or
    the full list (``get_all_params(...)``); the length tells which. With the trainable list, the
    non-trainable weight-norm scales come from ``scales`` (their arrays in Lasagne order), or stay as they are
    with ``keep_missing_scales=True``; otherwise this raises, because the output would not be the original's.
    Returns the slots that were assigned.
    """
    arrays = read_original_params(params)
    slots = original_parameter_slots(model)
    trainable = [s for s in slots if s.trainable]
    missing = [s for s in slots if not s.trainable and s.variable is not None]
    if len(arrays) == len(slots):
        pairs = list(zip(slots, arrays))
    elif len(arrays) == len(trainable):
        pairs = list(zip(trainable, arrays))
        if missing:
            if scales is not None:
                scale_arrays = read_original_params(scales)
                if len(scale_arrays) != len(missing):
                    raise ValueError(f"{len(scale_arrays)} scales given; {model.name} has {len(missing)} "
                                     f"non-trainable ones ({', '.join(s.name for s in missing)}).")
                pairs += list(zip(missing, scale_arrays))
            elif not keep_missing_scales:
                raise ValueError(
                    f"{len(arrays)} arrays are {model.name}'s trainable parameters only; the non-trainable "
                    f"weight-norm scales {', '.join(s.name for s in missing)} are not in them, and the output "
                    "depends on them. Save ll.get_all_params(disc_layers) instead, pass scales=..., or "
                    "keep_missing_scales=True to keep the model's own.")
    else:
        raise ValueError(f"{len(arrays)} arrays given; the original's {model.name} has {len(trainable)} trainable "
                         f"parameters and {len(slots)} in all ({', '.join(s.name for s in slots)}).")
    assigned = []
    for index, (slot, array) in enumerate(pairs):
        if slot.variable is None:
            continue
        value = np.asarray(slot.to_keras(np.asarray(array)))
        if tuple(value.shape) != tuple(slot.variable.shape):
            raise ValueError(f"array {index} ({slot.name}) has shape {np.shape(array)}, which converts to "
                             f"{value.shape}; the model's variable has shape {tuple(slot.variable.shape)}.")
        slot.variable.assign(value.astype(slot.variable.dtype))
        assigned.append(slot)
    return assigned


def load_original_discriminator_params(model, params: ParamsLike, scales: Optional[ParamsLike] = None,
                                       keep_missing_scales: bool = False) -> List[Slot]:
    """``disc_params.npz`` (or the full ``get_all_params(disc_layers)`` list) into a
    ``cifar_svhn_discriminator``. See :func:`load_original_params` about the missing scales."""
    return load_original_params(model, params, scales=scales, keep_missing_scales=keep_missing_scales)


def load_original_generator_params(model, params: ParamsLike) -> List[Slot]:
    """``gen_params.npz`` (trainable list, complete) or the full list into a ``cifar_svhn_generator`` built with
    ``normalization="batch"``."""
    return load_original_params(model, params)


def original_params(model, trainable_only: bool = False) -> List[np.ndarray]:
    """The model's parameters as the original would save them: Lasagne order and layouts. With
    ``trainable_only`` the list the scripts' ``np.savez`` lines write; otherwise ``get_all_params`` (the
    generator's never-used running averages come out as 0 and 1, their initial values)."""
    out = []
    for slot in original_parameter_slots(model):
        if trainable_only and not slot.trainable:
            continue
        if slot.variable is None:
            size = out[-1].shape if slot.name.endswith("avg_batch_mean") else out[-2].shape
            out.append(np.zeros(size, np.float32) if slot.name.endswith("mean") else np.ones(size, np.float32))
        else:
            out.append(np.ascontiguousarray(slot.to_original(np.asarray(slot.variable.numpy()))))
    return out


def save_original_params(path, model, trainable_only: bool = False):
    """Write :func:`original_params` with ``np.savez(path, *arrays)``, the original scripts' format."""
    np.savez(path, *original_params(model, trainable_only=trainable_only))
