"""The paper's layers in your own Keras model: an MNIST classifier with weight norm, virtual batch norm and
minibatch discrimination, trained with ``fit``, saved, loaded and used one image at a time.

Run it from the repository (about half a minute on a CPU): ``python examples/own_model.py``. The section
"Using the layers in your own model" of docs/layers.md shows this file; ``tests/test_examples.py`` runs it.
"""
import os
import tempfile

import keras
import numpy as np

import improved_gan_tf2
from improved_gan_tf2 import (DropReferenceBatch, GaussianNoise, MinibatchDiscrimination, OriginalAdam,
                              PrependReferenceBatch, VirtualBatchNorm, WeightNormDense, data_dependent_init,
                              store_inference_state)
from improved_gan_tf2.data import load_mnist

keras.utils.set_random_seed(1)
data = load_mnist(dataset="mnist_sample")  # 4,000 training and 1,000 test digits shipped with the package
x_train, y_train, x_test, y_test = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
R = 64  # rows of the virtual-batch-norm reference batch

inputs = keras.Input((784,))
# A fixed reference batch of real digits goes in front of every training batch, through the same layers, so the
# VBN normalizes every example with its own statistics and the reference's (paper Sec. 3.4). With
# inference="stored" the three reference layers skip it at inference and the VBN uses the statistics that
# store_inference_state records below: predictions then depend on each image alone.
h = PrependReferenceBatch(R, inference="stored", name="reference")(inputs)
h = GaussianNoise(0.3)(h)
h = WeightNormDense(256, activation="relu")(h)
h = VirtualBatchNorm(R, inference="stored")(h)
h = DropReferenceBatch(R, inference="stored")(h)
# Minibatch features: each example compared with the others of its batch in training; at inference with the
# 99 rows stored below (a training batch of 100 compares each example with 99 others).
h = MinibatchDiscrimination(32, 5, inference="stored", reference_size=99)(h)
outputs = WeightNormDense(10, train_scale=True, init_scale=0.1)(h)
model = keras.Model(inputs, outputs)

model.get_layer("reference").set_reference(x_train[:R])
data_dependent_init(model, x_train[:500])  # weight norm's data-dependent init (Salimans & Kingma 2016)
model.compile(optimizer=OriginalAdam(0.003), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=100, epochs=4, verbose=2)

store_inference_state(model, x_train[:100])  # VBN reference statistics, the minibatch layer's 99 rows
accuracy = model.evaluate(x_test, y_test, batch_size=100, verbose=0, return_dict=True)["accuracy"]
print(f"test accuracy: {accuracy:.3f}")

one_at_a_time = np.concatenate([model.predict(x_test[i:i + 1], verbose=0) for i in range(5)])
np.testing.assert_allclose(one_at_a_time, model.predict(x_test[:5], verbose=0), atol=1e-5)

path = os.path.join(tempfile.mkdtemp(), "classifier.keras")
model.save(path)
loaded = keras.models.load_model(path)  # after `import improved_gan_tf2` alone, in any process
np.testing.assert_array_equal(loaded.predict(x_test[:5], verbose=0), model.predict(x_test[:5], verbose=0))
print("predictions of one image at a time, of a batch and of the loaded model agree;",
      f"improved_gan_tf2 {improved_gan_tf2.__version__}")
