"""Each layer against a NumPy transcription of the original's definition (tests/numpy_reference.py)."""
import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

import numpy_reference as ref
from helpers import set_variables
from improved_gan_tf2 import data_dependent_init
from improved_gan_tf2 import layers as L

ATOL = 1e-5


def _build(layer, x):
    layer(x)  # builds
    return layer


# ---------------------------------------------------------------- weight norm: dense and NIN

def test_weight_norm_dense_forward_matches_original(rng):
    x = rng.randn(7, 12).astype(np.float32)
    layer = _build(L.WeightNormDense(5, activation="relu"), x)
    v, g, b = rng.randn(12, 5) * 0.05, rng.rand(5) + 0.5, rng.randn(5)
    set_variables(layer, kernel=v, scale=g, bias=b)
    expected = np.maximum(x @ ref.weight_norm(v, g, axes=0) + b, 0)
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=ATOL)


def test_weight_norm_dense_on_rank4_is_the_per_pixel_nin_layer(rng):
    x_nchw = rng.randn(3, 6, 4, 4)
    layer = _build(L.WeightNormDense(5), np.zeros((1, 4, 4, 6), np.float32))
    v, g, b = rng.randn(6, 5), rng.rand(5) + 0.5, rng.randn(5)
    set_variables(layer, kernel=v, scale=g, bias=b)
    # Lasagne NINLayer: out[n, o, h, w] = sum_c x[n, c, h, w] W[c, o] + b[o]
    expected_nchw = np.einsum("nchw,co->nohw", x_nchw, ref.weight_norm(v, g, axes=0)) + b[None, :, None, None]
    out = layer(x_nchw.transpose(0, 2, 3, 1).astype(np.float32)).numpy()
    np.testing.assert_allclose(out, expected_nchw.transpose(0, 2, 3, 1), atol=ATOL)


@pytest.mark.parametrize("init_scale", [1.0, 0.1])
def test_weight_norm_dense_init_pass(rng, init_scale):
    x = rng.randn(50, 12).astype(np.float32) * 3 + 1
    layer = _build(L.WeightNormDense(5, init_scale=init_scale, activation="relu"), x)
    v = layer.kernel.numpy().astype(np.float64)
    out = data_dependent_init(layer, x).numpy()
    expected, new_b, factor = ref.init_pass(x @ ref.weight_norm(v, np.ones(5), axes=0), axes=0, init_scale=init_scale)
    np.testing.assert_allclose(out, np.maximum(expected, 0), atol=1e-4)
    np.testing.assert_allclose(layer.bias.numpy(), new_b, atol=1e-4)
    np.testing.assert_allclose(layer.scale.numpy(), factor, rtol=1e-4)
    # the initialized layer reproduces the init pass's output
    np.testing.assert_allclose(layer(x).numpy(), out, atol=1e-4)


def test_scale_is_trainable_only_with_train_scale():
    x = np.zeros((2, 3), np.float32)
    frozen, trained = _build(L.WeightNormDense(4), x), _build(L.WeightNormDense(4, train_scale=True), x)
    assert [w.name for w in frozen.trainable_weights] == ["kernel", "bias"]
    assert [w.name for w in frozen.non_trainable_weights] == ["scale"]
    assert [w.name for w in trained.trainable_weights] == ["kernel", "scale", "bias"]


def test_weight_norm_default_kernel_is_normal_005():
    layer = _build(L.WeightNormDense(400), np.zeros((1, 400), np.float32))
    assert abs(layer.kernel.numpy().std() - 0.05) < 0.002
    assert abs(layer.kernel.numpy().mean()) < 0.002


# ---------------------------------------------------------------- the older MNIST layers

def test_mnist_dense_has_no_epsilon_flattens_and_draws_from_normal_01(rng):
    x = rng.randn(4, 2, 3, 2).astype(np.float32) * 1e-4
    layer = _build(L.MnistWeightNormDense(3, activation=None), x)
    v = rng.randn(12, 3) * 1e-4  # tiny kernel: an epsilon of 1e-6 in the norm would change W a lot
    set_variables(layer, kernel=v, scale=np.ones(3), bias=np.zeros(3))
    expected = x.reshape(4, -1) @ ref.weight_norm(v, np.ones(3), axes=0, eps=0.0)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-9)
    with_eps = x.reshape(4, -1) @ ref.weight_norm(v, np.ones(3), axes=0, eps=1e-6)
    assert not np.allclose(expected, with_eps, rtol=1e-2)
    big = _build(L.MnistWeightNormDense(500), np.zeros((1, 784), np.float32))
    assert abs(big.kernel.numpy().std() - 0.1) < 0.002
    assert big.activation is keras.activations.relu


