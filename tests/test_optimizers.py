"""The original Adam and the parameter averages against NumPy transcriptions of nn.py and the scripts."""
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import numpy_reference as ref
from improved_gan_tf2 import optimizers
from improved_gan_tf2.optimizers import HistoricalAverage, OriginalAdam, ParameterAverage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _quadratic_problem(rng):
    a = rng.randn(6, 4)
    target = rng.randn(6)
    b = rng.randn(4) * 0.01

    def grads(params):
        w, c = params
        residual = a @ w + c.sum() - target
        return [a.T @ residual * 2 / 6, np.full_like(c, residual.sum() * 2 / 6)]

    return [rng.randn(4), b], grads


@pytest.mark.parametrize("fused", [True, False])
def test_original_adam_matches_nn_adam_updates(rng, fused, monkeypatch):
    calls = []
    fused_update = optimizers._original_adam_update
    monkeypatch.setattr(optimizers, "_original_adam_update", lambda *args: calls.append(1) or fused_update(*args))
    params0, grads_fn = _quadratic_problem(rng)
    expected = ref.adam_updates(params0, grads_fn, steps=25, lr=float(np.float32(0.003)))  # keras keeps lr in float32
    variables = [tf.Variable(p) for p in params0]
    optimizer = OriginalAdam(learning_rate=0.003, fused=fused)
    for _ in range(25):
        grads = grads_fn([v.numpy() for v in variables])
        optimizer.apply_gradients(zip([tf.constant(g) for g in grads], variables))
    for variable, value in zip(variables, expected):
        np.testing.assert_allclose(variable.numpy(), value, rtol=1e-9, atol=1e-12)
    assert int(optimizer.iterations.numpy()) == 25
    assert len(calls) == (25 * 2 if fused else 0)  # one XLA update per parameter and step, or none


