"""CIFAR-10 and SVHN: the networks against the original layer lists, the epoch order and init batch of each
script, the SVHN test evaluation, the sample grids, the Table 3 options, and a short run of each script on small
files in the original formats (written here) that checks every promised output."""
import json
import os
import pickle
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from improved_gan_tf2 import losses, port
from improved_gan_tf2.data import OriginalEpochOrder, original_rng, select_labelled
from improved_gan_tf2.data.pipeline import evaluation_dataset, overlapping_windows
from improved_gan_tf2.layers import (
    Deconv2D,
    GaussianNoise,
    GeneratorBatchNorm,
    MinibatchDiscrimination,
    VirtualBatchNorm,
    WeightNormConv2D,
    WeightNormConv2DTranspose,
    WeightNormDense,
    lrelu,
)
from improved_gan_tf2 import experiments
from improved_gan_tf2.experiments.cifar_svhn import CIFAR_SVHN_EXPERIMENTS as EXPERIMENTS
from improved_gan_tf2.experiments.runner import first_epoch_init_batch as init_batch
from improved_gan_tf2.models.semi_supervised import SemiSupervisedGAN
from improved_gan_tf2.networks.cifar_svhn import cifar_svhn_discriminator, cifar_svhn_generator
from improved_gan_tf2.optimizers import OriginalAdam
from improved_gan_tf2.plotting import cifar_sample_grid, display_scale, svhn_sample_grid, upscale

from helpers import ENV, SCRIPTS, build, history

ORIGINAL_LINE = re.compile(
    r"^Iteration (\d+), time = \d+s, loss_lab = -?\d+\.\d{4}, loss_unl = -?\d+\.\d{4}, "
    r"train err = \d\.\d{4}, test err = (\d\.\d{4})$", re.M
)
TINY = ["--batch_size=10", "--count=2", "--width_scale=0.0625"]


# ============================================================================ networks vs the original


def _layers(model, kinds):
    return [layer for layer in model.layers if isinstance(layer, kinds)]


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_discriminators_follow_the_original_layer_lists(name):
    spec = EXPERIMENTS[name]
    networks = spec.networks
    model = cifar_svhn_discriminator(networks.discriminator_widths, networks.input_noise, networks.minibatch_kernels)
    w1, w2 = {"train_svhn_feature_matching": (64, 128)}.get(name, (96, 192))
    assert networks.discriminator_widths == (w1, w2)
    convs = _layers(model, WeightNormConv2D)
    assert [(c.filters, c.strides[0], c.padding) for c in convs] == [
        (w1, 1, "half"), (w1, 1, "half"), (w1, 2, "half"), (w2, 1, "half"), (w2, 1, "half"), (w2, 2, "half"),
        (w2, 1, "valid")]
    dense = _layers(model, WeightNormDense)
    assert [d.units for d in dense] == [w2, w2, 10]
    assert all(c.activation is lrelu for c in convs + dense[:2])
    assert all(not c.train_scale and c.init_scale == 1.0 for c in convs + dense[:2])
    assert dense[-1].train_scale and dense[-1].init_scale == 0.1 and dense[-1].activation is keras.activations.linear
    noise = model.layers[1]
    if spec.generator_loss == "feature_matching":
        assert isinstance(noise, keras.layers.Dropout) and noise.rate == 0.2 and not _layers(model, MinibatchDiscrimination)
    else:
        assert isinstance(noise, GaussianNoise) and noise.stddev == 0.2
        assert [m.num_kernels for m in _layers(model, MinibatchDiscrimination)] == [100]
    assert [d.rate for d in _layers(model, keras.layers.Dropout) if d is not noise] == [0.5, 0.5]
    assert model.outputs[1].shape == (None, w2)  # features: the global-pool output
    # the original's parameter lists: 9 weight-normalized layers of (W, b, g), minibatch (theta, lws, b), dense
    slots = port.original_parameter_slots(model)
    mb = 3 if networks.minibatch_kernels else 0
    assert len(slots) == 30 + mb and sum(s.trainable for s in slots) == 21 + mb
    trainable = {v.path for v in model.trainable_variables}
    assert {s.variable.path for s in slots if s.trainable} == trainable


