"""improved_gan_tf2.port on the MNIST networks: parameters in the original's format (Lasagne order: ``nn.DenseLayer``
``theta, weight_scale, b``; the generator's dense + batch norm ``W, b, avg_batch_mean, avg_batch_var``; its
``l2normalize``-d output ``W, b, W_scale``) give the Keras networks the original's outputs, checked against NumPy
forward passes written in the original's conventions."""
import numpy as np
from numpy_reference import generator_batch_norm, softplus, weight_norm

from improved_gan_tf2 import port
from improved_gan_tf2.networks.mnist import mnist_discriminator, mnist_generator

TOL = 1e-4
HIDDEN = (1000, 500, 250, 250, 250)


def random_discriminator_params(rng, hidden=HIDDEN):
    """ll.get_all_params(layers) of the original MNIST discriminator, and the trainable mask."""
    params, mask = [], []
    sizes = (784,) + tuple(hidden) + (10,)
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = index == len(sizes) - 2
        params += [rng.normal(0, 0.1, (n_in, n_out)).astype(np.float32),      # theta
                   rng.uniform(0.5, 2.0, n_out).astype(np.float32),           # weight_scale (set by the init)
                   rng.normal(0, 0.3, n_out).astype(np.float32)]              # b
        mask += [True, last, True]
    return params, mask


def discriminator_forward(params, x):
    """nn.DenseLayer x6, deterministic: W = theta * scale / sqrt(sum(theta^2)), relu except the last."""
    h = x.astype(np.float64)
    features = None
    n_layers = len(params) // 3
    for i in range(n_layers):
        theta, scale, b = (np.asarray(a, np.float64) for a in params[3 * i:3 * i + 3])
        w = weight_norm(theta, scale, axes=0, eps=0.0)
        h = h @ w + b
        if i < n_layers - 1:
            h = np.maximum(h, 0)
            features = h
    return h, features


def random_generator_params(rng):
    params, mask = [], []
    for n_in, n_out in ((100, 500), (500, 500)):
        params += [rng.uniform(-0.1, 0.1, (n_in, n_out)).astype(np.float32), rng.normal(0, 0.3, n_out).astype(np.float32),
                   np.zeros(n_out, np.float32), np.ones(n_out, np.float32)]
        mask += [True, True, False, False]
    params += [rng.uniform(-0.08, 0.08, (500, 784)).astype(np.float32), rng.normal(0, 0.3, 784).astype(np.float32),
               rng.uniform(0.5, 2.0, 784).astype(np.float32)]
    mask += [True, True, True]
    return params, mask


def generator_forward(params, z):
    h = z.astype(np.float64)
    for i in range(2):
        w, b = (np.asarray(a, np.float64) for a in params[4 * i:4 * i + 2])
        h = softplus(generator_batch_norm(h @ w, b))
    w, b, scale = (np.asarray(a, np.float64) for a in params[8:11])
    w = weight_norm(w, scale, axes=0)
    return 1.0 / (1.0 + np.exp(-(h @ w + b)))


def test_mnist_discriminator_from_original_params(rng, tmp_path):
    params, mask = random_discriminator_params(rng)
    x = rng.uniform(0, 1, (7, 784)).astype(np.float32)
    expected_logits, expected_features = discriminator_forward(params, x)
    model = mnist_discriminator()
    slots = port.original_parameter_slots(model)
    assert [s.name for s in slots][:3] == ["dense_1.theta", "dense_1.weight_scale", "dense_1.b"]
    assert [s.trainable for s in slots] == mask
    np.savez(tmp_path / "disc_all_params.npz", *params)
    port.load_original_discriminator_params(model, tmp_path / "disc_all_params.npz")
    logits, features = model(x, training=False)
    assert np.abs(logits.numpy() - expected_logits).max() < TOL * max(1.0, np.abs(expected_logits).max())
    assert np.abs(features.numpy() - expected_features).max() < TOL * max(1.0, np.abs(expected_features).max())
    assert np.abs(expected_logits).max() > 1e-2
    for a, b in zip(port.original_params(model), params):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    # the scripts' trainable list lacks the hidden layers' weight_scale, which the init set
    trainable = [a for a, t in zip(params, mask) if t]
    fresh = mnist_discriminator()
    port.load_original_discriminator_params(fresh, trainable, scales=[a for a, t in zip(params, mask) if not t])
    np.testing.assert_allclose(fresh(x, training=False)[0].numpy(), logits.numpy(), rtol=0, atol=1e-5)


def test_mnist_generator_from_original_params(rng):
    params, mask = random_generator_params(rng)
    z = rng.uniform(0, 1, (9, 100)).astype(np.float32)
    expected = generator_forward(params, z)
    model = mnist_generator()
    slots = port.original_parameter_slots(model)
    assert [s.name for s in slots][-3:] == ["output.W", "output.b", "output.W_scale"]
    assert [s.trainable for s in slots] == mask
    for arrays in (params, [a for a, t in zip(params, mask) if t]):  # full list or the trainable one
        port.load_original_generator_params(model, arrays)
        assert np.abs(model(z, training=True).numpy() - expected).max() < TOL
    assert expected.std() > 1e-2
    for a, b in zip(port.original_params(model, trainable_only=True), [a for a, t in zip(params, mask) if t]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