def test_mnist_dense_init_pass(rng):
    x = rng.rand(60, 20).astype(np.float32)
    layer = _build(L.MnistWeightNormDense(10, activation=None, train_scale=True), x)
    v = layer.kernel.numpy().astype(np.float64)
    out = data_dependent_init(layer, x).numpy()
    a = x @ ref.weight_norm(v, np.ones(10), axes=0, eps=0.0)
    ma, std = a.mean(0), np.sqrt(((a - a.mean(0)) ** 2).mean(0))  # DenseLayer.get_output_for(init=True)
    np.testing.assert_allclose(out, (a - ma) / std, atol=1e-4)
    np.testing.assert_allclose(layer.scale.numpy(), 1.0 / std, rtol=1e-4)
    np.testing.assert_allclose(layer.bias.numpy(), -ma / std, atol=1e-4)
    assert layer.scale.trainable


def test_l2normalized_dense_matches_original_and_skips_init(rng):
    x = rng.randn(9, 6).astype(np.float32)
    layer = _build(L.L2NormalizedDense(4, activation="sigmoid"), x)
    w, g, b = rng.randn(6, 4), rng.rand(4) + 0.5, rng.randn(4)
    set_variables(layer, kernel=w, scale=g, bias=b)
    expected = 1 / (1 + np.exp(-(x @ ref.weight_norm(w, g, axes=0, eps=1e-6) + b)))
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=ATOL)
    data_dependent_init(layer, x)
    np.testing.assert_allclose(layer.scale.numpy(), g, rtol=1e-6)  # no data-dependent init
    np.testing.assert_allclose(layer.bias.numpy(), b, rtol=1e-6)
    assert layer.scale.trainable
    fresh = _build(L.L2NormalizedDense(300), np.zeros((1, 500), np.float32))
    limit = np.sqrt(6.0 / 800)  # Glorot uniform, as Lasagne's default DenseLayer W
    assert np.abs(fresh.kernel.numpy()).max() <= limit and np.abs(fresh.kernel.numpy()).max() > 0.9 * limit
    np.testing.assert_array_equal(fresh.bias.numpy(), 0.0)


# ---------------------------------------------------------------- convolutions

@pytest.mark.parametrize("stride,padding,pad", [(1, "half", 1), (2, "half", 1), (1, "valid", 0)])
def test_weight_norm_conv_matches_lasagne(rng, stride, padding, pad):
    x_nchw = rng.randn(2, 3, 8, 8)
    layer = _build(L.WeightNormConv2D(4, 3, strides=stride, padding=padding, activation="leaky_relu"),
                   np.zeros((1, 8, 8, 3), np.float32))
    w_lasagne, g, b = rng.randn(4, 3, 3, 3), rng.rand(4) + 0.5, rng.randn(4)  # (O, C, kh, kw)
    set_variables(layer, kernel=w_lasagne.transpose(2, 3, 1, 0), scale=g, bias=b)
    w = ref.weight_norm(w_lasagne, g, axes=(1, 2, 3), out_axis=0)  # WeightNormLayer: W_axes_to_sum (1,2,3)
    pre = ref.conv2d_nchw(x_nchw, w, stride, pad) + b[None, :, None, None]
    expected = np.maximum(pre, 0.2 * pre)  # nn.lrelu
    out = layer(x_nchw.transpose(0, 2, 3, 1).astype(np.float32)).numpy()
    np.testing.assert_allclose(out, expected.transpose(0, 2, 3, 1), atol=ATOL)


