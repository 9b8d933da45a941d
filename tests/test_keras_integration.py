"""The layers as first-class Keras citizens (issue 15): exported and registered by the package, used in Sequential
and functional models with ``fit``, saved as ``.keras`` and loaded in a new process after only ``import
improved_gan_tf2`` (outputs compared bit for bit), run under ``mixed_float16`` / ``mixed_bfloat16`` and XLA, and
taking the common Keras arguments that make sense (refusing the rest with the reason)."""
import inspect
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import improved_gan_tf2
import numpy_reference as ref
from helpers import ENV
from improved_gan_tf2 import data_dependent_init, store_inference_state
from improved_gan_tf2 import layers as L

PUBLIC_LAYERS = sorted(name for name in L.__all__ if inspect.isclass(getattr(L, name))
                       and issubclass(getattr(L, name), keras.layers.Layer))

# Per case: (the layers between Input and Flatten -> Dense(2), the per-example input shape, whether the model's
# inference state is stored after fit). Every public layer is in at least one case (checked below); the stored
# variants also check that the inference state is saved.
CASES = {
    "WeightNormDense": (lambda: [L.WeightNormDense(4, activation="relu", kernel_regularizer="l2")], (6,), False),
    "MnistWeightNormDense": (lambda: [L.MnistWeightNormDense(4)], (3, 2), False),
    "L2NormalizedDense": (lambda: [L.L2NormalizedDense(4, activation="sigmoid")], (6,), False),
    "WeightNormConv2D": (lambda: [L.WeightNormConv2D(3, 3, strides=2, padding="half", activation="leaky_relu")],
                         (6, 6, 2), False),
    "WeightNormConv2DTranspose": (lambda: [L.WeightNormConv2DTranspose(3, 3, train_scale=True, init_scale=0.1)],
                                  (3, 3, 2), False),
    "Deconv2D": (lambda: [L.Deconv2D(3, 5, flip_kernel=True, activation="relu")], (3, 3, 2), False),
    "GaussianNoise": (lambda: [L.GaussianNoise(0.2, seed=3), keras.layers.Dense(3)], (6,), False),
    "MinibatchDiscrimination": (lambda: [L.MinibatchDiscrimination(3, 2)], (6,), False),
    "GeneratorBatchNorm": (lambda: [keras.layers.Dense(5), L.GeneratorBatchNorm()], (6,), False),
    "VirtualBatchNorm": (lambda: [L.VirtualBatchNorm(4, scale="log", per_pixel=True)], (3, 3, 2), False),
    "PrependReferenceBatch+DropReferenceBatch": (
        lambda: [L.PrependReferenceBatch(4), keras.layers.Dense(5), L.VirtualBatchNorm(4),
                 L.DropReferenceBatch(4)], (5,), False),
    "BatchNormCross": (lambda: [L.BatchNormCross()], (3, 3, 4), False),
    "HalvedMinibatchDiscrimination": (lambda: [L.HalvedMinibatchDiscrimination(3, 2)], (6,), False),
    "GeneratorBatchNorm[stored]": (lambda: [keras.layers.Dense(5), L.GeneratorBatchNorm(inference="stored")],
                                   (6,), True),
    "VirtualBatchNorm[stored]": (
        lambda: [L.PrependReferenceBatch(4, inference="stored"), keras.layers.Dense(5),
                 L.VirtualBatchNorm(4, inference="stored"), L.DropReferenceBatch(4, inference="stored")],
        (5,), True),
    "MinibatchDiscrimination[stored]": (
        lambda: [L.MinibatchDiscrimination(3, 2, inference="stored", reference_size=7)], (6,), True),
    "BatchNormCross[stored]": (lambda: [L.BatchNormCross(inference="stored")], (3, 3, 4), True),
    "HalvedMinibatchDiscrimination[stored]": (
        lambda: [L.HalvedMinibatchDiscrimination(3, 2, inference="stored", reference_size=3)], (6,), True),
}


def _sequential(make, shape):
    return keras.Sequential([keras.Input(shape), *make(), keras.layers.Flatten(), keras.layers.Dense(2)])


def _functional(make, shape):
    inputs = keras.Input(shape)
    h = inputs
    for layer in make():
        h = layer(h)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(h)))


def test_the_package_lists_the_layers_it_exports():
    assert improved_gan_tf2._LAYER_NAMES == tuple(L.__all__)


