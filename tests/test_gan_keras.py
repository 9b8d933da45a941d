"""The GAN models as standard Keras models (issue 15, item 4): compile by keyword or position, get_config and
whole-model ``.keras`` save/load (also in a new process after only ``import improved_gan_tf2``), ``load_weights``
and ``keras.callbacks.BackupAndRestore`` restoring everything a continued run needs (parameter average,
historical averages, random states, both optimizers) bit for bit, a ``loss`` metric, and declared metric
directions for the monitor callbacks."""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import improved_gan_tf2
from improved_gan_tf2 import OriginalAdam, SemiSupervisedGAN
from improved_gan_tf2 import layers as L

from helpers import ENV

NOISE, DIM, CLASSES, BATCH, EXAMPLES = 3, 5, 3, 6, 24


def tiny_networks(seed=0):
    """Small networks with the MNIST layers, including every kind of random state (noise, dropout)."""
    keras.utils.set_random_seed(seed)
    z = keras.Input((NOISE,))
    h = L.GeneratorBatchNorm()(keras.layers.Dense(6, use_bias=False)(z))
    h = keras.layers.Activation("softplus")(h)
    generator = keras.Model(z, L.L2NormalizedDense(DIM, activation="sigmoid")(h))
    x = keras.Input((DIM,))
    features = L.MnistWeightNormDense(4)(L.GaussianNoise(0.3)(x))
    h = keras.layers.Dropout(0.2)(L.GaussianNoise(0.5)(features))
    logits = L.MnistWeightNormDense(CLASSES, activation=None, train_scale=True)(h)
    return generator, keras.Model(x, [logits, features])


def make_gan(seed=0, **options):
    generator, discriminator = tiny_networks(seed)
    gan = SemiSupervisedGAN(generator, discriminator, noise_dim=NOISE, seed=5, **options)
    gan.compile(discriminator_optimizer=OriginalAdam(0.01), generator_optimizer=OriginalAdam(0.01))
    return gan


def data(seed=0):
    rng = np.random.RandomState(seed)
    return (rng.rand(EXAMPLES, DIM).astype(np.float32), rng.randint(0, CLASSES, EXAMPLES).astype(np.int32),
            rng.rand(EXAMPLES, DIM).astype(np.float32), rng.rand(EXAMPLES, DIM).astype(np.float32))


def datasets(arrays):
    train = tf.data.Dataset.from_tensor_slices(arrays).batch(BATCH)
    validation = tf.data.Dataset.from_tensor_slices((arrays[0], arrays[1])).batch(BATCH)
    return train, validation


def as_json(config):
    """A config as the ``.keras`` file stores it (tuples become lists)."""
    return json.loads(json.dumps(config))


def state(gan):
    """Everything a continued run depends on: weights, averages, both optimizers, random states."""
    variables = list(gan.weights) + list(gan.parameter_average.averages)
    for history in (gan.historical_averages or {}).values():
        variables += [history.count] + list(history.averages)
    variables += gan.discriminator_optimizer.variables + gan.generator_optimizer.variables + gan.random_states()
    return [np.asarray(v.numpy()) for v in variables]


def assert_same_state(a, b):
    assert len(a) == len(b)
    for index, (x, y) in enumerate(zip(a, b)):
        np.testing.assert_array_equal(x, y, err_msg=f"state variable {index}")


# ---------------------------------------------------------------- compile


def test_compile_takes_keywords_positions_and_names_and_refuses_the_rest():
    generator, discriminator = tiny_networks()
    gan = SemiSupervisedGAN(generator, discriminator, noise_dim=NOISE)
    d, g = OriginalAdam(0.01), OriginalAdam(0.02)
    gan.compile(d, g, jit_compile=False)  # positionally, as the experiments call it
    assert gan.discriminator_optimizer is d and gan.generator_optimizer is g and gan.optimizer is d
    gan.compile(generator_optimizer="adam", discriminator_optimizer="sgd")
    assert isinstance(gan.generator_optimizer, keras.optimizers.Adam)
    assert isinstance(gan.discriminator_optimizer, keras.optimizers.SGD)
    assert gan.generator_optimizer.built and gan.discriminator_optimizer.built
    with pytest.raises(ValueError, match="two players"):
        gan.compile(optimizer="adam")
    with pytest.raises(ValueError, match="losses are the original's"):
        gan.compile(d, g, loss="mse")
    with pytest.raises(ValueError, match="needs discriminator_optimizer= and generator_optimizer="):
        gan.compile(discriminator_optimizer=d)
    with pytest.raises(ValueError, match="two optimizer objects"):
        gan.compile(d, d)
    config = gan.get_compile_config()
    assert set(config) == {"discriminator_optimizer", "generator_optimizer"}


# ---------------------------------------------------------------- metrics