def test_fused_and_unfused_updates_agree_in_float32_inside_a_function(rng):
    shapes = [(30, 20), (20,)]
    grads = [[tf.constant(rng.randn(*s).astype(np.float32)) for s in shapes] for _ in range(4)]
    results = []
    for fused in (True, False):
        variables = [tf.Variable(np.ones(s, np.float32)) for s in shapes]
        optimizer = OriginalAdam(0.01, fused=fused)
        average = ParameterAverage(variables, rate=0.1)

        @tf.function
        def step(g):
            optimizer.apply_gradients(zip(g, variables))
            average.update()

        for g in grads:
            step(g)
        results.append([v.numpy() for v in variables] + [a.numpy() for a in average.values()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_epsilon_inside_the_root_differs_from_keras_adam():
    """With tiny gradients the two epsilon placements give very different steps."""
    grad = tf.constant([1e-6], tf.float64)
    ours, keras_var = tf.Variable([0.0], dtype=tf.float64), tf.Variable([0.0], dtype=tf.float64)
    OriginalAdam(1.0).apply_gradients([(grad, ours)])
    keras.optimizers.Adam(1.0, beta_1=0.5, epsilon=1e-8).apply_gradients([(grad, keras_var)])
    # nn.adam_updates at t=1: m_hat = g, v_hat = g^2, step = g / sqrt(g^2 + 1e-8)
    np.testing.assert_allclose(ours.numpy(), -1e-6 / np.sqrt(1e-12 + 1e-8), rtol=1e-9)
    assert abs(ours.numpy()[0] - keras_var.numpy()[0]) > 0.5


def test_original_adam_defaults_and_config_round_trip():
    optimizer = OriginalAdam(0.003)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.5, 0.999, 1e-8)
    restored = OriginalAdam.from_config(optimizer.get_config())
    assert restored.get_config() == optimizer.get_config()


def test_original_adam_with_compile_and_fit(rng):
    x = rng.randn(64, 5).astype(np.float32)
    y = (x @ rng.randn(5, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile(optimizer=OriginalAdam(0.05), loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]


def test_original_adam_under_mirrored_strategy_equals_one_device():
    """Two logical CPU devices; the averaged-gradient update equals the single-device update on the batch."""
    script = textwrap.dedent(
        """
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from improved_gan_tf2.optimizers import OriginalAdam
        rng = np.random.RandomState(0)
        x, y, w0 = rng.randn(8, 3).astype("float32"), rng.randn(8).astype("float32"), rng.randn(3).astype("float32")

        def loss_fn(w, xb, yb):
            return tf.reduce_mean(tf.square(tf.linalg.matvec(xb, w) - yb))

        single = tf.Variable(w0)
        opt = OriginalAdam(0.01)
        for _ in range(5):
            with tf.GradientTape() as tape:
                loss = loss_fn(single, x, y)
            opt.apply_gradients([(tape.gradient(loss, single), single)])

        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            mirrored = tf.Variable(w0)
            dopt = OriginalAdam(0.01)
            dopt.build([mirrored])  # as for any Keras 3 optimizer in a custom distributed loop
        dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors((x, y)).repeat(5))

        @tf.function
        def step(batch):
            def replica_fn(xb, yb):
                with tf.GradientTape() as tape:
                    loss = loss_fn(mirrored, xb, yb) / strategy.num_replicas_in_sync
                dopt.apply_gradients([(tape.gradient(loss, mirrored), mirrored)])
            strategy.run(replica_fn, args=batch)

        for batch in dataset:
            step(batch)
        values = [v.numpy() for v in strategy.experimental_local_results(mirrored)]
        assert strategy.num_replicas_in_sync == 2
        np.testing.assert_allclose(values[0], values[1], rtol=0, atol=0)
        np.testing.assert_allclose(values[0], single.numpy(), rtol=1e-5, atol=1e-6)
        print("MIRRORED_OK")
        """
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert "MIRRORED_OK" in result.stdout, result.stderr[-3000:]


def test_parameter_average_starts_at_zero_and_follows_the_original(rng):
    variables = [tf.Variable(rng.randn(3, 2)), tf.Variable(rng.randn(4))]
    average = ParameterAverage(variables, rate=1e-4)
    np.testing.assert_array_equal(average.values()[0].numpy(), 0.0)
    expected = [np.zeros((3, 2)), np.zeros(4)]
    for _ in range(5):
        for v in variables:
            v.assign_add(rng.randn(*v.shape))
        average.update()
        expected = [a + 1e-4 * (v.numpy() - a) for v, a in zip(variables, expected)]  # a += 0.0001 (p - a)
    for got, want in zip(average.values(), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_parameter_average_swaps_in_and_back(rng):
    variables = [tf.Variable(rng.randn(3)), tf.Variable(rng.randn(2))]
    own = [v.numpy().copy() for v in variables]
    average = ParameterAverage(variables, rate=0.5)
    average.update()
    with average.averaged():
        for v, o in zip(variables, own):
            np.testing.assert_allclose(v.numpy(), 0.5 * o)
    for v, o in zip(variables, own):
        np.testing.assert_array_equal(v.numpy(), o)


def test_parameter_average_values_work_with_stateless_call(rng):
    x = rng.randn(4, 3).astype(np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    average = ParameterAverage(model.trainable_variables, rate=0.3)
    average.update()
    out, _ = model.stateless_call(average.values(), [v.value for v in model.non_trainable_variables], x)
    with average.averaged():
        swapped = model(x).numpy()
    np.testing.assert_allclose(out.numpy(), swapped, rtol=1e-6)
    np.testing.assert_allclose(swapped, x @ (0.3 * model.layers[0].kernel.numpy()) + 0.3 * model.layers[0].bias.numpy(),
                               rtol=1e-5)


def test_historical_average_is_the_running_mean(rng):
    variable = tf.Variable(rng.randn(4))
    history_average = HistoricalAverage([variable])
    seen = []
    for _ in range(7):
        variable.assign(rng.randn(4))
        seen.append(variable.numpy().copy())
        history_average.update()
    np.testing.assert_allclose(history_average.averages[0].numpy(), np.mean(seen, axis=0), rtol=1e-10)


@pytest.mark.parametrize("fused", [True, False])
def test_original_adam_takes_sparse_gradients(fused):
    """An embedding's gradient arrives as tf.IndexedSlices; nn.adam_updates treats every gradient as dense."""
    table = tf.Variable(np.ones((5, 3), np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.gather(table, [1, 3, 3]))
    gradient = tape.gradient(loss, table)
    assert isinstance(gradient, tf.IndexedSlices)
    OriginalAdam(0.1, fused=fused).apply_gradients([(gradient, table)])
    dense = np.zeros((5, 3)); dense[1] = 1; dense[3] = 2
    expected = ref.adam_updates([np.ones((5, 3))], lambda p: [dense], steps=1, lr=float(np.float32(0.1)))[0]
    np.testing.assert_allclose(table.numpy(), expected, rtol=1e-6)
