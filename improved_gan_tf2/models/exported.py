"""A trained run's classifier and generator as models of their own, for use outside this project: what
``python -m improved_gan_tf2.export`` writes (as ``.keras`` files and as SavedModels; ``docs/export.md``).

- :class:`ExportedClassifier`: a semi-supervised discriminator (paper Sec. 5; the exporter gives it the run's
  averaged parameters, the classifier of the paper's test errors) mapping images to the K class probabilities and
  the probability of the K+1-th, "generated", class.
- :class:`ExportedGenerator`: a generator mapping noise to uint8 0..255 NHWC images, with :meth:`~ExportedGenerator.
  sample` drawing ``count`` images from a seed as ``python -m improved_gan_tf2.evaluate --seed`` draws them.
- :func:`stored_inference_copy`: a copy of a network whose batch-mixing layers compute from stored state at
  inference (``inference="stored"``), so that one image alone gets what it gets in a batch.

Both models keep a ``conventions`` dict (their input and output conventions, JSON-ready) in their config.
"""
import copy

import keras
import tensorflow as tf

from improved_gan_tf2.models import imagenet
from improved_gan_tf2.models.semi_supervised import seeded_noise
from improved_gan_tf2.networks.imagenet import GENERATOR_INPUT_NAMES

_PACKAGE = "improved_gan_tf2"
#: The outputs of :class:`ExportedClassifier`.
CLASS_PROBABILITIES = "class_probabilities"
GENERATED_PROBABILITY = "generated_probability"
#: Where an :class:`ExportedGenerator`'s noise comes from: the semi-supervised models' z ~ U(0, 1) (one input), or
#: the ImageNet model's z and six noise tensors ~ U(-1, 1) (seven inputs).
NOISE_KINDS = ("semi_supervised", "imagenet")


def class_outputs(logits):
    """The K+1-class view of K logits ``l`` (paper Sec. 5: the "generated" class has the fixed logit 0):
    ``class_probabilities = softmax(l)``, p(class k | x is real), and ``generated_probability = 1 / (1 + sum_k
    exp(l_k))``, p(class K+1 | x), computed as ``sigmoid(-logsumexp(l))``."""
    logits = tf.convert_to_tensor(logits)
    return {CLASS_PROBABILITIES: tf.nn.softmax(logits, axis=-1),
            GENERATED_PROBABILITY: tf.sigmoid(-tf.reduce_logsumexp(logits, axis=-1))}


def pixels(images, value_range, image_shape):
    """Generated ``images`` with values in ``value_range`` as uint8 0..255 of per-example ``image_shape`` (flat
    MNIST rows become 28x28x1): scaled to 0..1, clipped, times 255 and rounded half to even, in float64, the
    arithmetic of :func:`improved_gan_tf2.plotting.to_pixels` (so the same uint8 values)."""
    low, high = (float(v) for v in value_range)
    scaled = tf.clip_by_value((tf.cast(images, tf.float64) - low) / (high - low), 0.0, 1.0) * 255.0
    return tf.reshape(tf.cast(tf.round(scaled), tf.uint8), (-1,) + tuple(int(d) for d in image_shape))


def stored_inference_copy(network, reference_size):
    """A copy of the functional ``network`` (same weights) whose batch-mixing layers (those with an ``inference``
    argument left at ``"batch"``) are built with ``inference="stored"`` and, where they need it, ``reference_size``
    rows; returns ``(copy, names of the changed layers)``. Set their state with
    :func:`improved_gan_tf2.store_inference_state` before use.

    >>> import numpy as np
    >>> from improved_gan_tf2 import layers, store_inference_state
    >>> x = keras.Input((6,))
    >>> net = keras.Model(x, keras.layers.Dense(2)(layers.MinibatchDiscrimination(3, name="minibatch")(x)))
    >>> stored, changed = stored_inference_copy(net, reference_size=4)
    >>> changed
    ['minibatch']
    >>> _ = store_inference_state(stored, np.random.RandomState(0).randn(5, 6).astype("float32"))
    >>> tuple(stored(np.ones((1, 6), "float32")).shape)  # one example alone
    (1, 2)
    """
    config = copy.deepcopy(network.get_config())
    changed = []
    for layer in config["layers"]:
        arguments = layer["config"]
        if arguments.get("inference") == "batch":
            arguments["inference"] = "stored"
            if "reference_size" in arguments and arguments["reference_size"] is None:
                arguments["reference_size"] = int(reference_size)
            changed.append(arguments["name"])
    stored = keras.Model.from_config(config)
    copy_weights(network, stored)
    return stored, changed


