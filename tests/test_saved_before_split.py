"""Files written before ``layers.py`` became the package ``improved_gan_tf2/layers/`` (issue 24) still load, and
compute what they computed when they were written.

``tests/artifacts/saved_before_split/`` holds, written by ``python tests/test_saved_before_split.py --write`` with
the code of commit ``36e1f0c`` (the single ``layers.py``): ``model.keras`` (one functional model through every
public layer and the registered ``lrelu``), the same weights as a ``tf.train.Checkpoint`` (``ckpt.*``), and
``expected.npz``: the input and the outputs recorded then
(``training=False``). The ``.keras`` file is loaded in a new process that imports only ``improved_gan_tf2`` (as a
user would); the checkpoint is restored into the model that :func:`build_model` builds today.
"""
import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np

from helpers import ENV
from improved_gan_tf2 import layers as L

ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "artifacts", "saved_before_split")
BATCH = 6  # even: BatchNormCross and HalvedMinibatchDiscrimination take a joint batch (real, generated)


def build_model():
    """Every public layer of ``improved_gan_tf2.layers`` once, in one small functional model (a few hundred
    weights), on ``(BATCH, 2, 2, 2)`` inputs."""
    inputs = keras.Input((2, 2, 2), batch_size=BATCH)
    h = L.PrependReferenceBatch(2, name="prepend")(inputs)
    h = L.VirtualBatchNorm(2, name="vbn")(h)
    h = L.DropReferenceBatch(2, name="drop")(h)
    h = L.WeightNormConv2D(4, 3, padding="half", activation=L.lrelu, name="conv")(h)
    h = L.GaussianNoise(0.1, seed=1, name="noise")(h)
    h = L.BatchNormCross(name="cross")(h)
    h = L.Deconv2D(2, 3, strides=2, flip_kernel=True, name="deconv")(h)
    h = L.GeneratorBatchNorm(name="gbn")(h)
    h = L.WeightNormConv2DTranspose(2, 3, strides=1, name="wn_deconv")(h)
    h = L.WeightNormDense(3, name="nin")(h)
    h = L.MnistWeightNormDense(6, name="mnist_dense")(h)
    h = L.MinibatchDiscrimination(3, 2, name="minibatch")(h)
    h = L.HalvedMinibatchDiscrimination(3, 2, name="halved")(h)
    outputs = L.L2NormalizedDense(2, activation="sigmoid", name="l2")(h)
    return keras.Model(inputs, outputs)


def write():  # pragma: no cover  (run by hand, with the code whose files are to be kept)
    """Write the artifacts: the model after the data-dependent init, its files and its outputs."""
    from improved_gan_tf2 import data_dependent_init
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    model = build_model()
    data_dependent_init(model, rng.randn(BATCH, 2, 2, 2).astype("float32"))
    x = rng.randn(BATCH, 2, 2, 2).astype("float32")
    os.makedirs(ARTIFACTS, exist_ok=True)
    model.save(os.path.join(ARTIFACTS, "model.keras"))
    tf.train.Checkpoint(model=model).write(os.path.join(ARTIFACTS, "ckpt"))
    np.savez(os.path.join(ARTIFACTS, "expected.npz"), x=x, outputs=model(x, training=False).numpy(),
             classes=np.array([type(layer).__name__ for layer in model.layers]))


def _expected():
    return np.load(os.path.join(ARTIFACTS, "expected.npz"))


def _registered_names(config):
    """Every ``registered_name`` (and registered function name) of the package in a saved model's config."""
    found = set()
    if isinstance(config, dict):
        for key, value in config.items():
            if key == "registered_name" and isinstance(value, str) and value.startswith("improved_gan_tf2>"):
                found.add(value)
            found |= _registered_names(value)
    elif isinstance(config, list):
        for value in config:
            found |= _registered_names(value)
    elif isinstance(config, str) and config.startswith("improved_gan_tf2>"):
        found.add(config)
    return found


def test_the_saved_model_names_only_registered_objects():
    """Keras finds a saved layer by its registered name (``improved_gan_tf2>WeightNormDense``), which the split
    must keep; every name the file uses is registered today."""
    with zipfile.ZipFile(os.path.join(ARTIFACTS, "model.keras")) as archive:
        names = _registered_names(json.loads(archive.read("config.json")))
    public = {f"improved_gan_tf2>{name}" for name in L.__all__ if isinstance(getattr(L, name), type)}
    assert public <= names, public - names  # the file uses every public layer
    assert "improved_gan_tf2>lrelu" in names
    missing = sorted(name for name in names if keras.saving.get_registered_object(name) is None)
    assert not missing, missing


_LOAD = """
import sys
import improved_gan_tf2  # the only import of the package, before Keras
import numpy as np
import keras
model = keras.models.load_model(sys.argv[1] + "/model.keras")
expected = np.load(sys.argv[1] + "/expected.npz")
np.savez(sys.argv[2], outputs=model(expected["x"], training=False).numpy(),
         classes=np.array([type(layer).__name__ for layer in model.layers]))
"""


def test_the_keras_file_loads_in_a_new_process_and_computes_what_it_did(tmp_path):
    result = subprocess.run([sys.executable, "-c", _LOAD, ARTIFACTS, str(tmp_path / "loaded.npz")],
                            capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded, expected = np.load(tmp_path / "loaded.npz"), _expected()
    assert list(loaded["classes"]) == list(expected["classes"])
    np.testing.assert_array_equal(loaded["outputs"], expected["outputs"])


def test_the_checkpoint_restores_into_the_model_built_today():
    import tensorflow as tf

    model, expected = build_model(), _expected()
    tf.train.Checkpoint(model=model).read(os.path.join(ARTIFACTS, "ckpt")).assert_existing_objects_matched()
    assert [type(layer).__name__ for layer in model.layers] == list(expected["classes"])
    np.testing.assert_array_equal(model(expected["x"], training=False).numpy(), expected["outputs"])


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_saved_before_split.py --write  (rewrites the files it tests)")
    write()