def test_generator_follows_the_original_layer_list():
    model = cifar_svhn_generator()
    assert model.output.shape == (None, 32, 32, 3)
    dense = model.get_layer("dense")
    assert dense.units == 8192 and not dense.use_bias
    assert model.get_layer("reshape").target_shape == (4, 4, 512)
    deconvs = _layers(model, Deconv2D)
    assert [(d.filters, d.kernel_size, d.strides, d.padding, d.use_bias) for d in deconvs] == [
        (256, (5, 5), (2, 2), "half", False), (128, (5, 5), (2, 2), "half", False)]
    norms = _layers(model, GeneratorBatchNorm)
    assert [n.bias.shape for n in norms] == [(8192,), (256,), (128,)] and all(n.gamma is None for n in norms)
    out = model.get_layer("output")
    assert isinstance(out, WeightNormConv2DTranspose)
    assert out.train_scale and out.init_scale == 0.1 and out.activation is keras.activations.tanh
    assert (out.filters, out.padding) == (3, "half")
    slots = port.original_parameter_slots(model)
    assert sum(s.trainable for s in slots) == 9  # gen_params: W, b, W, b, W, b, V, b, g
    assert {s.variable.path for s in slots if s.trainable} == {v.path for v in model.trainable_variables}


def test_virtual_batch_norm_generator_keeps_live_samples_independent(rng):
    model = cifar_svhn_generator((16, 8, 4), normalization="virtual", reference_size=5)
    assert len(_layers(model, VirtualBatchNorm)) == 3 and not _layers(model, GeneratorBatchNorm)
    assert len(model.non_trainable_weights) == 1  # the fixed reference noise
    z = rng.uniform(0, 1, (6, 100)).astype(np.float32)
    both = model(z).numpy()
    assert both.shape == (6, 32, 32, 3)
    np.testing.assert_allclose(model(z[:2]).numpy(), both[:2], atol=1e-5)  # VBN: no dependence on the others
    plain = cifar_svhn_generator((16, 8, 4))
    assert not np.allclose(plain(z[:2]).numpy(), plain(z).numpy()[:2], atol=1e-5)  # BN: batch statistics


# ============================================================================ data order, init batch, schedule


def _original_minibatch_cifar(seed, trainx, trainy, count, epochs):
    """train_cifar_minibatch_discrimination.py's RNG use: two seed draws, the labelled choice with ``rng``,
    then per epoch ceil(n_unl / n_lab) labelled permutations and ONE unlabelled permutation."""
    rng = np.random.RandomState(seed)
    rng.randint(2 ** 15), rng.randint(2 ** 15)
    trainx_unl = trainx.copy()
    inds = rng.permutation(trainx.shape[0])
    trainx, trainy = trainx[inds], trainy[inds]
    txs = np.concatenate([trainx[trainy == j][:count] for j in range(10)])
    out = []
    for epoch in range(epochs):
        lab = [txs[rng.permutation(txs.shape[0])] for _ in range(int(np.ceil(trainx_unl.shape[0] / float(txs.shape[0]))))]
        lab = np.concatenate(lab)
        trainx_unl = trainx_unl[rng.permutation(trainx_unl.shape[0])]
        out.append((lab, trainx_unl.copy(), lab[:500] if epoch == 0 else None))
    return out


