"""The paper's layers as Keras 3 layers, computing what ``openai/improved-gan`` computes.

One module per family, all of whose names this package exports: :mod:`~improved_gan_tf2.layers.weight_norm` (the
weight-normalized dense layers, :func:`held_weight_norms`), :mod:`~improved_gan_tf2.layers.convolution`
(weight-normalized convolutions, ``Deconv2D``), :mod:`~improved_gan_tf2.layers.activations` (``lrelu``),
:mod:`~improved_gan_tf2.layers.noise`, :mod:`~improved_gan_tf2.layers.minibatch` (minibatch discrimination),
:mod:`~improved_gan_tf2.layers.normalization` (the batch norms, virtual batch norm) and
:mod:`~improved_gan_tf2.layers.reference_batch`; :mod:`~improved_gan_tf2.layers.common` holds what they share.

Ports of ``mnist_svhn_cifar10/nn.py`` (weight norm, the older MNIST dense layer, ``l2normalize``, the
deconvolution, minibatch discrimination, the generators' batch norm), of ``imagenet/model.py`` (virtual batch
norm ``VBN``, ``VBNL``, ``VBNLP``) and of the ImageNet discriminator (``batch_norm_cross``, the halved minibatch
features). Layouts are TensorFlow's: NHWC activations, kernels ``(kh, kw, in, out)`` for convolutions and
``(kh, kw, out, in)`` for transposed convolutions.

Every layer implements ``build``, ``call(inputs, training=None)``, ``compute_output_shape`` and ``get_config``, is
registered for ``.keras`` serialization under the package name ``improved_gan_tf2`` (so ``import improved_gan_tf2``
is enough to load a saved model), and documents its arguments, shapes, what it does at inference and an example
(the examples run as tests, ``tests/test_docstrings.py``; they use ``np``, ``keras`` and their module's names).

Mixed precision (``keras.mixed_precision``): under ``mixed_float16`` or ``mixed_bfloat16`` the matrix products and
convolutions run in 16 bits, while the weight norms, the init pass's and the batch norms' statistics and the
whole minibatch layers are computed in float32 from the 16-bit values and cast back (as
``keras.layers.BatchNormalization`` does); in float32 nothing is cast and the arithmetic is the original's
(``tests/test_keras_integration.py`` compares both).

Batch-mixing layers (:class:`GeneratorBatchNorm`, :class:`VirtualBatchNorm`, :class:`MinibatchDiscrimination`,
:class:`BatchNormCross`, :class:`HalvedMinibatchDiscrimination`): by default (``inference="batch"``) they compute
with ``training=False`` exactly what they compute in training, from the batch they are given, as the original
does (it has no other mode). With ``inference="stored"`` they keep non-trainable state that
:func:`improved_gan_tf2.init.store_inference_state` sets from a reference batch, and with ``training=False`` they
compute each example from that state alone; training is unchanged. Batches a layer cannot use (one example for
batch statistics, fewer rows than the reference batch, an odd joint batch) raise an error that says why and what
to do: a ``ValueError`` when the batch size is known when the layer is called, else an ``InvalidArgumentError``
when the graph runs.

Gaussian noise: :class:`GaussianNoise` draws it as the Theano scripts' noise layers do (Box-Muller on uniforms,
Theano's ``MRG_RandomStreams.normal``); the ImageNet code, written for TensorFlow, uses ``keras.layers.GaussianNoise``.
Dropout: ``keras.layers.Dropout`` computes what Lasagne's ``DropoutLayer`` computes when called with
``training=True`` (``tests/test_layers.py`` checks both).
"""
from improved_gan_tf2.layers.activations import lrelu  # noqa: F401  (not in __all__; networks use it)
from improved_gan_tf2.layers.common import INFERENCE_MODES
from improved_gan_tf2.layers.convolution import Deconv2D, WeightNormConv2D, WeightNormConv2DTranspose
from improved_gan_tf2.layers.minibatch import HalvedMinibatchDiscrimination, MinibatchDiscrimination, pairwise_l1
from improved_gan_tf2.layers.noise import GaussianNoise, box_muller_normal
from improved_gan_tf2.layers.normalization import BatchNormCross, GeneratorBatchNorm, VirtualBatchNorm
from improved_gan_tf2.layers.reference_batch import DropReferenceBatch, PrependReferenceBatch
from improved_gan_tf2.layers.weight_norm import (
    L2NormalizedDense,
    MnistWeightNormDense,
    WeightNormDense,
    held_weight_norms,  # noqa: F401  (not in __all__; the models use it)
)

__all__ = [
    "WeightNormDense",
    "MnistWeightNormDense",
    "L2NormalizedDense",
    "WeightNormConv2D",
    "WeightNormConv2DTranspose",
    "Deconv2D",
    "GaussianNoise",
    "MinibatchDiscrimination",
    "GeneratorBatchNorm",
    "VirtualBatchNorm",
    "PrependReferenceBatch",
    "DropReferenceBatch",
    "BatchNormCross",
    "HalvedMinibatchDiscrimination",
    "box_muller_normal",
    "pairwise_l1",
    "INFERENCE_MODES",
]