def test_tf_same_padding_is_not_theano_half_at_stride_2(rng):
    x = rng.randn(2, 8, 8, 3).astype(np.float32)
    half = _build(L.WeightNormConv2D(4, 3, strides=2, padding="half"), x)
    same = _build(L.WeightNormConv2D(4, 3, strides=2, padding="same"), x)
    same.set_weights(half.get_weights())
    assert half(x).shape == same(x).shape
    assert not np.allclose(half(x).numpy(), same(x).numpy(), atol=1e-3)


def test_weight_norm_conv_init_pass(rng):
    x = rng.randn(10, 6, 6, 3).astype(np.float32)
    layer = _build(L.WeightNormConv2D(4, 3, padding="half"), x)
    v = layer.kernel.numpy().astype(np.float64).transpose(3, 2, 0, 1)
    out = data_dependent_init(layer, x).numpy()
    pre = ref.conv2d_nchw(x.transpose(0, 3, 1, 2).astype(np.float64), ref.weight_norm(v, np.ones(4), (1, 2, 3), out_axis=0), 1, 1)
    expected, new_b, factor = ref.init_pass(pre, axes=(0, 2, 3))
    np.testing.assert_allclose(out, expected.transpose(0, 2, 3, 1), atol=1e-4)
    np.testing.assert_allclose(layer.bias.numpy(), new_b, atol=1e-4)
    np.testing.assert_allclose(layer.scale.numpy(), factor, rtol=1e-4)


def test_deconv_half_with_flip_reproduces_theano(rng):
    x_nchw = rng.randn(2, 4, 4, 4)
    w_lasagne, b = rng.randn(4, 3, 5, 5), rng.randn(3)  # Deconv2DLayer W: (in channels, out channels, kh, kw)
    layer = _build(L.Deconv2D(3, 5, padding="half", flip_kernel=True), np.zeros((1, 4, 4, 4), np.float32))
    set_variables(layer, kernel=w_lasagne.transpose(2, 3, 1, 0), bias=b)
    expected = ref.theano_deconv_half(x_nchw, w_lasagne, 2, (8, 8)) + b[None, :, None, None]
    out = layer(x_nchw.transpose(0, 2, 3, 1).astype(np.float32)).numpy()
    np.testing.assert_allclose(out, expected.transpose(0, 2, 3, 1), atol=1e-4)
    # Plain TensorFlow "same" without the flip does not reproduce the original's weights.
    plain = _build(L.Deconv2D(3, 5, padding="same"), np.zeros((1, 4, 4, 4), np.float32))
    plain.set_weights(layer.get_weights())
    assert not np.allclose(plain(x_nchw.transpose(0, 2, 3, 1).astype(np.float32)).numpy(),
                           expected.transpose(0, 2, 3, 1), atol=1e-2)


def test_weight_norm_deconv_matches_theano_and_inits(rng):
    x_nchw = rng.randn(6, 4, 4, 4)
    w_lasagne, g = rng.randn(4, 3, 5, 5) * 0.05, rng.rand(3) + 0.5
    layer = _build(L.WeightNormConv2DTranspose(3, 5, flip_kernel=True, activation="tanh", train_scale=True,
                                               init_scale=0.1), np.zeros((1, 4, 4, 4), np.float32))
    set_variables(layer, kernel=w_lasagne.transpose(2, 3, 1, 0), scale=g, bias=np.zeros(3))
    w = ref.weight_norm(w_lasagne, g, axes=(0, 2, 3), out_axis=1)  # deconv: W_axes_to_sum (0, 2, 3)
    x = x_nchw.transpose(0, 2, 3, 1).astype(np.float32)
    pre = ref.theano_deconv_half(x_nchw, w, 2, (8, 8))
    np.testing.assert_allclose(layer(x).numpy(), np.tanh(pre).transpose(0, 2, 3, 1), atol=1e-4)
    out = data_dependent_init(layer, x).numpy()
    expected, new_b, factor = ref.init_pass(pre, axes=(0, 2, 3), init_scale=0.1)
    np.testing.assert_allclose(out, np.tanh(expected).transpose(0, 2, 3, 1), atol=1e-4)
    np.testing.assert_allclose(layer.scale.numpy(), g * factor, rtol=1e-4)
    np.testing.assert_allclose(layer.bias.numpy(), new_b, atol=1e-4)
    assert layer.compute_output_shape((None, 4, 4, 4)) == (None, 8, 8, 3)