def test_minibatch_cifar_order_uses_one_rng_and_one_unlabelled_copy():
    n, count = 530, 3
    trainx = np.arange(n) * 7 + 1
    trainy = np.random.RandomState(9).randint(0, 10, n)
    expected = _original_minibatch_cifar(4, trainx, trainy, count, epochs=3)
    rng, _, _ = original_rng(4)  # what train_cifar_minibatch_discrimination.py does
    labelled = select_labelled(trainx, trainy, count, rng)
    order = OriginalEpochOrder(rng, len(labelled.x_lab), n, tiling="ceil", unlabelled_copies=1)
    for epoch, (lab, unl, init) in enumerate(expected):
        e = order.next_epoch()
        np.testing.assert_array_equal(labelled.x_lab[e.lab_idx], lab)
        assert len(lab) == 18 * 30  # ceil(530 / 30) = 18 copies
        np.testing.assert_array_equal(trainx[e.unl_idx], unl)
        np.testing.assert_array_equal(e.unl2_idx, e.unl_idx)
        if epoch == 0:
            replay_rng, _, _ = original_rng(4)
            replay = select_labelled(trainx, trainy, count, replay_rng)
            first = OriginalEpochOrder(replay_rng, len(replay.x_lab), n, "ceil", unlabelled_copies=1).next_epoch()
            np.testing.assert_array_equal(init_batch(replay.x_lab, first), init)
    state = order.get_state()
    assert int(state["unlabelled_copies"]) == 1
    with pytest.raises(ValueError, match="unlabelled_copies"):
        OriginalEpochOrder(1, 30, n, "ceil", unlabelled_copies=2).set_state(state)
    with pytest.raises(ValueError, match="unlabelled_copies"):
        OriginalEpochOrder(1, 30, n, "ceil", unlabelled_copies=3)


def test_learning_rate_ramps_down_as_the_originals():
    cifar, svhn = EXPERIMENTS["train_cifar_feature_matching"], EXPERIMENTS["train_svhn_minibatch_discrimination"]
    assert (cifar.epochs, svhn.epochs, cifar.count, svhn.count) == (1200, 900, 400, 100)
    for epoch in (0, 399, 400, 401, 800, 1199):
        assert cifar.learning_rate(0.0003, epoch) == pytest.approx(0.0003 * min(3.0 - epoch / 400.0, 1.0))
    assert svhn.learning_rate(0.0003, 600) == pytest.approx(0.0003) and svhn.learning_rate(0.0003, 750) == pytest.approx(0.00015)
    assert cifar.learning_rate(0.0003, 1199) > 0


# ============================================================================ the SVHN test evaluation


def test_overlapping_windows_are_the_originals():
    assert overlapping_windows(35, 10) == [(0, 10), (10, 20), (20, 30), (25, 35)]
    assert overlapping_windows(30, 10) == [(0, 10), (10, 20), (20, 30)]
    assert overlapping_windows(26032, 100)[-2:] == [(25900, 26000), (25932, 26032)]
    with pytest.raises(ValueError, match="larger"):
        overlapping_windows(5, 10)


def _evaluation_gan(rng):
    keras.utils.set_random_seed(3)
    gan = build("train_svhn_minibatch_discrimination", width_scale=0.0625, batch_size=10, seed=3)
    gan.initialize(rng.uniform(-1, 1, (20, 32, 32, 3)).astype(np.float32), 10)
    for average, variable in zip(gan.parameter_average.averages, gan.discriminator.trainable_variables):
        average.assign(variable)  # evaluate the initialized network, not the zero-started average
    return gan


def test_svhn_evaluation_is_the_originals(rng):
    gan = _evaluation_gan(rng)
    n, b = 35, 10
    x = rng.uniform(-1, 1, (n, 32, 32, 3)).astype(np.float32)
    logits_of = {w: gan.averaged_logits(x[w[0]:w[1]]).numpy() for w in overlapping_windows(n, b)}
    y = np.concatenate([logits_of[(0, 10)].argmax(1), logits_of[(10, 20)].argmax(1), logits_of[(20, 30)].argmax(1),
                        logits_of[(25, 35)][5:].argmax(1)]).astype(np.int32)
    y[::3] = (y[::3] + 1) % 10  # some errors, also among the rows the last two windows share
    y[26:29] = (y[26:29] + 1) % 10

    # train_svhn_feature_matching.py: predictions written into one array, the last window overwriting
    test_pred = np.zeros((n, 10))
    for t in range(int(np.ceil(float(n) / b))):
        last = min((t + 1) * b, n)
        first = last - b
        test_pred[first:last] = logits_of[(first, last)]
    fm_err = np.mean(np.argmax(test_pred, axis=1) != y)
    # train_svhn_minibatch_discrimination.py: the mean of the windows' batch errors
    mb_err = np.mean([np.mean(logits_of[w].argmax(1) != y[w[0]:w[1]]) for w in overlapping_windows(n, b)])
    assert fm_err != mb_err

    for tail, expected in (("overlap_predictions", fm_err), ("overlap_batches", mb_err)):
        dataset, count = evaluation_dataset(x, y, b, tail=tail)
        assert count == n
        result = gan.evaluate(dataset, return_dict=True, verbose=0)
        assert result["test_err"] == pytest.approx(expected, abs=1e-6), tail
    dataset, count = evaluation_dataset(x, y, b)  # CIFAR-10 / MNIST: full batches only
    assert count == 30
    assert gan.evaluate(dataset, return_dict=True, verbose=0)["test_err"] == pytest.approx(
        np.mean([np.mean(logits_of[w].argmax(1) != y[w[0]:w[1]]) for w in [(0, 10), (10, 20), (20, 30)]]), abs=1e-6)


