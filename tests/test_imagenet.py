"""The ImageNet experiment (``imagenet/`` of the original) against NumPy transcriptions of its definitions
(tests/numpy_reference_imagenet.py): layers, networks, losses, training step, records and scripts.
The distributed tests are in tests/test_imagenet_distributed.py."""
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import docs_pages
import numpy_reference as ref
import numpy_reference_imagenet as iref
from improved_gan_tf2 import layers as L
from improved_gan_tf2 import losses, optimizers, plotting, training
from improved_gan_tf2.data import imagenet as data
from improved_gan_tf2.data.errors import DataFormatError, DataNotFoundError
from improved_gan_tf2.models import imagenet as gan_lib
from improved_gan_tf2.networks import imagenet as nets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(batch_size=3, z_dim=8, gf_dim=4, df_dim=2, image_size=32, num_classes=5, minibatch_kernels=4,
            minibatch_kernel_dim=3, sample_size=4)



def parameter_count(model):
    """Number of trainable parameters (for checks against the original's widths)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))

def _set(layer, **values):
    for name, value in values.items():
        getattr(layer, name).assign(np.asarray(value, np.float32))


def _tiny_gan(**overrides):
    config = dict(TINY)
    config.update(overrides)
    gan = gan_lib.ImageNetGAN(**config)
    gan.compile()
    return gan


def _real_batch(rng, gan):
    images = rng.uniform(-1, 1, (gan.batch_size, gan.image_size, gan.image_size, 3)).astype(np.float32)
    return images, rng.randint(0, gan.num_classes, gan.batch_size).astype(np.int32)


def _run(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable] + args, env=env, capture_output=True, text=True, timeout=300, **kwargs)


# ---------------------------------------------------------------- batch_norm_cross

@pytest.mark.parametrize("shape", [(8, 3, 3, 6), (6, 10)])
def test_batch_norm_cross_matches_original(rng, shape):
    x = (rng.randn(*shape) * 2 + 1).astype(np.float32)
    x[shape[0] // 2:] = x[shape[0] // 2:] * 3 - 2  # halves with different statistics
    layer = L.BatchNormCross()
    layer(x)
    assert [w.name for w in layer.weights] == ["gamma0", "beta0", "gamma1", "beta1"]
    c = shape[-1] // 2
    params = dict(gamma0=rng.rand(c) + 0.5, beta0=rng.randn(c), gamma1=rng.rand(c) + 0.5, beta1=rng.randn(c))
    _set(layer, **params)
    expected = iref.batch_norm_cross(x.astype(np.float64), **params)
    for training in (True, False):
        np.testing.assert_allclose(layer(x, training=training).numpy(), expected, atol=1e-4)


def test_batch_norm_cross_uses_each_half_for_one_half_of_the_channels(rng):
    x = rng.randn(8, 4).astype(np.float32)
    layer = L.BatchNormCross()
    base = layer(x).numpy()
    changed_generated = x.copy()
    changed_generated[4:, :2] += 5.0  # generated rows, first channel half: not in any statistic used there
    out = layer(changed_generated).numpy()
    np.testing.assert_allclose(out[:4], base[:4], atol=1e-5)  # real rows unchanged
    changed_real = x.copy()
    changed_real[:4, 2:] *= 4.0  # real rows, second channel half: not in any statistic used there
    out = layer(changed_real).numpy()
    np.testing.assert_allclose(out[4:], base[4:], atol=1e-5)  # generated rows unchanged


def test_batch_norm_cross_initializers_and_errors():
    layer = L.BatchNormCross()
    layer(np.zeros((4, 400), np.float32))
    for gamma in (layer.gamma0, layer.gamma1):
        assert abs(gamma.numpy().mean() - 1) < 0.01 and abs(gamma.numpy().std() - 0.02) < 0.006
    np.testing.assert_array_equal(layer.beta0.numpy(), 0.0)
    with pytest.raises(ValueError, match="even number of channels"):
        L.BatchNormCross()(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="even number of rows"):
        L.BatchNormCross()(np.zeros((5, 4), np.float32))


# ---------------------------------------------------------------- halved minibatch features

def test_halved_minibatch_features_match_original(rng):
    n, a, k, d = 8, 7, 5, 3
    h = rng.randn(n, a).astype(np.float32)
    layer = L.HalvedMinibatchDiscrimination(k, d)
    layer(h)
    matrix, bias = rng.randn(a, k * d) * 0.3, rng.randn(k * d) * 0.1
    _set(layer, kernel=matrix, bias=bias)
    expected = iref.halved_minibatch_features(h.astype(np.float64), matrix, bias, k, d)
    out = layer(h).numpy()
    assert out.shape == (n, a + 2 * k)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)


def test_halved_minibatch_denominator_is_the_original_scalar(rng):
    """Identical rows: every unmasked exp(-0) is 1, so f = (pairs in the row) / (h (2h - 1))."""
    half, k = 4, 2
    layer = L.HalvedMinibatchDiscrimination(k, 2)
    out = layer(np.ones((2 * half, 3), np.float32)).numpy()[:, 3:]
    denominator = half * (2 * half - 1)
    np.testing.assert_allclose(out[:half, :k], (half - 1) / denominator, rtol=1e-6)  # real row vs real rows
    np.testing.assert_allclose(out[:half, k:], half / denominator, rtol=1e-6)  # real row vs generated rows
    np.testing.assert_allclose(out[half:, k:], (half - 1) / denominator, rtol=1e-6)


def test_halved_minibatch_defaults_and_errors():
    layer = L.HalvedMinibatchDiscrimination()
    out = layer(np.zeros((4, 20), np.float32))
    assert (layer.num_kernels, layer.dim_per_kernel) == (300, 50) and out.shape == (4, 620)
    assert abs(layer.kernel.numpy().std() - 0.02) < 0.001
    with pytest.raises(ValueError, match="even number of rows"):
        layer(np.zeros((3, 20), np.float32))


def test_deconv_bias_initializer_option_keeps_the_default(rng):
    x = rng.randn(2, 4, 4, 3).astype(np.float32)
    plain = L.Deconv2D(2, 5, padding="same")
    plain(x)
    np.testing.assert_array_equal(plain.bias.numpy(), 0.0)
    shifted = L.Deconv2D(2, 5, padding="same", bias_initializer=keras.initializers.Constant(-0.45))
    shifted(x)
    np.testing.assert_allclose(shifted.bias.numpy(), -0.45)
    # padding="same", no flip: tf.nn.conv2d_transpose as ops.deconv2d calls it
    expected = tf.nn.conv2d_transpose(x, plain.kernel, [2, 8, 8, 2], strides=[1, 2, 2, 1], padding="SAME")
    np.testing.assert_allclose(plain(x).numpy(), expected.numpy(), atol=1e-5)


def test_new_layers_survive_keras_save_and_load(rng, tmp_path):
    inputs = keras.Input((8, 8, 3))
    h = L.Deconv2D(4, 5, strides=1, padding="same", bias_initializer=keras.initializers.Constant(-0.45))(inputs)
    h = L.BatchNormCross()(h)
    h = keras.layers.Flatten()(h)
    h = L.BatchNormCross()(keras.layers.Dense(6)(h))
    outputs = L.HalvedMinibatchDiscrimination(3, 2)(h)
    model = keras.Model(inputs, outputs)
    x = rng.randn(6, 8, 8, 3).astype(np.float32)
    path = tmp_path / "imagenet_layers.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)
    for original, restored in zip(model.layers, loaded.layers):
        assert type(original) is type(restored)
        assert original.get_config() == restored.get_config()


# ---------------------------------------------------------------- networks at full width

def test_full_width_networks_have_the_original_shapes_and_initializers():
    gen = nets.build_generator_network(reference_size=16)
    shapes = {name: tuple(gen.get_layer(name).output.shape[1:]) for name in
              ["g_h0_reshape", "g_h1", "g_h2", "g_h3", "g_h4", "g_h5", "g_h6"]}
    assert shapes == {"g_h0_reshape": (4, 4, 512), "g_h1": (8, 8, 256), "g_h2": (16, 16, 128),
                      "g_h3": (32, 32, 64), "g_h4": (64, 64, 64), "g_h5": (128, 128, 64), "g_h6": (128, 128, 3)}
    assert [tuple(i.shape[1:]) for i in gen.inputs] == [
        (8192,), (4, 4, 64), (8, 8, 64), (16, 16, 32), (32, 32, 16), (64, 64, 8), (128, 128, 8)]
    # the original's variables: linear Matrix + bias, each deconv w [5, 5, out, in] + biases, VBN gamma + beta
    deconvs = [(512 + 64, 256), (256 + 64, 128), (128 + 32, 64), (64 + 16, 64), (64 + 8, 64), (64 + 8, 3)]
    expected = 8192 * 8192 + 8192 + 2 * 512 + sum(25 * i * o + o for i, o in deconvs) + 2 * (256 + 128 + 64 * 3)
    assert parameter_count(gen) == expected
    out = gen.get_layer("g_h6")
    np.testing.assert_allclose(out.bias.numpy(), -0.45)
    assert abs(out.kernel.numpy().std() - 0.075) < 0.004
    assert abs(gen.get_layer("g_h0_lin").kernel.numpy()[:500].std() - 0.02) < 0.001
    del gen

    disc = nets.build_discriminator()
    widths = [64, 128, 256, 256, 256, 512, 512]
    sizes = [64, 32, 16, 16, 16, 8, 4]
    for i, (w, s) in enumerate(zip(widths, sizes)):
        assert tuple(disc.get_layer(f"d_h{i}_conv").output.shape[1:]) == (s, s, w)
    assert tuple(disc.output.shape[1:]) == (1001,)
    convs = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 256), (256, 512), (512, 512)]
    expected = sum(9 * i * o + o + 2 * o for i, o in convs)  # w, biases, gamma0/1 + beta0/1 (o/2 each)
    expected += 8192 * 2560 + 2560 + 2 * 2560 + 2560 * 15000 + 15000 + 3160 * 1001 + 1001
    assert parameter_count(disc) == expected
    kernel = disc.get_layer("d_h1_conv").kernel.numpy()
    assert np.abs(kernel).max() <= 0.04 + 1e-6 and abs(kernel.std() - 0.88 * 0.02) < 0.001  # truncated N(0, .02)


def test_image_size_must_be_a_multiple_of_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        nets.generator_input_shapes(image_size=100)


# ---------------------------------------------------------------- generator with virtual batch norm

def _generator_inputs(rng, gen, n):
    return [rng.uniform(-1, 1, (n,) + s).astype(np.float32) for s in gen.example_shapes]


def test_generator_first_layer_is_the_original_vbn_of_the_reference_batch(rng):
    gen = nets.ImageNetGenerator(reference_size=4, z_dim=6, gf_dim=2, image_size=32, seed=3)
    live = _generator_inputs(rng, gen, 3)
    vbn = gen.network.get_layer("g_vbn_0")
    _set(vbn, gamma=rng.rand(16) + 0.5, beta=rng.randn(16))
    probe = keras.Model(gen.network.inputs, gen.network.get_layer("g_relu_0").output)
    joint = [np.concatenate([r.numpy(), x]) for r, x in zip(gen.reference_inputs, live)]
    out = probe(joint).numpy()
    dense = gen.network.get_layer("g_h0_lin")
    pre = (joint[0].astype(np.float64) @ dense.kernel.numpy() + dense.bias.numpy()).reshape(-1, 1, 1, 16)
    exp_ref, exp_live = ref.vbn(pre[:4], pre[4:], vbn.gamma.numpy(), vbn.beta.numpy())
    np.testing.assert_allclose(out, np.maximum(np.concatenate([exp_ref, exp_live]), 0), atol=1e-5)


def test_generator_live_outputs_do_not_depend_on_other_live_examples(rng):
    gen = nets.ImageNetGenerator(reference_size=4, z_dim=6, gf_dim=4, image_size=32, seed=0)
    a = _generator_inputs(rng, gen, 5)
    b = [x.copy() for x in a]
    for x in b:
        x[1:] = rng.uniform(-1, 1, x[1:].shape)
    out_a, out_b = gen(a).numpy(), gen(b).numpy()
    alone = gen([x[:1] for x in a]).numpy()
    assert out_a.shape == (5, 32, 32, 3) and np.all(np.abs(out_a) <= 1)
    np.testing.assert_allclose(out_a[0], out_b[0], atol=1e-5)
    np.testing.assert_allclose(out_a[0], alone[0], atol=1e-5)
    assert not np.allclose(out_a[1], out_b[1], atol=1e-3)
    # ... but they do depend on the reference batch
    gen.reference_inputs[0].assign(rng.uniform(-1, 1, gen.reference_inputs[0].shape))
    assert not np.allclose(gen(a).numpy()[0], out_a[0], atol=1e-4)


def test_reference_batch_is_fixed_non_trainable_and_checkpointed(rng, tmp_path):
    gan = _tiny_gan(seed=5)
    reference = [v.numpy().copy() for v in gan.generator.reference_inputs]
    samples = [v.numpy().copy() for v in gan.sample_inputs]
    assert all(not v.trainable for v in gan.generator.reference_inputs + gan.sample_inputs)
    assert not any(v is w for v in gan.generator.reference_inputs for w in gan.generator.trainable_variables)
    assert reference[0].shape == (3, 8) and np.all(np.abs(reference[0]) <= 1) and reference[0].std() > 0.3
    gan.train_step(_real_batch(rng, gan))
    for before, v in zip(reference, gan.generator.reference_inputs):
        np.testing.assert_array_equal(before, v.numpy())  # unchanged by training
    manager, _ = training.open_imagenet_checkpoints(gan, str(tmp_path))
    training.save_checkpoint(manager, gan)
    other = _tiny_gan(seed=6)
    assert not np.allclose(other.generator.reference_inputs[0].numpy(), reference[0])
    _, restored = training.open_imagenet_checkpoints(other, str(tmp_path))
    assert restored.endswith("DCGAN.model-1")
    for v, w in zip(gan.weights, other.weights):
        np.testing.assert_array_equal(v.numpy(), w.numpy())
    for v, w in zip(gan.discriminator_optimizer.variables + gan.generator_optimizer.variables,
                    other.discriminator_optimizer.variables + other.generator_optimizer.variables):
        np.testing.assert_array_equal(v.numpy(), w.numpy())
    np.testing.assert_array_equal(other.sample_inputs[-1].numpy(), samples[-1])
    np.testing.assert_allclose(other.sample().numpy(), gan.sample().numpy(), atol=1e-6)


# ---------------------------------------------------------------- losses, optimizer, train step

def test_losses_match_build_model(rng):
    b, k = 5, 7
    class_logits = (rng.randn(2 * b, k + 1) * 3).astype(np.float32)
    labels = rng.randint(0, k, b)
    class_logits[0, labels[0]] = 50.0  # one certainly right
    out = losses.imagenet_losses(class_logits, labels)
    expected = iref.build_model_losses(class_logits.astype(np.float64), labels)
    for name, value in expected.items():
        np.testing.assert_allclose(out[name].numpy(), value, rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(losses.gan_logits(class_logits).numpy(), iref.gan_logits(class_logits), rtol=1e-5)
    assert losses.PAPER_LABEL_SMOOTHING == 0.25 and losses.IMAGENET_GENERATOR_TARGET == 0.375


def test_keras_adam_is_tf1_adam(rng):
    target = rng.randn(6)
    w = tf.Variable(rng.randn(6).astype(np.float32))
    init = w.numpy().astype(np.float64)
    opt = optimizers.tf1_adam(0.0004, 0.5)
    for _ in range(5):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum((w - target) ** 2)
        opt.apply_gradients([(tape.gradient(loss, w), w)])
    expected = iref.tf1_adam([init], lambda p: [2 * (p[0] - target)], 5, 0.0004)[0]
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6, atol=1e-7)
    assert opt.epsilon == 1e-8 and opt.beta_1 == 0.5 and opt.beta_2 == 0.999


def test_train_step_updates_both_players_once_from_one_forward_pass(rng):
    gan = _tiny_gan()
    images, labels = _real_batch(rng, gan)
    d_before = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
    g_before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    d_grads, g_grads, losses = gan.compute_gradients(images, labels)  # what step 0 will use
    logs = gan.train_step((images, labels))
    for name in ("d_loss", "g_loss", "d_loss_real", "d_loss_fake", "d_loss_class", "error_rate"):
        np.testing.assert_allclose(logs[name].numpy(), losses[name].numpy(), rtol=1e-5, err_msg=name)
    assert int(gan.step.numpy()) == 1
    assert int(gan.discriminator_optimizer.iterations.numpy()) == 1 and int(gan.generator_optimizer.iterations.numpy()) == 1
    # first Adam step: each parameter moves by lr * g / (|g| + eps / sqrt(1 - b2)) in the gradient's sign
    for before, v, g in zip(d_before + g_before, gan.discriminator.trainable_variables +
                            gan.generator.trainable_variables, list(d_grads) + list(g_grads)):
        g = g.numpy()
        expected = before - 0.0004 * g / (np.abs(g) + 1e-8 / np.sqrt(1 - 0.999))
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-4, atol=1e-7)
    assert all(np.any(g.numpy() != 0) for g in list(d_grads) + list(g_grads) if g.shape.num_elements() > 4)
    np.testing.assert_allclose(logs["avg_error_rate"].numpy(), logs["error_rate"].numpy())


def test_running_error_rate_is_build_models(rng):
    gan = _tiny_gan()
    errors = rng.rand(130)
    for e in errors:
        gan.update_error_rate(tf.constant(e, tf.float32))
    np.testing.assert_allclose(gan.avg_error_rate.numpy(), iref.running_error_rate(errors)[-1], rtol=1e-5)


def test_noise_differs_between_replicas_and_steps_and_is_reproducible():
    gan = _tiny_gan(seed=1)
    draw = [gan.generator_inputs(2, gan.noise_key(s, r))[1].numpy() for s, r in [(0, 0), (0, 1), (1, 0), (0, 0)]]
    assert not np.allclose(draw[0], draw[1]) and not np.allclose(draw[0], draw[2])
    np.testing.assert_array_equal(draw[0], draw[3])
    assert draw[0].min() >= -1 and draw[0].max() <= 1


def test_fit_trains_and_monitor_writes_log_line_samples_and_checkpoints(rng, tmp_path):
    gan = _tiny_gan(sample_size=64)
    images, labels = _real_batch(rng, gan)
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    manager, _ = training.open_imagenet_checkpoints(gan, str(tmp_path / "ckpt"))
    lines = []
    monitor = training.ImageNetTrainingMonitor(manager, str(tmp_path), str(tmp_path / "logs"), print_every_secs=0,
                                              checkpoint_every_secs=0, print_fn=lines.append)
    history = gan.fit(dataset, steps_per_epoch=10, epochs=1, verbose=0, callbacks=[monitor], shuffle=False)
    assert int(gan.step.numpy()) == 10 and np.all(np.isfinite(history.history["d_loss"]))
    assert lines[0].startswith("[Batch 1] time: ") and ", d_loss: " in lines[0]
    fields = [f.split(":")[0] for f in lines[0].split("] ")[1].split(", ")]
    assert fields == ["time", "d_loss", "g_loss", "d_loss_real", "d_loss_fake", "d_loss_class", "sec/batch",
                      "sec/this batch"]
    assert lines[1].startswith("running top-1 error rate[")
    assert os.path.exists(tmp_path / "train_10.png") and manager.latest_checkpoint.endswith("DCGAN.model-10")
    from PIL import Image
    assert Image.open(tmp_path / "train_10.png").size == (8 * 32, 8 * 32)
    assert os.listdir(tmp_path / "logs")


def test_sample_grid_is_utils_merge_then_imsave(rng, tmp_path):
    images = rng.uniform(-0.5, 0.8, (6, 4, 5, 3))
    grid = plotting.merge_images(images, (2, 3))
    np.testing.assert_allclose(grid, iref.merge((images + 1) / 2, (2, 3)))
    from PIL import Image
    path = plotting.save_image_grid(images, (2, 3), str(tmp_path / "g.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(path)), iref.scipy_bytescale(grid))


# ---------------------------------------------------------------- records and preprocessing

def test_record_round_trip(rng, tmp_path):
    images = rng.randint(0, 256, (5, 32, 32, 3)).astype(np.uint8)
    labels = [0, 999, 3, 7, 1]
    path = str(tmp_path / "r.tfrecords")
    assert data.write_records(path, zip(images, labels)) == 5
    parsed = list(tf.data.TFRecordDataset(path).map(lambda s: data.parse_example(s, 32)))
    for (image, label), raw, expected_label in zip(parsed, images, labels):
        # model.py: tf.cast(image, tf.float32) * (2. / 255) - 1.
        expected = raw.astype(np.float32) * np.float32(2.0 / 255) - np.float32(1.0)
        np.testing.assert_array_equal(image.numpy(), expected)
        assert label.dtype == tf.int32 and int(label) == expected_label
    example = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(path))).numpy())
    feature = example.features.feature
    assert [feature[k].int64_list.value[0] for k in ("height", "width", "depth")] == [32, 32, 3]
    assert feature["image_raw"].bytes_list.value[0] == images[0].tobytes()
    assert np.min([i.numpy().min() for i, _ in parsed]) >= -1.0


def test_dataset_batches_shuffles_repeats_and_checks_records(rng, tmp_path):
    images = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((10, 32, 32, 3), np.uint8)
    path = str(tmp_path / "r.tfrecords")
    data.write_records(path, zip(images, range(10)))
    dataset = data.make_dataset(path, batch_size=4, image_size=32, seed=1)
    batches = list(dataset.take(25))
    assert all(tuple(b[0].shape) == (4, 32, 32, 3) for b in batches)  # static, drop_remainder
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert labels[:10].tolist() != list(range(10))  # shuffled
    assert set(labels.tolist()) == set(range(10))  # 100 draws from 10 records: repeated epochs
    values = np.concatenate([b[0].numpy()[:, 0, 0, 0] for b in batches])
    np.testing.assert_allclose(values, labels * (2.0 / 255) - 1, atol=1e-6)  # image and label stay paired
    with pytest.raises(DataFormatError, match="--image_width=32"):
        data.make_dataset(path, batch_size=4, image_size=128)
    with pytest.raises(DataNotFoundError, match="convert_imagenet_to_records"):
        data.make_dataset(str(tmp_path / "missing*.tfrecords"), batch_size=4)


@pytest.mark.parametrize("shape", [(37, 50, 3), (61, 40, 3), (45, 45), (30, 71)])
def test_preprocessing_is_get_image_colorize_and_uint8(rng, shape):
    pixels = rng.randint(3, 250, shape).astype(np.float64)  # never spans 0..255: the stretch matters
    expected = iref.get_image_for_records(pixels, 16)
    out = data.original_preprocess(pixels, 16)
    assert out.dtype == np.uint8 and out.shape == (16, 16, 3)
    np.testing.assert_array_equal(out, expected)


def test_uint8_round_trip_of_the_converter_is_kept():
    values = np.arange(256, dtype=np.float64)
    original = ((values / 127.5 - 1.0 + 1.0) * (255.0 / 2.0)).astype(np.uint8)
    lowered = np.nonzero(original != values)[0]
    assert len(lowered) > 0 and np.all(original[lowered] == lowered - 1)
    # an image already spanning 0..255 whose size needs no resampling shows the same table
    image = np.tile(values.reshape(16, 16)[..., None], (1, 1, 3))
    np.testing.assert_array_equal(data.original_preprocess(image, 16), original.reshape(16, 16)[..., None] * [1, 1, 1])


def test_class_folders_are_labelled_in_sorted_order(tmp_path):
    from PIL import Image
    for name in ["n02", "n01", "n10"]:
        os.makedirs(tmp_path / name)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name / "a.JPEG")
    os.makedirs(tmp_path / "other")
    files, index = data.list_class_folders(str(tmp_path))
    assert index == {"n01": 0, "n02": 1, "n10": 2}
    assert [label for _, label in files] == [0, 1, 2]
    with pytest.raises(DataNotFoundError, match="no class folders"):
        data.list_class_folders(str(tmp_path / "other"))


def test_tfds_source_explains_the_manual_download(tmp_path):
    with pytest.raises(DataNotFoundError, match="downloads/manual"):
        data.tfds_imagenet_builder(str(tmp_path))


# ---------------------------------------------------------------- scripts

def test_converter_script_writes_original_records(rng, tmp_path):
    from PIL import Image
    pixels = {}
    for c, name in enumerate(["n0002", "n0001"]):
        os.makedirs(tmp_path / "train" / name)
        for k in range(2):
            array = rng.randint(0, 256, (20 + 3 * k, 26, 3)).astype(np.uint8)
            Image.fromarray(array).save(tmp_path / "train" / name / f"{k}.png")
            pixels[(1 - c, k)] = array
    out = str(tmp_path / "out.tfrecords")
    result = _run([os.path.join(ROOT, "imagenet", "convert_imagenet_to_records.py"),
                   f"--data_dir={tmp_path / 'train'}", f"--output={out}", "--image_size=16", "--num_workers=1"])
    assert result.returncode == 0, result.stderr[-2000:]
    records = [tf.train.Example.FromString(r.numpy()).features.feature for r in tf.data.TFRecordDataset(out)]
    assert sorted(f["label"].int64_list.value[0] for f in records) == [0, 0, 1, 1]
    expected = {iref.get_image_for_records(p.astype(np.float64), 16).tobytes() for p in pixels.values()}
    assert {f["image_raw"].bytes_list.value[0] for f in records} == expected
    bad = _run([os.path.join(ROOT, "imagenet", "convert_imagenet_to_records.py"), f"--data_dir={tmp_path}/nothing"])
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1].startswith("convert_imagenet_to_records.py: error:")


def test_training_script_rejects_bad_flags_and_data_in_one_line(tmp_path):
    script = os.path.join(ROOT, "imagenet", "train_imagenet.py")
    odd = _run([script, "--df_dim=3"])
    assert odd.returncode != 0 and "--df_dim must be even" in odd.stderr and "Traceback" not in odd.stderr
    size = _run([script, "--image_width=100"])
    assert size.returncode != 0 and "multiple of 32" in size.stderr and "Traceback" not in size.stderr
    missing = _run([script, f"--dataset={tmp_path}/none.tfrecords", "--gf_dim=2", "--df_dim=2", "--z_dim=4",
                    "--image_width=32", "--num_classes=2", "--minibatch_kernels=2", "--minibatch_kernel_dim=2",
                    f"--checkpoint_dir={tmp_path}/c", f"--sample_dir={tmp_path}/s"])
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1].startswith("train_imagenet.py: error: No TFRecord file matches")


@pytest.mark.slow  # four TensorFlow processes: 1m45 of CPU, 2 to 6 minutes on this shared 2-core machine
def test_the_experiments_pages_imagenet_smoke_command_runs(tmp_path):
    """docs/experiments.md's smoke command (imagenet/README.md's too) run as written in a checkout, its --workdir
    moved into tmp_path (the default --steps: the files it lists depend on them): it prints the list of what it
    wrote that imagenet/README.md gives, and writes those files."""
    import fnmatch

    (command,) = docs_pages.commands(docs_pages.block("docs/experiments.md",
                                                      "ImageNet 128x128 (paper Sec. 6.4, Fig. 6)").text)
    readme = docs_pages.block("imagenet/README.md", "4. Smoke run")
    assert docs_pages.commands(readme.text) == [command]
    assert command[:2] == ["python", "imagenet/smoke.py"] and command[2].startswith("--workdir="), command
    workdir = str(tmp_path / os.path.basename(command[2].split("=", 1)[1]))
    work = docs_pages.checkout(tmp_path / "work")
    result = docs_pages.run(command[:2] + ["--workdir=" + workdir] + command[3:], work, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    # what imagenet/README.md says: the paragraph after its block
    after = docs_pages.read(readme.page).splitlines()[readme.line + readme.text.count("\n") + 1:]
    after = after[next(i for i, line in enumerate(after) if line.strip()):]
    paragraph = " ".join(after[:after.index("")])
    images, classes = re.search(r"Draws (\d+) JPEGs in (\d+) class folders", paragraph).groups()
    listed = paragraph.split("lists what it wrote:", 1)[1]
    promised = [code for _, code in docs_pages.code_spans_of_text(listed)]
    assert "smoke_32.tfrecords" in promised and "logs/" in promised, promised
    wrote = result.stdout.split("\nwrote:\n", 1)[1].splitlines()
    assert wrote[-1] == f"  images/: {images} generated JPEGs in {classes} class folders"
    written = [re.match(r"  (\S+) \((\d+) bytes\)$", line).group(1) for line in wrote[:-1]]
    for pattern in promised:
        if pattern.endswith("/"):  # the TensorBoard event files
            pattern += "events.out.tfevents.*"
        matches = fnmatch.filter(written, pattern)
        assert matches, (pattern, written)
        assert all(os.path.getsize(os.path.join(workdir, name)) > 0 for name in matches)