def test_half_padding_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd kernel"):
        L.Deconv2D(3, 4, padding="half")
    with pytest.raises(ValueError, match="padding must be"):
        L.WeightNormConv2D(3, 3, padding="full")


# ---------------------------------------------------------------- minibatch discrimination

def test_minibatch_discrimination_forward_and_init(rng):
    x = rng.randn(12, 2, 2, 5).astype(np.float32)
    layer = _build(L.MinibatchDiscrimination(6, dim_per_kernel=4), x)
    assert layer.kernel.shape == (20, 6, 4) and layer.log_weight_scale.shape == (6, 4)
    np.testing.assert_array_equal(layer.bias.numpy(), -1.0)
    np.testing.assert_array_equal(layer.log_weight_scale.numpy(), 0.0)
    theta, lws, b = rng.randn(20, 6, 4) * 0.05, rng.randn(6, 4) * 0.1, rng.randn(6)
    set_variables(layer, kernel=theta, log_weight_scale=lws, bias=b)
    expected, _, _ = ref.minibatch_features(x.astype(np.float64), theta, lws, b)
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-5)
    out = data_dependent_init(layer, x).numpy()
    expected, new_lws, new_b = ref.minibatch_features(x.astype(np.float64), theta, lws, b, init=True)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(layer.log_weight_scale.numpy(), new_lws, atol=1e-5)
    np.testing.assert_allclose(layer.bias.numpy(), new_b, atol=1e-5)
    np.testing.assert_allclose(layer(x).numpy(), out, atol=1e-4)


def test_minibatch_features_gradient_matches_finite_differences(rng):
    x = tf.constant(rng.randn(5, 4))
    layer = L.MinibatchDiscrimination(3, dim_per_kernel=2, dtype="float64")
    layer(x)
    weights = tf.constant(rng.randn(5, 3))

    def loss():
        return tf.reduce_sum(layer(x)[:, 4:] * weights)

    with tf.GradientTape() as tape:
        value = loss()
    grads = tape.gradient(value, [layer.kernel, layer.log_weight_scale])
    for variable, grad in zip([layer.kernel, layer.log_weight_scale], grads):
        flat = variable.numpy().reshape(-1)
        for k in rng.choice(flat.size, 4, replace=False):
            original = flat.copy()
            step = np.zeros_like(flat)
            step[k] = 1e-6
            variable.assign((original + step).reshape(variable.shape))
            up = loss().numpy()
            variable.assign((original - step).reshape(variable.shape))
            down = loss().numpy()
            variable.assign(original.reshape(variable.shape))
            np.testing.assert_allclose(grad.numpy().reshape(-1)[k], (up - down) / 2e-6, rtol=1e-4, atol=1e-8)


# ---------------------------------------------------------------- virtual batch norm

@pytest.mark.parametrize("scale,per_pixel", [("linear", False), ("log", False), ("log", True), ("linear", True)])
@pytest.mark.parametrize("rank", [2, 4])
def test_virtual_batch_norm_matches_original(rng, scale, per_pixel, rank):
    shape = (3, 3, 4) if rank == 4 else (4,)
    x_ref = (rng.randn(6, *shape) * 2 + 1).astype(np.float32)
    x_live = (rng.randn(5, *shape) * 3 - 1).astype(np.float32)
    layer = _build(L.VirtualBatchNorm(6, scale=scale, per_pixel=per_pixel), np.concatenate([x_ref, x_live]))
    assert [w.name for w in layer.weights] == ["gamma", "beta"]
    gamma, beta = rng.randn(*layer.gamma.shape) * 0.1 + (1 if scale == "linear" else 0), rng.randn(*layer.beta.shape)
    set_variables(layer, gamma=gamma, beta=beta)
    out = layer(np.concatenate([x_ref, x_live])).numpy()
    if rank == 2 and per_pixel:
        gamma, beta = gamma.reshape(1, 1, -1), beta.reshape(1, 1, -1)
    exp_ref, exp_live = ref.vbn(x_ref.astype(np.float64), x_live.astype(np.float64), gamma, beta,
                                log_scale=scale == "log", per_pixel=per_pixel)
    np.testing.assert_allclose(out[:6], exp_ref, atol=1e-4)
    np.testing.assert_allclose(out[6:], exp_live, atol=1e-4)