def test_loss_metric_and_declared_directions():
    arrays = data()
    train, validation = datasets(arrays)
    gan = make_gan()
    gan.initialize(arrays[2][:12], BATCH)
    stop = keras.callbacks.EarlyStopping(monitor="val_test_err", patience=5)  # no mode: the direction is declared
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss_lab", patience=5)
    history = gan.fit(train, epochs=2, validation_data=validation, verbose=0, callbacks=[stop, plateau])
    assert {"loss", "val_loss", "val_test_err", "loss_lab"} <= set(history.history)
    assert stop.monitor_op is keras.ops.less and plateau.monitor_op is keras.ops.less
    # validation loss: the averaged classifier's mean cross-entropy on the validation data
    logits = gan(arrays[0]).numpy().astype(np.float64)
    lse = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
    expected = (lse - logits[np.arange(EXAMPLES), arrays[1]]).mean()
    assert gan.evaluate(validation, return_dict=True, verbose=0)["loss"] == pytest.approx(expected, rel=1e-5)
    # training loss: the discriminator's cost (loss_lab + unlabeled_weight * loss_unl)
    gan.reset_metrics()
    logs = gan.train_step(tuple(tf.constant(a[:BATCH]) for a in arrays))
    assert float(logs["loss"]) == pytest.approx(float(logs["loss_lab"]) + float(logs["loss_unl"]), rel=1e-5)


# ---------------------------------------------------------------- get_config and saving


def test_get_config_round_trips():
    gan = make_gan(label_smoothing=0.25, historical_averaging=0.5, generator_steps=2, average_rate=1e-3)
    config = gan.get_config()
    restored = SemiSupervisedGAN.from_config(config)
    assert restored.get_config() == config
    assert (restored.label_smoothing, restored.historical_averaging, restored.generator_steps) == (0.25, 0.5, 2)
    assert restored.parameter_average.rate == 1e-3 and restored.noise_dim == NOISE
    assert [type(layer).__name__ for layer in restored.discriminator.layers] == \
           [type(layer).__name__ for layer in gan.discriminator.layers]


_CONTINUE_IN_A_NEW_PROCESS = """
import sys
import numpy as np
import keras
import tensorflow as tf
import improved_gan_tf2  # the only import of the package
directory = sys.argv[1]
arrays = tuple(np.load(f"{directory}/data.npz")[key] for key in ("x_lab", "y_lab", "x_unl", "x_unl2"))
gan = keras.models.load_model(f"{directory}/gan.keras")
assert type(gan).__name__ == "SemiSupervisedGAN" and type(gan.generator_optimizer).__name__ == "OriginalAdam"
gan.fit(tf.data.Dataset.from_tensor_slices(arrays).batch(6), epochs=1, verbose=0)
variables = list(gan.weights) + list(gan.parameter_average.averages)
for history in gan.historical_averages.values():
    variables += [history.count] + list(history.averages)
variables += gan.discriminator_optimizer.variables + gan.generator_optimizer.variables + gan.random_states()
np.savez(f"{directory}/state.npz", *[np.asarray(v.numpy()) for v in variables])
"""