def test_every_public_layer_has_a_case_and_the_package_exports_it():
    covered = {name.split("[")[0] for case in CASES for name in case.split("+")}
    assert covered == set(PUBLIC_LAYERS)
    defined = {name for name, obj in vars(L).items() if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)
               and obj.__module__.startswith(L.__name__ + ".") and not name.startswith("_")}
    assert defined == set(PUBLIC_LAYERS)  # layers.__all__ lists every public layer
    for name in PUBLIC_LAYERS + ["data_dependent_init", "store_inference_state", "OriginalAdam", "SemiSupervisedGAN",
                                 "ImageNetGAN"]:
        assert name in improved_gan_tf2.__all__ and hasattr(improved_gan_tf2, name), name
    for name in PUBLIC_LAYERS + ["OriginalAdam", "SemiSupervisedGAN", "ImageNetGAN"]:
        registered = keras.saving.get_registered_object(f"improved_gan_tf2>{name}")
        assert registered is getattr(improved_gan_tf2, name), name


def test_importing_the_package_registers_on_keras_import_without_importing_tensorflow_itself():
    """``import improved_gan_tf2`` imports no TensorFlow; importing TensorFlow (which imports Keras while it
    initializes) or Keras afterwards registers every layer, optimizer and model."""
    code = (
        "import sys, improved_gan_tf2\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "import tensorflow\n"
        "import keras\n"
        "names = sys.argv[1].split(',')\n"
        "missing = [n for n in names if keras.saving.get_registered_object('improved_gan_tf2>' + n) is None]\n"
        "assert not missing, missing\n"
    )
    names = PUBLIC_LAYERS + ["OriginalAdam", "SemiSupervisedGAN", "ImageNetGAN", "ImageNetGenerator"]
    result = subprocess.run([sys.executable, "-c", code, ",".join(names)], capture_output=True, text=True, env=ENV,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


_LOAD_IN_A_NEW_PROCESS = """
import json, sys
import improved_gan_tf2  # the only import of the package, before Keras: it registers every layer once Keras is in
assert "tensorflow" not in sys.modules  # the package alone does not import TensorFlow (its turing tool needs none)
import numpy as np
import keras
directory = sys.argv[1]
cases = json.load(open(directory + "/cases.json"))
outputs = {}
for key in cases:
    model = keras.models.load_model(f"{directory}/{key}.keras")
    x = np.load(f"{directory}/{key}_x.npy")
    outputs[key] = model(x, training=False).numpy()
    outputs[key + "/classes"] = np.array([type(layer).__name__ for layer in model.layers])
np.savez(directory + "/outputs.npz", **outputs)
"""


def test_every_layer_fits_saves_and_loads_in_a_new_process_bit_for_bit(rng, tmp_path):
    """For every public layer a Sequential and a functional model: data-dependent init, 2 steps of ``fit``, a
    ``.keras`` file, loaded in a new process that only imports ``improved_gan_tf2``; outputs equal bit for bit."""
    expected, keys = {}, []
    for case, (make, shape, stored) in CASES.items():
        x = rng.randn(16, *shape).astype(np.float32)
        y = rng.randn(16, 2).astype(np.float32)
        for kind, build in (("sequential", _sequential), ("functional", _functional)):
            keras.utils.set_random_seed(0)
            model = build(make, shape)
            data_dependent_init(model, x[:8])
            model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
            history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # 2 steps
            assert np.isfinite(history.history["loss"][0]), (case, kind)
            if stored:
                store_inference_state(model, x[:8])
            key = f"{case}-{kind}".replace("+", "_").replace("[", "_").replace("]", "")
            model.save(tmp_path / f"{key}.keras")
            np.save(tmp_path / f"{key}_x.npy", x[8:])
            expected[key] = (model(x[8:], training=False).numpy(), [type(layer).__name__ for layer in model.layers])
            keys.append(key)
    (tmp_path / "cases.json").write_text(json.dumps(keys))
    result = subprocess.run([sys.executable, "-c", _LOAD_IN_A_NEW_PROCESS, str(tmp_path)], capture_output=True,
                            text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = np.load(tmp_path / "outputs.npz")
    assert len(keys) == 2 * len(CASES)
    for key in keys:
        outputs, classes = expected[key]
        assert list(loaded[key + "/classes"]) == classes, key
        np.testing.assert_array_equal(loaded[key], outputs, err_msg=key)


# ---------------------------------------------------------------- mixed precision

#: Largest difference to float32, relative to the largest magnitude of each result (at least 1), of the output
#: and of the gradients (inputs and every trainable weight) of a random projection of it. Measured with these
#: cases: at most 3.2e-3 in float16 (WeightNormConv2DTranspose) and 1.6e-2 in bfloat16 (8-bit mantissa;
#: Deconv2D). The cases use smooth activations: at a ReLU's kink a 16-bit rounding of the pre-activation changes
#: the gradient by the whole slope.
MIXED_TOLERANCE = {"mixed_float16": 1e-2, "mixed_bfloat16": 5e-2}

MIXED_CASES = {
    "WeightNormDense": (lambda: L.WeightNormDense(7, activation="tanh"), (16, 12)),
    "MnistWeightNormDense": (lambda: L.MnistWeightNormDense(7, activation="tanh"), (16, 3, 4)),
    "L2NormalizedDense": (lambda: L.L2NormalizedDense(7, activation="sigmoid"), (16, 12)),
    "WeightNormConv2D": (lambda: L.WeightNormConv2D(5, 3, strides=2, padding="half", activation="tanh"),
                         (4, 9, 9, 3)),
    "WeightNormConv2DTranspose": (lambda: L.WeightNormConv2DTranspose(3, 5, activation="tanh", train_scale=True,
                                                                      init_scale=0.1), (4, 4, 4, 6)),
    "Deconv2D": (lambda: L.Deconv2D(3, 5, flip_kernel=True), (4, 4, 4, 6)),
    "GaussianNoise": (lambda: L.GaussianNoise(0.3, seed=1), (8, 12)),
    "MinibatchDiscrimination": (lambda: L.MinibatchDiscrimination(6, 3), (10, 12)),
    "GeneratorBatchNorm": (lambda: L.GeneratorBatchNorm(scale=True), (10, 4, 4, 6)),
    "VirtualBatchNorm": (lambda: L.VirtualBatchNorm(4, scale="log", per_pixel=True), (9, 3, 3, 6)),
    "VirtualBatchNorm-rank2": (lambda: L.VirtualBatchNorm(4), (9, 6)),
    "PrependReferenceBatch": (lambda: L.PrependReferenceBatch(3), (5, 6)),
    "DropReferenceBatch": (lambda: L.DropReferenceBatch(3), (5, 6)),
    "BatchNormCross": (lambda: L.BatchNormCross(), (8, 3, 3, 6)),
    "HalvedMinibatchDiscrimination": (lambda: L.HalvedMinibatchDiscrimination(5, 4), (8, 12)),
}


@pytest.fixture
def policy():
    """Sets a global dtype policy for the test (as a user does) and restores float32."""
    def set_policy(name):
        keras.mixed_precision.set_global_policy(name)
    yield set_policy
    keras.mixed_precision.set_global_policy("float32")


def _forward_backward(layer, x, projection, training=True):
    xv = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xv)
        y = layer(xv, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * projection)
    grads = tape.gradient(loss, [xv] + layer.trainable_variables)
    return y, [tf.cast(y, tf.float32).numpy()] + [g.numpy() for g in grads]


def test_mixed_cases_cover_every_public_layer():
    assert {name.split("-")[0] for name in MIXED_CASES} == set(PUBLIC_LAYERS)


@pytest.mark.parametrize("name", sorted(MIXED_CASES))
@pytest.mark.parametrize("mixed", sorted(MIXED_TOLERANCE))
def test_every_layer_under_mixed_precision_is_finite_and_close_to_float32(rng, policy, name, mixed):
    make, shape = MIXED_CASES[name]
    # inputs representable in bfloat16 (hence in float16): the comparison measures the layers' arithmetic, not
    # the rounding of their inputs (to which minibatch features' |M_i - M_j| are discontinuous)
    x = tf.cast(tf.cast(rng.randn(*shape) * 2 + 1, tf.bfloat16), tf.float32).numpy()
    results = {}
    for name_of_policy in ("float32", mixed):
        policy(name_of_policy)
        layer = make()
        layer(x)  # builds
        if name_of_policy == "float32":
            weights = [w.numpy() for w in layer.weights]
        else:
            for variable, value in zip(layer.weights, weights):
                variable.assign(value)
        output_shape = layer(x).shape
        projection = tf.constant(np.random.RandomState(5).randn(*output_shape).astype(np.float32))
        y, results[name_of_policy] = _forward_backward(layer, x, projection)
        if name_of_policy == mixed:
            assert y.dtype == keras.mixed_precision.global_policy().compute_dtype
            assert all(w.dtype == "float32" for w in layer.weights)
    for reference, value in zip(results["float32"], results[mixed]):
        assert np.all(np.isfinite(value)), name
        error = np.abs(value - reference).max() / max(1.0, np.abs(reference).max())
        assert error <= MIXED_TOLERANCE[mixed], (name, error)


@pytest.mark.parametrize("mixed", sorted(MIXED_TOLERANCE))
def test_init_pass_and_stored_inference_under_mixed_precision(rng, policy, mixed):
    """The data-dependent init pass and the stored inference state, in 16 bits, match float32."""
    x = tf.cast(tf.cast(rng.randn(12, 5, 5, 3) * 2 + 1, tf.bfloat16), tf.float32).numpy()

    def make():
        keras.utils.set_random_seed(4)
        inputs = keras.Input((5, 5, 3))
        h = L.WeightNormConv2D(4, 3, padding="half", activation="leaky_relu")(inputs)
        h = L.GeneratorBatchNorm(inference="stored")(h)
        h = keras.layers.GlobalAveragePooling2D()(h)
        h = L.MinibatchDiscrimination(5, 3, inference="stored", reference_size=8)(h)
        return keras.Model(inputs, L.WeightNormDense(3, init_scale=0.1, train_scale=True)(h))

    outputs = {}
    for name_of_policy in ("float32", mixed):
        policy(name_of_policy)
        model = make()
        init_out = data_dependent_init(model, x)
        store_inference_state(model, x[:8])
        outputs[name_of_policy] = [tf.cast(init_out, tf.float32).numpy(), model(x[8:], training=False).numpy()]
        outputs[name_of_policy] += [w.numpy() for w in model.weights]
    for reference, value in zip(outputs["float32"], outputs[mixed]):
        assert np.all(np.isfinite(value))
        assert np.abs(value - reference).max() / max(1.0, np.abs(reference).max()) <= MIXED_TOLERANCE[mixed]


def test_minibatch_discrimination_was_nan_in_float16_with_the_original_arithmetic(policy):
    """Why the layer computes its distances in float32: 1e6 on the diagonal is inf in float16, and inf * 0 off
    the diagonal is NaN."""
    assert np.isnan((1e6 * tf.eye(3, dtype=tf.float16)).numpy()).sum() == 6  # every off-diagonal 0 * inf
    policy("mixed_float16")
    out = L.MinibatchDiscrimination(4)(np.random.RandomState(0).randn(6, 8).astype(np.float32))
    assert out.dtype == tf.float16 and np.all(np.isfinite(out.numpy()))


# ---------------------------------------------------------------- XLA


def test_a_model_of_every_layer_trains_with_xla(rng):
    inputs = keras.Input((8, 8, 3))
    h = L.GaussianNoise(0.1)(inputs)
    h = L.WeightNormConv2D(4, 3, strides=2, padding="half", activation="leaky_relu")(h)
    h = L.WeightNormDense(5, activation="relu")(h)
    h = L.Deconv2D(4, 5, flip_kernel=True, activation="relu")(h)
    h = L.GeneratorBatchNorm()(h)
    h = L.WeightNormConv2DTranspose(2, 5, strides=1, padding="same")(h)
    h = L.BatchNormCross()(h)
    h = L.VirtualBatchNorm(4, scale="log", per_pixel=True)(h)
    h = keras.layers.Flatten()(h)
    h = L.MinibatchDiscrimination(7, 3)(h)
    h = L.HalvedMinibatchDiscrimination(3, 2)(h)
    h = L.MnistWeightNormDense(6)(h)
    h = L.L2NormalizedDense(5, activation="sigmoid")(h)
    model = keras.Model(inputs, L.WeightNormDense(3, train_scale=True, init_scale=0.1)(h))
    x, y = rng.randn(24, 8, 8, 3).astype(np.float32), rng.randn(24, 3).astype(np.float32)
    data_dependent_init(model, x[:12])
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="mse", jit_compile=True)
    history = model.fit(x, y, batch_size=12, epochs=3, verbose=0, shuffle=False)
    assert np.all(np.isfinite(history.history["loss"])) and history.history["loss"][-1] < history.history["loss"][0]
    eager = keras.Model(model.inputs, model.outputs)  # the same layers, without XLA
    np.testing.assert_allclose(model.predict(x[:12], batch_size=12, verbose=0), eager(x[:12]).numpy(), atol=1e-5)