# ============================================================================ sample grids


def _img_tile(imgs, border_color):
    """plotting.img_tile(imgs, aspect_ratio=1.0, border_color=..., stretch=True), transcribed."""
    imgs = imgs.astype(float)
    imgs -= imgs.min()
    imgs /= imgs.max() + 1e-12
    n, h, w = imgs.shape[:3]
    rows, cols = int(np.ceil(np.sqrt(n * w / float(h)))), int(np.ceil(np.sqrt(n / (w / float(h)))))
    out = np.empty(((h + 1) * rows - 1, (w + 1) * cols - 1) + imgs.shape[3:])
    out[:] = border_color
    for i in range(rows):
        for j in range(cols):
            k = j + i * cols
            if k >= n:
                break
            out[(h + 1) * i:(h + 1) * i + h, (w + 1) * j:(w + 1) * j + w] = imgs[k]
    return out


def test_sample_grids_are_the_originals(rng):
    samples = rng.uniform(-0.9, 0.8, (100, 32, 32, 3))
    grid = cifar_sample_grid(samples)
    assert grid.shape == (329, 329, 3)
    np.testing.assert_allclose(grid, _img_tile(samples, 1.0))
    np.testing.assert_allclose(cifar_sample_grid(samples[:10]), _img_tile(samples[:10], 1.0))

    grid = svhn_sample_grid(samples)  # row i: images i, i+10, ... side by side; bytescale-like stretch
    rows = [np.concatenate([samples[k] for k in range(i, 100, 10)], 1) for i in range(10)]
    expected = np.concatenate(rows, 0)
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    assert grid.shape == (320, 320, 3)
    np.testing.assert_allclose(grid, expected, atol=1e-9)
    assert svhn_sample_grid(samples[:15]).shape == (320, 64, 3)


# ============================================================================ Table 3 options


def _tiny_gan(**options):
    keras.utils.set_random_seed(0)
    z = keras.Input((3,))
    generator = keras.Model(z, keras.layers.Dense(5, activation="sigmoid")(keras.layers.Dense(4, activation="tanh")(z)))
    x = keras.Input((5,))
    features = keras.layers.Dense(4, activation="relu")(x)
    discriminator = keras.Model(x, [keras.layers.Dense(3)(features), features])
    gan = SemiSupervisedGAN(generator, discriminator, noise_dim=3, generator_loss="minibatch", generator_steps=2,
                            seed=5, **options)
    gan.compile(OriginalAdam(0.01), OriginalAdam(0.01))
    return gan


def _batch(rng, n=6):
    return (rng.rand(n, 5).astype(np.float32), rng.randint(0, 3, n).astype(np.int32), rng.rand(n, 5).astype(np.float32),
            rng.rand(n, 5).astype(np.float32))


def _step(gan, data, steps=1):
    gan.fit(tf.data.Dataset.from_tensors(data).repeat(steps), epochs=1, verbose=0, shuffle=False)


def _weights(gan):
    return [v.numpy() for v in gan.discriminator.trainable_variables + gan.generator.trainable_variables]