def test_virtual_batch_norm_live_rows_do_not_depend_on_each_other(rng):
    x_ref = rng.randn(8, 4, 4, 3).astype(np.float32)
    live_a = rng.randn(5, 4, 4, 3).astype(np.float32)
    live_b = live_a.copy()
    live_b[1:] = rng.randn(4, 4, 4, 3) * 10  # change every live row but the first
    layer = L.VirtualBatchNorm(8)
    out_a = layer(np.concatenate([x_ref, live_a])).numpy()
    out_b = layer(np.concatenate([x_ref, live_b])).numpy()
    np.testing.assert_allclose(out_a[8], out_b[8], atol=1e-6)
    np.testing.assert_allclose(out_a[:8], out_b[:8], atol=1e-6)
    # whereas ordinary batch norm would mix them
    bn_a = L.GeneratorBatchNorm()(live_a).numpy()
    bn_b = L.GeneratorBatchNorm()(live_b).numpy()
    assert not np.allclose(bn_a[0], bn_b[0], atol=1e-3)


def test_virtual_batch_norm_initializers_and_errors(rng):
    linear = _build(L.VirtualBatchNorm(4), np.zeros((8, 200), np.float32))
    assert abs(linear.gamma.numpy().mean() - 1) < 0.01 and abs(linear.gamma.numpy().std() - 0.02) < 0.005
    log = _build(L.VirtualBatchNorm(4, scale="log"), np.zeros((8, 200), np.float32))
    assert abs(log.gamma.numpy().mean()) < 0.01
    with pytest.raises(ValueError, match="reference rows"):
        L.VirtualBatchNorm(10)(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="scale must be"):
        L.VirtualBatchNorm(4, scale="exp")


# ---------------------------------------------------------------- batch norm, noise and dropout

def test_generator_batch_norm_matches_original_in_every_mode(rng):
    x = (rng.randn(16, 4, 4, 5) * 3 + 2).astype(np.float32)
    b = rng.randn(5)
    layer = _build(L.GeneratorBatchNorm(), x)
    set_variables(layer, bias=b)
    expected = ref.generator_batch_norm(x.astype(np.float64), b)
    for training in (True, False, None):
        np.testing.assert_allclose(layer(x, training=training).numpy(), expected, atol=1e-4)
    layer.trainable = False
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-4)


def test_keras_batch_norm_agrees_only_in_training_mode(rng):
    """Why the generators use GeneratorBatchNorm: keras's layer changes arithmetic outside training=True."""
    x = (rng.randn(32, 6) * 3 + 2).astype(np.float32)
    expected = ref.generator_batch_norm(x.astype(np.float64), np.zeros(6))
    bn = keras.layers.BatchNormalization(epsilon=1e-6, scale=False, center=True)
    np.testing.assert_allclose(bn(x, training=True).numpy(), expected, atol=1e-4)
    assert not np.allclose(bn(x, training=False).numpy(), expected, atol=1e-2)


def test_lrelu_is_the_originals_max_in_float64_and_the_fused_op_in_float32(rng):
    """nn.lrelu = max(x, 0.2 x): exact in float64 (TensorFlow's LeakyRelu keeps 0.2 as a float32 attribute), the
    fused op's numbers (values and gradients) in float32."""
    x64 = rng.randn(1000)
    np.testing.assert_array_equal(L.lrelu(x64).numpy(), np.maximum(x64, 0.2 * x64))
    x32 = tf.constant(x64.astype("float32"))
    for fn in (L.lrelu, lambda t: tf.nn.leaky_relu(t, alpha=0.2)):
        with tf.GradientTape() as tape:
            tape.watch(x32)
            y = fn(x32)
        if fn is L.lrelu:
            ours = (y.numpy(), tape.gradient(y, x32).numpy())
        else:
            fused = (y.numpy(), tape.gradient(y, x32).numpy())
    np.testing.assert_array_equal(ours[0], fused[0])
    np.testing.assert_array_equal(ours[1], fused[1])


