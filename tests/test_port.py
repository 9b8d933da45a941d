"""improved_gan_tf2.port: parameter files in the original's format (np.savez of Lasagne-ordered NCHW arrays)
give the Keras CIFAR-10/SVHN networks the original's logits and samples, checked against NumPy forward passes
of the original networks in Theano conventions (tests/numpy_reference_cifar.py)."""
import numpy as np
import pytest

import numpy_reference_cifar as ref
from improved_gan_tf2 import port
from improved_gan_tf2.networks.cifar_svhn import cifar_svhn_discriminator, cifar_svhn_generator

TOL = 1e-4


def _save(path, arrays):
    np.savez(path, *arrays)  # what the original's commented-out lines write: arr_0, arr_1, ...
    return path


def _discriminator_case(rng, widths, minibatch_kernels, n=5):
    all_params, mask = ref.random_discriminator_params(rng, widths, minibatch_kernels)
    x_nchw = rng.uniform(-1, 1, (n, 3, 32, 32)).astype(np.float32)
    model = cifar_svhn_discriminator(widths, input_noise="gaussian" if minibatch_kernels else "dropout",
                                     minibatch_kernels=minibatch_kernels)
    return all_params, mask, x_nchw, model


@pytest.mark.parametrize("widths,minibatch_kernels", [((6, 10), 0), ((5, 8), 7)])
def test_discriminator_from_original_files_gives_original_logits(rng, tmp_path, widths, minibatch_kernels):
    all_params, mask, x_nchw, model = _discriminator_case(rng, widths, minibatch_kernels)
    expected_logits, expected_features = ref.discriminator_forward(all_params, x_nchw, minibatch=bool(minibatch_kernels))
    x = x_nchw.transpose(0, 2, 3, 1)

    # the full list, ll.get_all_params(disc_layers)
    port.load_original_discriminator_params(model, _save(tmp_path / "disc_all_params.npz", all_params))
    logits, features = model(x, training=False)
    assert np.abs(logits.numpy() - expected_logits).max() < TOL
    assert np.abs(features.numpy() - expected_features).max() < TOL
    assert np.abs(expected_logits).max() > 1e-2  # not trivially zero

    # the scripts' file, disc_params (trainable only): the non-trainable weight-norm scales are missing
    trainable = [a for a, t in zip(all_params, mask) if t]
    scales = [a for a, t in zip(all_params, mask) if not t]
    assert len(scales) == 9  # g of conv_1..conv_7, nin_1, nin_2
    fresh = _discriminator_case(np.random.RandomState(0), widths, minibatch_kernels)[3]
    path = _save(tmp_path / "disc_params.npz", trainable)
    with pytest.raises(ValueError, match="non-trainable weight-norm scales"):
        port.load_original_discriminator_params(fresh, path)
    port.load_original_discriminator_params(fresh, path, scales=scales)
    assert np.abs(fresh(x, training=False)[0].numpy() - expected_logits).max() < TOL
    # keeping the model's own scales (all 1 here) loads, but is not the original's function
    kept = _discriminator_case(np.random.RandomState(0), widths, minibatch_kernels)[3]
    port.load_original_discriminator_params(kept, trainable, keep_missing_scales=True)
    assert np.abs(kept(x, training=False)[0].numpy() - expected_logits).max() > 1e-3

    # written back in the original's format: the same arrays
    for a, b in zip(port.original_params(model), all_params):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    for a, b in zip(port.original_params(model, trainable_only=True), trainable):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)


def test_generator_from_original_file_gives_original_samples(rng, tmp_path):
    widths = (12, 8, 6)
    all_params, mask = ref.random_generator_params(rng, widths)
    trainable = [a for a, t in zip(all_params, mask) if t]
    z = rng.uniform(0, 1, (6, 100)).astype(np.float32)
    expected = ref.generator_forward(trainable, z)
    assert expected.shape == (6, 3, 32, 32)
    for arrays in (trainable, all_params):  # gen_params.npz, or ll.get_all_params(gen_layers)
        model = cifar_svhn_generator(widths)
        port.load_original_generator_params(model, _save(tmp_path / "gen_params.npz", arrays))
        samples = model(z, training=True).numpy().transpose(0, 3, 1, 2)
        assert np.abs(samples - expected).max() < TOL
        samples = model(z, training=False).numpy().transpose(0, 3, 1, 2)  # batch statistics either way
        assert np.abs(samples - expected).max() < TOL
    assert expected.std() > 1e-2
    for a, b in zip(port.original_params(model, trainable_only=True), trainable):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    # a kernel-flipping layer takes the unflipped array and gives the same samples
    from improved_gan_tf2.layers import Deconv2D

    flipped = cifar_svhn_generator(widths)
    for layer in flipped.layers:
        if isinstance(layer, Deconv2D):
            layer.flip_kernel = True
    port.load_original_generator_params(flipped, trainable)
    assert np.abs(flipped(z, training=True).numpy().transpose(0, 3, 1, 2) - expected).max() < TOL


def test_port_rejects_mismatches(rng, tmp_path):
    all_params, mask = ref.random_discriminator_params(rng, (6, 10), 0)
    model = cifar_svhn_discriminator((6, 12))
    with pytest.raises(ValueError, match=r"shape"):
        port.load_original_discriminator_params(model, all_params)
    with pytest.raises(ValueError, match="arrays given"):
        port.load_original_discriminator_params(model, all_params[:-1])
    np.savez(tmp_path / "named.npz", W=np.zeros(3))
    with pytest.raises(ValueError, match="positional"):
        port.load_original_discriminator_params(model, tmp_path / "named.npz")
    with pytest.raises(ValueError, match="virtual batch norm"):
        port.original_parameter_slots(cifar_svhn_generator((8, 4, 4), normalization="virtual", reference_size=3))


def test_full_width_networks_match_the_original(rng):
    """The CIFAR minibatch-discrimination widths (96, 192, 100 kernels) and the 512-256-128 generator."""
    all_params, mask, x_nchw, model = _discriminator_case(rng, (96, 192), 100, n=3)
    port.load_original_discriminator_params(model, all_params)
    expected, _ = ref.discriminator_forward(all_params, x_nchw, minibatch=True)
    assert np.abs(model(x_nchw.transpose(0, 2, 3, 1), training=False)[0].numpy() - expected).max() < TOL
    gen_params, gen_mask = ref.random_generator_params(rng)
    generator = cifar_svhn_generator()
    port.load_original_generator_params(generator, gen_params)
    z = rng.uniform(0, 1, (4, 100)).astype(np.float32)
    expected = ref.generator_forward([a for a, t in zip(gen_params, gen_mask) if t], z)
    assert np.abs(generator(z, training=True).numpy().transpose(0, 3, 1, 2) - expected).max() < TOL