def copy_weights(source, target, values=None):
    """Assign every weight of ``source`` to the weight of ``target`` at the same path (``target`` may hold more, e.g.
    stored inference state); ``values``: a list aligned with ``source.weights`` to assign instead."""
    by_path = {}
    for weight in target.weights:
        if weight.path in by_path:
            raise ValueError(f"{target.name}: two weights at {weight.path}")
        by_path[weight.path] = weight
    values = [w.value for w in source.weights] if values is None else values
    for weight, value in zip(source.weights, values, strict=True):
        if weight.path not in by_path:
            raise ValueError(f"{target.name} has no weight at {weight.path} (of {source.name})")
        by_path[weight.path].assign(value)


def _serialized(config, name):
    return keras.saving.deserialize_keras_object(config.pop(name))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ExportedClassifier(keras.Model):
    """A semi-supervised discriminator as a classifier: images in, a dict of the K class probabilities
    (``class_probabilities``, ``(n, K)``) and the probability of the "generated" class (``generated_probability``,
    ``(n,)``) out; see :func:`class_outputs`. The discriminator runs with ``training=False`` (no input noise or
    dropout).

    Args:
        discriminator: maps images to ``[logits, features]`` (the networks of :mod:`improved_gan_tf2.networks`).
        conventions: a JSON-ready dict describing the input and outputs (kept in the config, unused here).

    >>> import numpy as np
    >>> from improved_gan_tf2.networks.mnist import mnist_discriminator
    >>> classifier = ExportedClassifier(mnist_discriminator())
    >>> out = classifier(np.zeros((3, 784), "float32"))
    >>> tuple(out["class_probabilities"].shape), tuple(out["generated_probability"].shape)
    ((3, 10), (3,))
    """

    def __init__(self, discriminator, conventions=None, **kwargs):
        super().__init__(**kwargs)
        self.discriminator = discriminator
        self.conventions = dict(conventions or {})
        self.built = True

    @property
    def image_shape(self):
        """The per-example shape of the images the classifier takes."""
        return tuple(self.discriminator.inputs[0].shape[1:])

    def call(self, images, training=None):
        logits, _ = self.discriminator(images, training=False)
        return class_outputs(logits)

    def get_config(self):
        config = super().get_config()
        config.update(discriminator=keras.saving.serialize_keras_object(self.discriminator),
                      conventions=self.conventions)
        return config

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)
        return cls(_serialized(config, "discriminator"), **config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ExportedGenerator(keras.Model):
    """A generator that maps noise to uint8 0..255 NHWC images (:func:`pixels`), and draws ``count`` images from a
    seed with :meth:`sample`.

    Args:
        generator: the run's generator network (``training=False``: the same computation as training for the
            generators of this package; the semi-supervised ones normalize with the statistics of the rows given
            together, the ImageNet one with its reference batch's).
        batch_size: rows per generator call in :meth:`sample` (the run's batch size, as ``evaluate``).
        value_range: the range of the network's output, ``(0, 1)`` (MNIST) or ``(-1, 1)``.
        image_shape: per-example shape of the images returned (``(28, 28, 1)`` for MNIST's flat rows).
        noise: ``"semi_supervised"``: one input z of ``noise_dim`` values ~ U(0, 1), batch ``i`` of
            ``sample(count, seed)`` drawn as ``SemiSupervisedGAN.sample(batch_size, seed + i)`` draws it;
            ``"imagenet"``: the inputs ``[z, h0z, ..., h5z]`` ~ U(-1, 1), drawn as ``ImageNetGAN.sample`` draws
            them for the model made with ``model_seed``.
        noise_dim: size of z (``"semi_supervised"``).
        model_seed: the ImageNet model's ``seed`` (``"imagenet"``).
        conventions: a JSON-ready dict describing the inputs and output (kept in the config, unused here).

    >>> from improved_gan_tf2.networks.mnist import mnist_generator
    >>> generator = ExportedGenerator(mnist_generator(), batch_size=4, value_range=(0, 1), image_shape=(28, 28, 1))
    >>> images = generator.sample(6, seed=0)  # batches of 4 from seeds 0 and 1, cut to 6
    >>> tuple(images.shape), images.dtype.name
    ((6, 28, 28, 1), 'uint8')
    """

    def __init__(self, generator, batch_size, value_range, image_shape, noise="semi_supervised", noise_dim=100,
                 model_seed=0, conventions=None, **kwargs):
        super().__init__(**kwargs)
        if noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}.")
        self.generator = generator
        self.batch_size = int(batch_size)
        self.value_range = tuple(float(v) for v in value_range)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.noise = noise
        self.noise_dim = int(noise_dim)
        self.model_seed = int(model_seed)
        self.conventions = dict(conventions or {})
        self.built = True

    def noise_specs(self):
        """``tf.TensorSpec`` of each noise input, named as the inputs (any number of rows)."""
        if self.noise == "imagenet":
            return [tf.TensorSpec((None,) + tuple(shape), tf.float32, name=name)
                    for name, shape in zip(GENERATOR_INPUT_NAMES, self.generator.example_shapes)]
        return [tf.TensorSpec((None, self.noise_dim), tf.float32, name="z")]

    def batch_noise(self, seed):
        """The noise of one batch of :meth:`sample` (``batch_size`` rows) from an integer ``seed``."""
        if self.noise == "imagenet":
            return imagenet.seeded_generator_inputs(self.generator.example_shapes, self.batch_size,
                                                    self.model_seed, seed)
        return seeded_noise(self.batch_size, self.noise_dim, seed)

    def call(self, noise, training=None):
        return pixels(self.generator(noise, training=False), self.value_range, self.image_shape)

    def sample(self, count, seed=0):
        """``count`` images (uint8, ``(count,) + image_shape``): batch ``i`` of ``batch_size`` from seed ``seed +
        i``, as ``python -m improved_gan_tf2.evaluate --num_samples=count --seed=seed`` draws them (with
        :meth:`sample_function`, so the same numbers)."""
        return self.sample_function()(tf.convert_to_tensor(count, tf.int32), tf.convert_to_tensor(seed, tf.int64))[
            "images"]

    def sample_function(self):
        """:meth:`sample` as one ``tf.function`` of ``(count, seed)`` (int32 and int64 scalars) returning
        ``{"images": ...}``: the graph that ``evaluate`` draws its samples with and that the exported SavedModel
        holds as its ``sample`` signature. One graph for both, since a graph and eager execution round differently
        (a pixel at a rounding boundary would then differ by one level)."""
        if getattr(self, "_sample_function", None) is None:
            function = tf.function(lambda count, seed: {"images": self._draw(count, seed)}, autograph=False,
                                   input_signature=[tf.TensorSpec((), tf.int32, name="count"),
                                                    tf.TensorSpec((), tf.int64, name="seed")])
            function.get_concrete_function()
            object.__setattr__(self, "_sample_function", function)  # not a tracked attribute of the model
        return self._sample_function

    def _draw(self, count, seed):
        checks = [tf.debugging.assert_positive(count, message="count must be at least 1")]
        with tf.control_dependencies(checks):
            batches = (count + self.batch_size - 1) // self.batch_size
        images = tf.TensorArray(tf.uint8, size=batches, element_shape=(self.batch_size,) + self.image_shape)

        def draw(i, images):
            return i + 1, images.write(i, self(self.batch_noise(seed + tf.cast(i, tf.int64))))

        _, images = tf.while_loop(lambda i, _: i < batches, draw, [tf.constant(0), images])
        return images.concat()[:count]

    def get_config(self):
        config = super().get_config()
        config.update(generator=keras.saving.serialize_keras_object(self.generator), batch_size=self.batch_size,
                      value_range=list(self.value_range), image_shape=list(self.image_shape), noise=self.noise,
                      noise_dim=self.noise_dim, model_seed=self.model_seed, conventions=self.conventions)
        return config

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)
        return cls(_serialized(config, "generator"), **config)