def test_label_smoothing_is_one_sided(rng):
    gan = _tiny_gan(label_smoothing=0.25)
    l_unl, l_gen = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    s_unl, s_gen = np.log(np.exp(l_unl).sum(1)), np.log(np.exp(l_gen).sum(1))
    softplus = lambda v: np.logaddexp(0, v)  # noqa: E731
    # real target 0.75: KL(Bernoulli(0.75) || sigmoid(s)) = 0.75 softplus(-s) + 0.25 softplus(s) - H(0.75)
    entropy = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    real = 0.75 * softplus(-s_unl) + 0.25 * softplus(s_unl) - entropy
    expected = 0.5 * real.mean() + 0.5 * softplus(s_gen).mean()
    got = losses.unsupervised_loss(tf.constant(l_unl), tf.constant(l_gen), gan.label_smoothing).numpy()
    assert got == pytest.approx(expected, rel=1e-6)
    plain = losses.unsupervised_loss(tf.constant(l_unl), tf.constant(l_gen), _tiny_gan().label_smoothing).numpy()
    assert plain == pytest.approx(losses.unsupervised_loss(l_unl, l_gen).numpy())  # 0: the original's loss_unl
    with pytest.raises(ValueError, match="label_smoothing"):
        _tiny_gan(label_smoothing=1.0)


def test_no_labels_ignores_the_labelled_batch(rng):
    x_lab, y_lab, x_unl, x_unl2 = _batch(rng)
    a, b = _tiny_gan(use_labels=False), _tiny_gan(use_labels=False)
    _step(a, (x_lab, y_lab, x_unl, x_unl2))
    _step(b, (rng.rand(6, 5).astype(np.float32), (y_lab + 1) % 3, x_unl, x_unl2))
    for u, v in zip(_weights(a), _weights(b)):
        np.testing.assert_allclose(u, v, rtol=1e-6)
    c = _tiny_gan()
    _step(c, (x_lab, y_lab, x_unl, x_unl2))
    assert not np.allclose(c.discriminator.trainable_variables[0].numpy(), a.discriminator.trainable_variables[0].numpy())


def test_historical_averaging_penalizes_the_distance_from_the_running_mean(rng):
    data = _batch(rng)
    plain, averaged = _tiny_gan(), _tiny_gan(historical_averaging=1.0)
    assert set(averaged.checkpoint_objects()) == {"discriminator_historical_average", "generator_historical_average"}
    assert plain.checkpoint_objects() == {}
    _step(plain, data)
    _step(averaged, data)
    # the first update of each player: the mean is the current value, so the term is 0 ...
    np.testing.assert_allclose(averaged.discriminator.trainable_variables[0].numpy(),
                               plain.discriminator.trainable_variables[0].numpy(), rtol=1e-6)
    history = averaged.historical_averages["discriminator"]
    assert float(history.count.numpy()) == 1.0
    before = [v.numpy() for v in averaged.discriminator.trainable_variables]
    # ... the second: gradient 2 * weight * (theta - mean of theta[1], theta[2]) added
    d_vars = averaged.discriminator.trainable_variables
    first = [h.numpy() for h in history.averages]  # theta[1]
    with tf.GradientTape() as tape:
        penalty = averaged._historical_term("discriminator", d_vars)
    grads = tape.gradient(penalty, d_vars)
    means = [(a + b) / 2 for a, b in zip(first, before)]
    for g, v, m in zip(grads, before, means):
        np.testing.assert_allclose(g.numpy(), 2 * (v - m), atol=1e-7)
    assert float(penalty.numpy()) == pytest.approx(sum(((v - m) ** 2).sum() for v, m in zip(before, means)), rel=1e-5)
    assert averaged.generator.trainable_variables and float(averaged.historical_averages["generator"].count.numpy()) == 2.0


def test_ablation_networks(rng):
    gan = build("train_cifar_minibatch_discrimination", width_scale=0.0625, batch_size=4,
                virtual_batch_norm=True, no_minibatch_features=True, no_labels=True)
    assert not _layers(gan.discriminator, MinibatchDiscrimination) and not gan.use_labels
    assert len(_layers(gan.generator, VirtualBatchNorm)) == 3
    assert gan.generator_steps == 3 and gan.generator_loss == "minibatch"
    assert gan.sample(4).shape == (4, 32, 32, 3)