# ---------------------------------------------------------------- common Keras arguments


def test_weight_norm_dense_takes_use_bias_regularizers_and_constraints(rng):
    x = rng.randn(6, 5).astype(np.float32)
    layer = L.WeightNormDense(3, use_bias=False, kernel_regularizer=keras.regularizers.L2(0.1),
                              kernel_constraint="non_neg")
    out = layer(x).numpy()
    assert [w.name for w in layer.weights] == ["kernel", "scale"]
    v = layer.kernel.numpy().astype(np.float64)
    np.testing.assert_allclose(out, x @ ref.weight_norm(v, np.ones(3), axes=0), atol=1e-5)
    np.testing.assert_allclose(float(sum(layer.losses)), 0.1 * (v ** 2).sum(), rtol=1e-5)
    model = keras.Sequential([keras.Input((5,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    model.fit(x, rng.randn(6, 3).astype(np.float32) * 10, epochs=1, verbose=0)
    assert layer.kernel.numpy().min() >= 0.0  # the constraint is applied after the update
    # the init pass without a bias only scales
    unbiased = L.WeightNormDense(3, use_bias=False)
    init_out = data_dependent_init(unbiased, x * 3 + 2).numpy()
    np.testing.assert_allclose(((init_out - init_out.mean(0)) ** 2).mean(0), 1.0, rtol=1e-4)
    np.testing.assert_allclose(unbiased(x * 3 + 2).numpy(), init_out, atol=1e-5)
    restored = L.WeightNormDense.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()


@pytest.mark.parametrize("padding,pad", [("half", 2), ("valid", 0)])
def test_weight_norm_conv_takes_dilation_rate(rng, padding, pad):
    x_nchw = rng.randn(2, 3, 9, 9)
    layer = L.WeightNormConv2D(4, 3, padding=padding, dilation_rate=2, data_format="channels_last")
    out = layer(x_nchw.transpose(0, 2, 3, 1).astype(np.float32)).numpy()
    w = ref.weight_norm(layer.kernel.numpy().astype(np.float64).transpose(3, 2, 0, 1), np.ones(4), (1, 2, 3),
                        out_axis=0)
    dilated = np.zeros((4, 3, 5, 5))
    dilated[:, :, ::2, ::2] = w  # a dilated 3x3 kernel is a 5x5 kernel with zeros between its taps
    expected = ref.conv2d_nchw(x_nchw, dilated, 1, pad).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert layer.compute_output_shape((2, 9, 9, 3)) == out.shape


@pytest.mark.parametrize("make,match", [
    (lambda: L.WeightNormConv2D(4, 3, data_format="channels_first"), "NHWC only"),
    (lambda: L.WeightNormConv2D(4, 3, strides=2, dilation_rate=2), "needs strides 1"),
    (lambda: L.WeightNormConv2D(4, 3, groups=2), "not grouped"),
    (lambda: L.Deconv2D(4, 5, dilation_rate=2), "not dilated"),
    (lambda: L.WeightNormConv2DTranspose(4, 5, output_padding=1), "output size is fixed"),
    (lambda: L.WeightNormConv2DTranspose(4, 5, data_format="channels_first"), "NHWC only"),
    (lambda: L.WeightNormDense(4, lora_rank=2), "LoRA"),
    (lambda: L.WeightNormConv2D(4, 3, lora_rank=2), "LoRA is not implemented for the weight-normalized layers"),
    (lambda: L.WeightNormConv2DTranspose(4, 5, lora_rank=2), "LoRA is not implemented for the weight-normalized layers"),
    (lambda: L.Deconv2D(4, 5, lora_rank=2), "LoRA is not implemented for Deconv2D"),
    (lambda: L.GeneratorBatchNorm(momentum=0.99), "no moving averages"),
    (lambda: L.GeneratorBatchNorm(axis=1), "last axis"),
])
def test_refused_keras_arguments_say_why(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_accepted_keras_arguments_survive_get_config():
    layers = [
        L.WeightNormConv2D(4, 3, dilation_rate=2, use_bias=False, kernel_regularizer="l2", bias_constraint="non_neg"),
        L.WeightNormConv2DTranspose(4, 5, kernel_constraint=keras.constraints.MaxNorm(2.0), dilation_rate=1),
        L.Deconv2D(4, 5, kernel_regularizer="l1", bias_regularizer="l2", data_format="channels_last"),
        L.MnistWeightNormDense(4, use_bias=False, bias_regularizer="l2"),
        L.MinibatchDiscrimination(3, kernel_regularizer="l2", kernel_constraint="non_neg"),
        L.HalvedMinibatchDiscrimination(3, 2, kernel_regularizer="l2"),
    ]
    for layer in layers:
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