@pytest.mark.parametrize("shape", [(4, 6), (3, 5, 7)])
def test_box_muller_normal_is_theanos_mrg_normal(rng, shape):
    n = int(np.prod(shape))
    uniforms = rng.rand(2, (n + 1) // 2).astype(np.float32)
    got = L.box_muller_normal(tf.constant(uniforms), shape, stddev=0.5).numpy()
    # Theano's uniforms lie in (0, 1) and U1 is their first half: here U1 = 1 - u
    flattened = np.concatenate([1.0 - uniforms[0].astype(np.float64), uniforms[1]])
    np.testing.assert_allclose(got, ref.mrg_normal(flattened, shape, std=0.5), rtol=1e-5, atol=1e-6)


def test_gaussian_noise_layer_is_the_original_noise_layer():
    x = np.zeros((400, 501), np.float32)  # an odd number of samples: Theano evens it up and drops one
    noise = L.GaussianNoise(0.3, seed=1)
    np.testing.assert_array_equal(noise(x, training=False).numpy(), x)  # deterministic=True: no noise
    np.testing.assert_array_equal(noise(x).numpy(), x)
    sample = noise(x, training=True).numpy().ravel()
    assert sample.shape == (x.size,) and np.isfinite(sample).all()
    # N(0, 0.3^2): moments and a Kolmogorov-Smirnov test on 200k samples
    assert abs(sample.mean()) < 0.003 and abs(sample.std() - 0.3) < 0.003
    assert abs(np.mean((sample / 0.3) ** 4) - 3.0) < 0.05
    assert scipy.stats.kstest(sample / 0.3, "norm").pvalue > 1e-3
    assert not np.array_equal(noise(x, training=True).numpy(), noise(x, training=True).numpy())  # fresh each call
    model = keras.Sequential([keras.Input((501,)), noise])
    assert np.abs(data_dependent_init(model, x).numpy()).max() > 0.5  # active in the init pass


def test_gaussian_noise_seeds_and_shapes(tmp_path):
    x = np.ones((6, 5, 3), np.float32)
    a, b = L.GaussianNoise(1.0, seed=7), L.GaussianNoise(1.0, seed=7)
    np.testing.assert_array_equal(a(x, training=True).numpy(), b(x, training=True).numpy())
    # unknown batch size inside a tf.function
    run = tf.function(lambda t: a(t, training=True), input_signature=[tf.TensorSpec((None, 5, 3), tf.float32)])
    assert run(x).shape == x.shape
    model = keras.Sequential([keras.Input((5, 3)), L.GaussianNoise(0.2, seed=3, name="noise")])
    model.save(tmp_path / "noise.keras")
    restored = keras.models.load_model(tmp_path / "noise.keras")
    assert isinstance(restored.get_layer("noise"), L.GaussianNoise) and restored.get_layer("noise").stddev == 0.2
    np.testing.assert_array_equal(restored(x).numpy(), x)


def test_dropout_is_active_during_init():
    x = np.ones((100, 40), np.float32)
    out = data_dependent_init(keras.Sequential([keras.Input((40,)), keras.layers.Dropout(0.5)]), x).numpy()
    assert set(np.unique(out)) == {0.0, 2.0}  # Lasagne's DropoutLayer rescales by 1/(1-p) too


# ---------------------------------------------------------------- init through a mixed model

def test_data_dependent_init_runs_layer_by_layer_on_a_mixed_model(rng):
    x = rng.randn(64, 10).astype(np.float32) * 2 + 3
    model = keras.Sequential([
        keras.Input((10,)),
        keras.layers.Dense(8, activation="tanh"),
        L.WeightNormDense(6, activation="relu"),
        L.WeightNormDense(4, init_scale=0.5),
    ])
    dense, wn1, wn2 = model.layers
    v1, v2 = wn1.kernel.numpy().astype(np.float64), wn2.kernel.numpy().astype(np.float64)
    out = data_dependent_init(model, x).numpy()
    h = np.tanh(x @ dense.kernel.numpy() + dense.bias.numpy())
    h1, b1, f1 = ref.init_pass(h @ ref.weight_norm(v1, np.ones(6), 0), 0)
    h2, b2, f2 = ref.init_pass(np.maximum(h1, 0) @ ref.weight_norm(v2, np.ones(4), 0), 0, init_scale=0.5)
    np.testing.assert_allclose(out, h2, atol=1e-4)
    np.testing.assert_allclose(wn1.bias.numpy(), b1, atol=1e-4)
    np.testing.assert_allclose(wn2.scale.numpy(), f2, rtol=1e-4)
    np.testing.assert_allclose(model(x).numpy(), out, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0), 0.5, rtol=1e-3)


