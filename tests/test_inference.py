"""What the batch-mixing layers do at inference and with any batch size (issue 15, item 3): the default
``inference="batch"`` computes what training computes (the original's only mode); ``inference="stored"`` computes
from the state ``store_inference_state`` records, checked against NumPy transcriptions of the documented formulas;
batches a layer cannot use raise errors that say why, eagerly and in a graph with an unknown batch size."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import numpy_reference as ref
from helpers import set_variables
import numpy_reference_imagenet as ref_imagenet
from improved_gan_tf2 import layers as L
from improved_gan_tf2 import store_inference_state

ATOL = 1e-5


def _graph_call(layer, x, **kwargs):
    """The layer in a tf.function whose batch size is unknown until it runs."""
    spec = tf.TensorSpec((None,) + x.shape[1:], tf.float32)
    return tf.function(lambda t: layer(t, **kwargs), input_signature=[spec])(tf.constant(x))


# ---------------------------------------------------------------- GeneratorBatchNorm


def test_generator_batch_norm_stored_statistics(rng):
    reference = (rng.randn(40, 3, 3, 5) * 2 + 1).astype(np.float32)
    layer = L.GeneratorBatchNorm(scale=True, inference="stored")
    layer(reference, training=True)
    bias, gamma = rng.randn(5), rng.rand(5) + 0.5
    set_variables(layer, bias=bias, gamma=gamma)
    with pytest.raises(ValueError, match="store_inference_state"):
        layer(reference[:1])
    out_pass = store_inference_state(layer, reference).numpy()
    # the pass computes what training computes
    np.testing.assert_allclose(out_pass, (ref.generator_batch_norm(reference, 0) * gamma + bias), atol=1e-4)
    mean = reference.mean(axis=(0, 1, 2))
    var = ((reference - mean) ** 2).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(layer.reference_mean.numpy(), mean, atol=ATOL)
    np.testing.assert_allclose(layer.reference_variance.numpy(), var, rtol=1e-5)
    x = (rng.randn(3, 3, 3, 5) * 4).astype(np.float32)
    expected = (x - mean) / np.sqrt(1e-6 + var) * gamma + bias
    for training in (False, None):
        np.testing.assert_allclose(layer(x, training=training).numpy(), expected, atol=1e-4)
    # one example at a time gives the same as the whole batch: no dependence on the batch
    np.testing.assert_allclose(layer(x[1:2]).numpy()[0], layer(x).numpy()[1], atol=1e-6)
    # training still uses the batch (the original)
    np.testing.assert_allclose(layer(x, training=True).numpy(), ref.generator_batch_norm(x, 0) * gamma + bias,
                               atol=1e-4)


def test_generator_batch_norm_refuses_a_single_value_per_channel(rng):
    layer = L.GeneratorBatchNorm()
    with pytest.raises(ValueError, match="at least 2 examples"):
        layer(rng.randn(1, 8).astype(np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 2 examples"):
        _graph_call(layer, rng.randn(1, 8).astype(np.float32), training=True)
    # one example with spatial axes has per-channel statistics over space, as the original computes
    x = rng.randn(1, 4, 4, 8).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), ref.generator_batch_norm(x, 0), atol=1e-4)
    np.testing.assert_allclose(_graph_call(layer, rng.randn(2, 8).astype(np.float32)).numpy().mean(0), 0, atol=1e-5)


# ---------------------------------------------------------------- VirtualBatchNorm


@pytest.mark.parametrize("scale,per_pixel,shape", [("linear", False, (6,)), ("log", True, (3, 3, 4)),
                                                   ("linear", False, (3, 3, 4))])
def test_virtual_batch_norm_stored_reference_statistics(rng, scale, per_pixel, shape):
    x_ref = (rng.randn(6, *shape) * 2 + 1).astype(np.float32)
    x_live = (rng.randn(5, *shape) * 3 - 1).astype(np.float32)
    layer = L.VirtualBatchNorm(6, scale=scale, per_pixel=per_pixel, inference="stored")
    training_out = layer(np.concatenate([x_ref, x_live]), training=True).numpy()
    gamma = rng.randn(*layer.gamma.shape) * 0.1 + (1 if scale == "linear" else 0)
    beta = rng.randn(*layer.beta.shape)
    set_variables(layer, gamma=gamma, beta=beta)
    training_out = layer(np.concatenate([x_ref, x_live]), training=True).numpy()
    with pytest.raises(ValueError, match="no stored inference state"):
        layer(x_live)
    store_inference_state(layer, x_ref)  # a batch of exactly the reference rows
    if len(shape) == 1 and per_pixel:
        gamma, beta = gamma.reshape(1, 1, -1), beta.reshape(1, 1, -1)
    _, expected = ref.vbn(x_ref.astype(np.float64), x_live.astype(np.float64), gamma, beta,
                          log_scale=scale == "log", per_pixel=per_pixel)
    out = layer(x_live).numpy()  # every row live, normalized against the stored reference
    np.testing.assert_allclose(out, expected, atol=1e-4)
    np.testing.assert_allclose(out, training_out[6:], atol=1e-5)  # what training computes for the live rows
    np.testing.assert_allclose(layer(x_live[3:4]).numpy()[0], out[3], atol=1e-6)  # any batch size
    np.testing.assert_allclose(_graph_call(layer, x_live[::-1]).numpy(), out[::-1], atol=1e-6)  # any order


def test_virtual_batch_norm_with_reference_layers_gives_batch_independent_predictions(rng):
    """The original's in-batch reference, carried by PrependReferenceBatch / DropReferenceBatch, and the stored
    alternative give the same predictions, independent of the batch size."""
    x = rng.randn(9, 5).astype(np.float32)
    reference = rng.randn(4, 5).astype(np.float32)
    predictions = []
    for inference in ("batch", "stored"):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([
            keras.Input((5,)),
            L.PrependReferenceBatch(4, inference=inference),
            keras.layers.Dense(6),
            L.VirtualBatchNorm(4, inference=inference),
            L.DropReferenceBatch(4, inference=inference),
        ])
        model.layers[0].set_reference(reference)
        if inference == "stored":
            store_inference_state(model, x[:1])  # the pass prepends the reference, the VBN records it
        by_one = np.concatenate([model.predict(x[i:i + 1], verbose=0) for i in range(len(x))])
        by_four = model.predict(x, batch_size=4, verbose=0)
        np.testing.assert_allclose(by_one, by_four, atol=1e-6)
        np.testing.assert_allclose(model(x, training=True).numpy(), by_four, atol=1e-5)  # = training's live rows
        predictions.append(by_four)
    np.testing.assert_allclose(predictions[0], predictions[1], atol=1e-5)


def test_virtual_batch_norm_refuses_fewer_rows_than_the_reference_also_in_a_graph(rng):
    layer = L.VirtualBatchNorm(8)
    with pytest.raises(ValueError, match="reference rows"):
        layer(rng.randn(5, 3).astype(np.float32))
    # without the check a graph with an unknown batch size silently computed plain batch norm
    with pytest.raises(tf.errors.InvalidArgumentError, match="reference rows"):
        _graph_call(layer, rng.randn(5, 3).astype(np.float32))
    assert _graph_call(layer, rng.randn(10, 3).astype(np.float32)).shape == (10, 3)


# ---------------------------------------------------------------- minibatch discrimination


def test_minibatch_discrimination_stored_reference_rows(rng):
    reference = rng.randn(7, 12).astype(np.float32)
    x = rng.randn(5, 12).astype(np.float32)
    layer = L.MinibatchDiscrimination(4, 3, inference="stored", reference_size=6)
    layer(reference, training=True)
    theta, lws, b = rng.randn(12, 4, 3) * 0.05, rng.randn(4, 3) * 0.1, rng.randn(4)
    set_variables(layer, kernel=theta, log_weight_scale=lws, bias=b)
    out_pass = store_inference_state(layer, reference).numpy()
    np.testing.assert_allclose(out_pass, ref.minibatch_features(reference, theta, lws, b)[0], atol=1e-4)
    np.testing.assert_array_equal(layer.reference_inputs.numpy(), reference[:6])  # the first reference_size rows
    w = theta * (np.exp(lws) / np.sqrt((theta ** 2).sum(axis=0)))[None]
    m, m_ref = np.tensordot(x, w, axes=[[1], [0]]), np.tensordot(reference[:6], w, axes=[[1], [0]])
    distances = np.abs(m[:, :, :, None] - m_ref.transpose(1, 2, 0)[None]).sum(axis=2)  # n B r
    expected = np.concatenate([x, np.exp(-distances).sum(axis=2) + b], axis=1)
    out = layer(x).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-4)
    np.testing.assert_allclose(layer(x[2:3]).numpy()[0], out[2], atol=1e-6)  # a single example works
    # training still compares within the batch
    np.testing.assert_allclose(layer(x, training=True).numpy(), ref.minibatch_features(x, theta, lws, b)[0],
                               atol=1e-4)
    with pytest.raises(ValueError, match="reference_size"):
        L.MinibatchDiscrimination(4, inference="stored")


def test_minibatch_discrimination_refuses_a_batch_of_one(rng):
    layer = L.MinibatchDiscrimination(4, 3)
    with pytest.raises(ValueError, match="batch of 1"):
        layer(rng.randn(1, 12).astype(np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="batch of 1"):
        _graph_call(layer, rng.randn(1, 12).astype(np.float32))


def test_batch_norm_cross_stored_statistics_and_odd_batches(rng):
    joint = (rng.randn(8, 3, 3, 6) * 2 + 1).astype(np.float32)
    layer = L.BatchNormCross(inference="stored")
    layer(joint, training=True)
    g0, b0, g1, b1 = rng.rand(3) + 0.5, rng.randn(3), rng.rand(3) + 0.5, rng.randn(3)
    set_variables(layer, gamma0=g0, beta0=b0, gamma1=g1, beta1=b1)
    out_pass = store_inference_state(layer, joint).numpy()
    np.testing.assert_allclose(out_pass, ref_imagenet.batch_norm_cross(joint, g0, b0, g1, b1), atol=1e-4)
    m0, v0 = ref_imagenet.moments(joint[:4, ..., :3], (0, 1, 2))
    m1, v1 = ref_imagenet.moments(joint[4:, ..., 3:], (0, 1, 2))
    x = rng.randn(3, 3, 3, 6).astype(np.float32)  # an odd batch of real images only
    expected = np.concatenate([(x[..., :3] - m0) / np.sqrt(v0 + 1e-5) * g0 + b0,
                               (x[..., 3:] - m1) / np.sqrt(v1 + 1e-5) * g1 + b1], axis=-1)
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-4)
    default = L.BatchNormCross()
    with pytest.raises(ValueError, match="even number of rows"):
        default(x)
    with pytest.raises(tf.errors.InvalidArgumentError, match="even number of rows"):
        _graph_call(default, x)


def test_halved_minibatch_features_stored_reference_rows(rng):
    joint = rng.randn(8, 10).astype(np.float32)
    layer = L.HalvedMinibatchDiscrimination(3, 2, inference="stored", reference_size=3)
    layer(joint, training=True)
    matrix, bias = rng.randn(10, 6) * 0.3, rng.randn(6) * 0.1
    set_variables(layer, kernel=matrix, bias=bias)
    out_pass = store_inference_state(layer, joint).numpy()
    np.testing.assert_allclose(out_pass, ref_imagenet.halved_minibatch_features(joint, matrix, bias, 3, 2),
                               atol=1e-5)
    stored = np.concatenate([joint[:3], joint[4:7]])  # the first 3 rows of each half
    np.testing.assert_array_equal(layer.reference_inputs.numpy(), stored)
    x = rng.randn(3, 10).astype(np.float32)
    m, m_ref = (x @ matrix + bias).reshape(3, 3, 2), (stored @ matrix + bias).reshape(6, 3, 2)
    close = np.exp(-np.abs(m[:, :, :, None] - m_ref.transpose(1, 2, 0)[None]).sum(axis=2))  # n K 6
    denominator = 3 * (2 * 3 - 1)
    expected = np.concatenate([x, close[:, :, :3].sum(2) / denominator, close[:, :, 3:].sum(2) / denominator], 1)
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="even number of rows"):
        _graph_call(L.HalvedMinibatchDiscrimination(3, 2), x)


def test_stored_state_survives_save_and_load(rng, tmp_path):
    x = rng.randn(6, 5).astype(np.float32)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), L.GeneratorBatchNorm(inference="stored"),
                              L.MinibatchDiscrimination(3, 2, inference="stored", reference_size=5)])
    store_inference_state(model, x)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded(x[:1]).numpy(), model(x[:1]).numpy())


def test_inference_mode_is_checked():
    for make in (lambda: L.GeneratorBatchNorm(inference="moving"), lambda: L.VirtualBatchNorm(4, inference="x"),
                 lambda: L.BatchNormCross(inference="x"), lambda: L.PrependReferenceBatch(4, inference="x")):
        with pytest.raises(ValueError, match="inference must be one of"):
            make()