# ============================================================================ the four scripts, end to end


def _write_cifar(folder, rng, per_batch=40, n_test=30):
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        labels = [int(v) for v in rng.permutation(np.arange(n) % 10)]
        (batches / name).write_bytes(pickle.dumps(
            {b"data": rng.randint(0, 256, (n, 3072)).astype(np.uint8), b"labels": labels}, protocol=2))


def _write_svhn(folder, rng, n_train=200, n_test=35):
    from scipy.io import savemat

    (folder / "svhn").mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        savemat(str(folder / "svhn" / f"{split}_32x32.mat"),
                {"X": rng.randint(0, 256, (32, 32, 3, n)).astype(np.uint8),
                 "y": (rng.permutation(np.arange(n) % 10) + 1).reshape(-1, 1).astype(np.uint8)})


RUNS = {
    "cifar_fm": ("train_cifar_feature_matching.py", "cifar", ["--epochs=2"]),
    "cifar_mb": ("train_cifar_minibatch_discrimination.py", "cifar", ["--epochs=1", "--seed=2"]),
    "cifar_table3": ("train_cifar_minibatch_discrimination.py", "cifar",
                     ["--epochs=1", "--virtual_batch_norm", "--label_smoothing", "--no_labels_historical_averaging",
                      "--no_minibatch_features"]),
    "svhn_fm": ("train_svhn_feature_matching.py", "svhn", ["--epochs=1", "--seed=2", "--seed_data=3"]),
    "svhn_mb": ("train_svhn_minibatch_discrimination.py", "svhn", ["--epochs=1", "--seed=3", "--seed_data=2"]),
    "cifar_fm_seeds": ("train_cifar_feature_matching.py", "cifar", ["--epochs=1", "--seed=2", "--seed_data=3"]),
}


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory):
    """Starts every script run at once (they share the CPU); each test waits for its own."""
    root = tmp_path_factory.mktemp("cifar_svhn")
    rng = np.random.RandomState(0)
    _write_cifar(root / "cifar", rng)
    _write_svhn(root / "svhn", rng)
    processes = {}
    for key, (script, data, args) in RUNS.items():
        out_dir = str(root / key)
        processes[key] = (subprocess.Popen(
            [sys.executable, os.path.join(SCRIPTS, script), f"--data_dir={root / data}", f"--out_dir={out_dir}",
             *TINY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV), out_dir)
    results = {}

    def result(key):
        if key not in results:
            process, out_dir = processes[key]
            stdout, stderr = process.communicate(timeout=600)
            assert process.returncode == 0, stderr[-3000:]
            results[key] = (out_dir, stdout)
        return results[key]

    yield result
    for process, _ in processes.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def _check_outputs(out_dir, stdout, epochs, test_examples, grid_shape):
    lines = ORIGINAL_LINE.findall(stdout)
    assert [int(epoch) for epoch, _ in lines] == list(range(epochs)), stdout[-2000:]
    scale = display_scale(grid_shape)  # the grid, written at a whole-number upscale (crisp pixels)
    for epoch in range(epochs):
        grid = np.asarray(Image.open(os.path.join(out_dir, "samples", f"epoch_{epoch:04d}.png")))
        assert grid.shape == (grid_shape[0] * scale, grid_shape[1] * scale) + grid_shape[2:] and grid.std() > 0
        np.testing.assert_array_equal(upscale(grid[::scale, ::scale], scale), grid)
    assert os.path.exists(os.path.join(out_dir, "samples", "latest.png"))
    assert {"samples", "train", "validation"} <= set(os.listdir(os.path.join(out_dir, "logs")))
    assert any(name.startswith("events") for name in os.listdir(os.path.join(out_dir, "logs", "train")))
    assert os.path.exists(os.path.join(out_dir, "checkpoints", f"ckpt-{epochs}.index"))
    rows = history(out_dir)
    assert [int(row["epoch"]) for row in rows] == list(range(epochs))
    summary = json.load(open(os.path.join(out_dir, "summary.json")))
    assert summary["epochs_completed"] == epochs and summary["test_examples"] == test_examples
    assert float(lines[-1][1]) == pytest.approx(summary["test_err"], abs=5e-5)
    return json.load(open(os.path.join(out_dir, "flags.json"))), summary


@pytest.mark.slow  # 35 s; the CIFAR minibatch and both SVHN scripts run in the default suite
def test_cifar_feature_matching_script(script_runs):
    out_dir, stdout = script_runs("cifar_fm")
    # 10 samples: img_tile's ceil(sqrt(10)) = 4 x 4 grid of 32 + 1 pixels, less the last border
    flags, _ = _check_outputs(out_dir, stdout, 2, 30, (131, 131, 3))
    assert flags["seed"] == 1 and flags["seed_data"] == 1 and flags["learning_rate"] == 0.0003
    assert flags["unlabeled_weight"] == 1.0 and flags["dataset"] == "cifar10"


def test_cifar_minibatch_script(script_runs):
    out_dir, stdout = script_runs("cifar_mb")
    flags, _ = _check_outputs(out_dir, stdout, 1, 30, (131, 131, 3))
    assert "seed_data" not in flags  # the original's minibatch CIFAR script has no --seed_data
    assert not any(flags[k] for k in ("virtual_batch_norm", "label_smoothing", "no_labels",
                                      "no_labels_historical_averaging", "no_minibatch_features"))


def test_cifar_table3_flags(script_runs):
    out_dir, stdout = script_runs("cifar_table3")
    flags, _ = _check_outputs(out_dir, stdout, 1, 30, (131, 131, 3))
    assert flags["virtual_batch_norm"] and flags["no_labels_historical_averaging"]
    names = [name for name, _ in tf.train.list_variables(os.path.join(out_dir, "checkpoints", "ckpt-1"))]
    assert any(name.startswith("discriminator_historical_average") for name in names)
    assert any(name.startswith("generator_historical_average") for name in names)


def test_svhn_feature_matching_script(script_runs):
    out_dir, stdout = script_runs("svhn_fm")
    # the whole test set of 35 is evaluated; 10 samples in one column of the 10-row layout
    flags, _ = _check_outputs(out_dir, stdout, 1, 35, (320, 32, 3))
    assert flags["dataset"] == "svhn"


def test_svhn_minibatch_script(script_runs):
    out_dir, stdout = script_runs("svhn_mb")
    _check_outputs(out_dir, stdout, 1, 35, (320, 32, 3))


@pytest.mark.parametrize("key", ["cifar_fm_seeds", "cifar_mb", "svhn_fm", "svhn_mb"])
def test_scripts_label_the_originals_examples_with_seeds_apart(script_runs, key):
    """The labelled examples each script recorded (``labelled_indices.npy``) are those the original script picks
    with these --seed and --seed_data (a transcription of its code, numpy_reference.original_labelled_and_epochs)."""
    import numpy_reference as ref
    from improved_gan_tf2.data import load_cifar10, load_svhn

    out_dir, _ = script_runs(key)
    script, data, _ = RUNS[key]
    flags = json.load(open(os.path.join(out_dir, "flags.json")))
    experiment = experiments.get_experiment(script)
    assert flags["experiment"] == experiment.script
    root = os.path.join(os.path.dirname(out_dir), data)
    loaded = load_cifar10(root) if data == "cifar" else load_svhn(root)
    txs, _, _ = ref.original_labelled_and_epochs(
        loaded["x_train"], loaded["y_train"], flags["seed"], flags.get("seed_data"), flags["count"], 0,
        labels_by=experiment.labelled_choice)
    indices = np.load(os.path.join(out_dir, "labelled_indices.npy"))
    np.testing.assert_array_equal(loaded["x_train"][indices], txs)


def _start(script, *args):
    return subprocess.Popen([sys.executable, os.path.join(SCRIPTS, script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def _finish(process):
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def _default(helpfull, name):
    match = re.search(rf"--{name}: .*?\(default: '([^']*)'\)", helpfull, re.S)
    return match.group(1)


def test_defaults_and_input_errors(tmp_path):
    """Original defaults in --helpfull; missing data or bad flags end in one line naming the problem."""
    _write_cifar(tmp_path / "cifar", np.random.RandomState(1))
    def out(key):  # one run directory per process: they run at once, and a run directory takes one run at a time
        return f"--out_dir={tmp_path / key}"

    processes = {
        "help": _start("train_cifar_minibatch_discrimination.py", "--helpfull"),
        "svhn_missing": _start("train_svhn_minibatch_discrimination.py", f"--data_dir={tmp_path}",
                               out("svhn_missing")),
        # --count=400 from 20 images per class
        "too_many": _start("train_cifar_minibatch_discrimination.py", f"--data_dir={tmp_path / 'cifar'}",
                           "--batch_size=10", out("too_many")),
        "two_columns": _start("train_cifar_minibatch_discrimination.py", f"--data_dir={tmp_path / 'cifar'}",
                              "--no_labels", "--no_labels_historical_averaging", out("two_columns")),
    }
    results = {key: _finish(process) for key, process in processes.items()}

    code, text, _ = results["help"]
    assert code == 0  # --help exits with 0 (absl's own: 1)
    defaults = {name: _default(text, name) for name in ("count", "epochs", "batch_size", "learning_rate", "seed",
                                                          "unlabeled_weight", "width_scale")}
    assert defaults == {"count": "400", "epochs": "1200", "batch_size": "100", "learning_rate": "0.0003",
                        "seed": "1", "unlabeled_weight": "1.0", "width_scale": "1.0"}
    assert re.search(r"^\s+--seed_data:", text, re.M) is None  # the original minibatch CIFAR script has none
    assert re.search(r"^\s+--seed:", text, re.M)
    for column in ("'Our methods'", "'-VBN+BN'", "'-L+HA'", "'-LS'", "'-L'", "'-MBF'"):
        assert column in text.replace("\n", " "), column
    for name, spec in EXPERIMENTS.items():  # what the other scripts take their defaults from
        assert (spec.count, spec.epochs, spec.ramp_epochs) == {"cifar": (400, 1200, 400), "svhn": (100, 900, 300)}[
            name.split("_")[1]]

    code, _, stderr = results["svhn_missing"]
    assert code == 2 and "Traceback" not in stderr
    for needle in ("train_32x32.mat", "test_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat"):
        assert needle in stderr
    code, _, stderr = results["too_many"]
    assert code == 2 and "Traceback" not in stderr and "count=400" in stderr
    code, _, stderr = results["two_columns"]
    assert code == 2 and "'-L+HA'" in stderr and "Traceback" not in stderr
    for key in ("svhn_missing", "too_many", "two_columns"):
        assert [line.startswith("error: ") for line in results[key][2].splitlines()].count(True) == 1


@pytest.mark.slow
def test_an_interrupted_table3_run_resumes_exactly(tmp_path):
    """Historical averages, the reference batch of VBN and the RNG states are checkpointed: two epochs in one
    run equal one epoch, a new process, and a second epoch."""
    _write_cifar(tmp_path / "cifar", np.random.RandomState(2))
    args = [f"--data_dir={tmp_path / 'cifar'}", *TINY, "--virtual_batch_norm", "--label_smoothing",
            "--no_labels_historical_averaging"]
    script = "train_cifar_minibatch_discrimination.py"
    code, _, err = _finish(_start(script, *args, "--epochs=2", f"--out_dir={tmp_path / 'straight'}"))
    assert code == 0, err[-2000:]
    code, _, err = _finish(_start(script, *args, "--epochs=1", f"--out_dir={tmp_path / 'resumed'}"))
    assert code == 0, err[-2000:]
    code, stdout, err = _finish(_start(script, *args, "--epochs=2", f"--out_dir={tmp_path / 'resumed'}"))
    assert code == 0 and "Resuming" in stdout, err[-2000:]
    rows = {}
    for name in ("straight", "resumed"):
        rows[name] = history(tmp_path / name)
    assert len(rows["straight"]) == len(rows["resumed"]) == 2
    for a, b in zip(rows["straight"], rows["resumed"]):
        for key in ("loss_lab", "loss_unl", "loss_gen", "val_test_err"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-5, abs=1e-6), key