# ---------------------------------------------------------------- weight-norm gradients

def test_weight_norm_gradients_follow_the_paper(rng):
    """Salimans & Kingma (2016) eq. 3: grad_g = grad_w . v/||v||, grad_v = g/||v|| (I - w w^T/||w||^2) grad_w."""
    x = tf.constant(rng.randn(7, 5))
    layer = L.WeightNormDense(3, train_scale=True, epsilon=0.0, dtype="float64")
    layer(x)
    layer.scale.assign(rng.rand(3) + 0.5)
    upstream = tf.constant(rng.randn(7, 3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * upstream)
    grad_v, grad_g = tape.gradient(loss, [layer.kernel, layer.scale])
    v, g = layer.kernel.numpy(), layer.scale.numpy()
    grad_w = x.numpy().T @ upstream.numpy()
    norm = np.sqrt((v ** 2).sum(0))
    np.testing.assert_allclose(grad_g.numpy(), (grad_w * v).sum(0) / norm, rtol=1e-8)
    expected_v = g / norm * (grad_w - v * (grad_w * v).sum(0) / norm ** 2)
    np.testing.assert_allclose(grad_v.numpy(), expected_v, rtol=1e-8)


# ---------------------------------------------------------------- Keras idiom: save/load, fit

def _all_layers_model():
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.GaussianNoise(0.1)(inputs)
    h = L.WeightNormConv2D(4, 3, strides=2, padding="half", activation="leaky_relu")(h)
    h = L.WeightNormDense(5, activation="relu")(h)
    h = L.Deconv2D(4, 5, flip_kernel=True, activation="relu")(h)
    h = L.GeneratorBatchNorm()(h)
    h = L.WeightNormConv2DTranspose(2, 5, strides=1, padding="same")(h)
    h = L.VirtualBatchNorm(4, scale="log", per_pixel=True)(h)
    h = keras.layers.Flatten()(h)
    h = L.MinibatchDiscrimination(7, 3)(h)
    h = L.MnistWeightNormDense(6)(h)
    h = L.L2NormalizedDense(5, activation="sigmoid")(h)
    h = L.VirtualBatchNorm(4)(h)
    outputs = L.WeightNormDense(3, train_scale=True, init_scale=0.1)(h)
    return keras.Model(inputs, outputs)


def test_every_layer_survives_keras_save_and_load(rng, tmp_path):
    x = rng.randn(12, 8, 8, 3).astype(np.float32)
    model = _all_layers_model()
    data_dependent_init(model, x)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded(x, training=False).numpy(), model(x, training=False).numpy())
    for original, restored in zip(model.layers, loaded.layers):
        assert type(original) is type(restored)
        assert original.get_config() == restored.get_config()
        assert [w.trainable for w in original.weights] == [w.trainable for w in restored.weights]


def test_every_layer_trains_with_fit(rng):
    x = rng.randn(48, 8, 8, 3).astype(np.float32)
    y = rng.randn(48, 3).astype(np.float32) * 0.1
    model = _all_layers_model()
    data_dependent_init(model, x[:24])
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="mse")
    history = model.fit(x, y, batch_size=24, epochs=8, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_gaussian_noise_draws_in_float32_for_bfloat16_inputs():
    x = tf.zeros((200, 300), tf.bfloat16)
    out = L.GaussianNoise(1.0, seed=2, dtype="mixed_bfloat16")(x, training=True)  # computes in bfloat16
    assert out.dtype == tf.bfloat16
    sample = tf.cast(out, tf.float32).numpy()
    assert abs(sample.std() - 1.0) < 0.02
    # bfloat16 uniforms (8 bits) would cap |z| at sqrt(2 ln 2^8) = 3.33; 60,000 normals exceed 3.5 about 28 times
    assert np.abs(sample).max() > 3.5