def test_whole_model_save_and_load_in_a_new_process_continues_bit_exactly(tmp_path):
    """``gan.save`` then ``keras.models.load_model`` in a new process (after only ``import improved_gan_tf2``):
    one more epoch there gives exactly the state one more epoch gives here."""
    arrays = data()
    train, validation = datasets(arrays)
    gan = make_gan(historical_averaging=0.1)
    gan.initialize(arrays[2][:12], BATCH)
    gan.fit(train, epochs=1, validation_data=validation, verbose=0)
    gan.save(tmp_path / "gan.keras")
    np.savez(tmp_path / "data.npz", **dict(zip(("x_lab", "y_lab", "x_unl", "x_unl2"), arrays)))
    loaded = keras.models.load_model(tmp_path / "gan.keras")
    assert_same_state(state(loaded), state(gan))
    np.testing.assert_array_equal(loaded(arrays[0]).numpy(), gan(arrays[0]).numpy())
    assert as_json(loaded.get_config()) == as_json(gan.get_config())
    result = subprocess.run([sys.executable, "-c", _CONTINUE_IN_A_NEW_PROCESS, str(tmp_path)], capture_output=True,
                            text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    gan.fit(train, epochs=1, verbose=0)
    there = np.load(tmp_path / "state.npz")
    assert_same_state([there[f"arr_{i}"] for i in range(len(there.files))], state(gan))


def test_load_weights_restores_the_average_and_the_random_states(tmp_path):
    arrays = data()
    train, _ = datasets(arrays)
    gan = make_gan(historical_averaging=0.1)
    gan.initialize(arrays[2][:12], BATCH)
    gan.fit(train, epochs=2, verbose=0)
    assert np.abs(gan.parameter_average.averages[0].numpy()).max() > 0
    gan.save_weights(tmp_path / "gan.weights.h5")
    other = make_gan(seed=1, historical_averaging=0.1)  # different initial weights, fresh averages and states
    other.load_weights(tmp_path / "gan.weights.h5")
    assert_same_state(state(other), state(gan))
    gan.fit(train, epochs=1, verbose=0)
    other.fit(train, epochs=1, verbose=0)
    assert_same_state(state(other), state(gan))
    mismatched = make_gan()  # without historical averaging: a different saved state
    with pytest.raises(ValueError, match="historical_averaging"):
        mismatched.load_weights(tmp_path / "gan.weights.h5")


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_bit_exactly(tmp_path):
    """An interrupted ``fit`` with ``keras.callbacks.BackupAndRestore``, resumed by a new model, ends with the
    weights, averages, optimizer slots and random states of the uninterrupted run. (Before the model saved the
    parameter average and the random states, the resumed run's average restarted from zero and its noise
    differed.)"""
    arrays = data()
    train, validation = datasets(arrays)
    straight = make_gan(historical_averaging=0.1)
    straight.initialize(arrays[2][:12], BATCH)
    straight_history = straight.fit(train, epochs=4, validation_data=validation, verbose=0)

    backup = str(tmp_path / "backup")
    first = make_gan(historical_averaging=0.1)
    first.initialize(arrays[2][:12], BATCH)
    with pytest.raises(RuntimeError, match="interrupted"):
        first.fit(train, epochs=4, validation_data=validation, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(backup), _Interrupt(after_epoch=1)])
    resumed = make_gan(seed=1, historical_averaging=0.1)  # a new process would build it afresh
    resumed.initialize(arrays[2][:12], BATCH)
    resumed_history = resumed.fit(train, epochs=4, validation_data=validation, verbose=0,
                                  callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert len(resumed_history.history["loss"]) == 2  # epochs 2 and 3 only
    assert_same_state(state(resumed), state(straight))
    assert resumed_history.history["val_test_err"] == straight_history.history["val_test_err"][2:]
    assert resumed_history.history["loss"] == straight_history.history["loss"][2:]


# ---------------------------------------------------------------- the ImageNet model


def _tiny_imagenet_gan(initial_seed=0):
    keras.utils.set_random_seed(initial_seed)
    gan = improved_gan_tf2.ImageNetGAN(batch_size=2, z_dim=8, gf_dim=4, df_dim=4, image_size=32, num_classes=3,
                                       minibatch_kernels=2, minibatch_kernel_dim=2, sample_size=4, seed=3)
    # the discriminator's optimizer: the default; eager, to spare the tracing of a test this small
    gan.compile(generator_optimizer=keras.optimizers.Adam(0.001, beta_1=0.5), run_eagerly=True)
    return gan


def _imagenet_state(gan):
    return [v.numpy() for v in gan.weights + gan.discriminator_optimizer.variables + gan.generator_optimizer.variables]


def test_imagenet_gan_saves_whole_and_continues_bit_exactly(tmp_path):
    rng = np.random.RandomState(0)
    images = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    labels = rng.randint(0, 3, 4).astype(np.int64)
    gan = _tiny_imagenet_gan()
    history = gan.fit(images, labels, batch_size=2, epochs=1, verbose=0, shuffle=False)
    assert history.history["loss"] == history.history["d_loss"]
    gan.save(tmp_path / "imagenet.keras")
    loaded = keras.models.load_model(tmp_path / "imagenet.keras")
    assert as_json(loaded.get_config()) == as_json(gan.get_config())
    assert loaded.discriminator_optimizer.get_config()["name"] == "d_adam"
    assert loaded.generator_optimizer.get_config()["learning_rate"] == pytest.approx(0.001) and loaded.run_eagerly
    assert_same_state(_imagenet_state(loaded), _imagenet_state(gan))
    for model in (gan, loaded):
        model.fit(images, labels, batch_size=2, epochs=1, verbose=0, shuffle=False)
    assert_same_state(_imagenet_state(loaded), _imagenet_state(gan))
    with pytest.raises(ValueError, match="two players"):
        gan.compile(optimizer="adam")


def test_imagenet_gan_backup_and_restore_resumes_bit_exactly(tmp_path):
    rng = np.random.RandomState(1)
    images = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    labels = rng.randint(0, 3, 4).astype(np.int64)
    straight = _tiny_imagenet_gan()
    straight.fit(images, labels, batch_size=2, epochs=3, verbose=0, shuffle=False)
    backup = str(tmp_path / "backup")
    first = _tiny_imagenet_gan()
    with pytest.raises(RuntimeError, match="interrupted"):
        first.fit(images, labels, batch_size=2, epochs=3, verbose=0, shuffle=False,
                  callbacks=[keras.callbacks.BackupAndRestore(backup), _Interrupt(after_epoch=0)])
    resumed = _tiny_imagenet_gan(initial_seed=1)  # other initial weights: all state comes from the backup
    resumed.fit(images, labels, batch_size=2, epochs=3, verbose=0, shuffle=False,
                callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert int(resumed.step.numpy()) == int(straight.step.numpy()) == 6
    assert_same_state(_imagenet_state(resumed), _imagenet_state(straight))
