"""The ImageNet model under tf.distribute, without GPUs: two logical CPU devices under MirroredStrategy, and two
worker processes on loopback under MultiWorkerMirroredStrategy, each for a few steps on tiny widths.

Each run trains with ``fit`` on per-replica batches (replica r, step s gets ``_replica_batch(s, r)``) and writes its
variables; the test checks that the replicas' copies are identical, and that the distributed steps equal what a
single device computes: each replica's gradients from its own batch and its own noise (replica id r), summed
(each loss divided by the replica count, i.e. the gradients averaged, as the original's ``avg_grads``), one Adam
update per player per step.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from improved_gan_tf2.models import imagenet as gan_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = dict(batch_size=4, z_dim=8, gf_dim=4, df_dim=4, image_size=32, num_classes=3, minibatch_kernels=3,
              minibatch_kernel_dim=2, sample_size=4, seed=11)
STEPS = 2
REPLICAS = 2
SGD_LEARNING_RATE = 1e-4

# Runs in a fresh process: logical devices and TF_CONFIG must be set before TensorFlow initializes.
WORKER = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import tensorflow as tf
    mode, out = sys.argv[1], sys.argv[2]
    config, steps, lr = json.loads(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras
    from improved_gan_tf2 import training
    from improved_gan_tf2.models import imagenet as gan_lib
    sys.path.insert(0, os.path.join(os.environ["PYTHONPATH"], "tests"))
    from test_imagenet_distributed import replica_batch

    keras.utils.set_random_seed(0)
    with strategy.scope():
        gan = gan_lib.ImageNetGAN(**config)
        gan.compile(keras.optimizers.SGD(lr), keras.optimizers.SGD(lr))
    initial = [w.numpy() for w in gan.weights]
    replicas = strategy.num_replicas_in_sync

    def dataset_fn(context):
        # one element per (step, local replica), in the order the strategy hands them to its replicas
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local
        items = [replica_batch(config, s, first + r) for s in range(steps) for r in range(local)]
        images = np.stack([i for i, _ in items])
        labels = np.stack([l for _, l in items])
        return tf.data.Dataset.from_tensor_slices((images, labels))

    dataset = strategy.distribute_datasets_from_function(dataset_fn)
    gan.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    final, spread = [], 0.0
    for w in gan.weights:
        copies = [c.numpy() for c in getattr(w.value, "values", [w.value])]
        spread = max([spread] + [float(np.max(np.abs(c - copies[0]))) for c in copies])
        final.append(copies[0])
    if training.is_chief(strategy):  # only the chief writes a checkpoint: must not hang the others
        training.save_checkpoint(training.open_imagenet_checkpoints(gan, out + "_ckpt")[0], gan)
    np.savez(out, replicas=replicas, spread=spread, step=int(gan.step.numpy()),
             d_iterations=int(gan.discriminator_optimizer.iterations.numpy()),
             **{"initial_%d" % i: v for i, v in enumerate(initial)}, **{"final_%d" % i: v for i, v in enumerate(final)})
    print("done", mode, replicas, flush=True)
""")


def replica_batch(config, step, replica):
    """The real batch that replica ``replica`` trains on at step ``step``."""
    rng = np.random.RandomState(1000 * step + replica)
    size, batch = config["image_size"], config["batch_size"]
    images = rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
    return images, rng.randint(0, config["num_classes"], batch).astype(np.int32)


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _worker_command(mode, out):
    return [sys.executable, "-c", WORKER, mode, out, json.dumps(CONFIG), str(STEPS), str(SGD_LEARNING_RATE)]


def _load(path):
    result = np.load(path)
    count = len([k for k in result.files if k.startswith("initial_")])
    return result, [result["initial_%d" % i] for i in range(count)], [result["final_%d" % i] for i in range(count)]


def _single_device_steps(initial, data_of_replica=(0, 1)):
    """The same steps on one device: per-replica gradients summed, then one update per player.

    Replica ``r`` draws its noise as replica ``r`` and trains on the batch of replica ``data_of_replica[r]``."""
    import keras

    gan = gan_lib.ImageNetGAN(**CONFIG)
    gan.compile(keras.optimizers.SGD(SGD_LEARNING_RATE), keras.optimizers.SGD(SGD_LEARNING_RATE))
    gan.set_weights(initial)
    for step in range(STEPS):
        d_sum = g_sum = None
        for replica in range(REPLICAS):
            images, labels = replica_batch(CONFIG, step, data_of_replica[replica])
            d_grads, g_grads, losses = gan.compute_gradients(images, labels, replica, REPLICAS)
            d_sum = list(d_grads) if d_sum is None else [a + b for a, b in zip(d_sum, d_grads)]
            g_sum = list(g_grads) if g_sum is None else [a + b for a, b in zip(g_sum, g_grads)]
            if replica == 0:
                error_rate = losses["error_rate"]
        gan.apply_gradients(d_sum, g_sum)
        gan.update_error_rate(error_rate)
    return gan


def _update_mismatch(gan, initial, final):
    """Worst, over the trained parameters, of max|distributed update - single-device update| / max|the latter|.

    These tiny-width networks are ill-conditioned (batch norms over 4 rows and 1x1 maps): a round-off-sized
    change of the input (3e-7) moves their gradients by ~1e-4 relative, so updates are compared to 2e-2
    relative, while a real difference (another replica's data or noise, a sum for a mean) is of order 1."""
    worst = 0.0
    for variable, start, got in zip(gan.weights, initial, final):
        expected = variable.numpy() - start
        if variable.trainable and np.max(np.abs(expected)) > 1e-7:
            worst = max(worst, float(np.max(np.abs((got - start) - expected)) / np.max(np.abs(expected))))
    return worst


def _check_against_single_device(result, initial, final, sensitivity=False):
    assert int(result["replicas"]) == REPLICAS
    assert int(result["step"]) == STEPS and int(result["d_iterations"]) == STEPS
    gan = _single_device_steps(initial)
    for variable, start, got in zip(gan.weights, initial, final):
        np.testing.assert_allclose(got, variable.numpy(), rtol=1e-4, atol=1e-5, err_msg=variable.path)
    assert _update_mismatch(gan, initial, final) < 2e-2
    moved = sum(int(np.max(np.abs(start - got)) > 1e-5) for start, got in zip(initial, final))
    assert moved > len(gan.trainable_weights) // 2  # the steps did train
    if sensitivity:  # the comparison does tell replicas apart
        assert _update_mismatch(_single_device_steps(initial, (1, 0)), initial, final) > 0.2


def test_mirrored_strategy_on_two_cpu_devices(tmp_path):
    out = str(tmp_path / "mirrored.npz")
    run = subprocess.run(_worker_command("mirrored", out), env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    result, initial, final = _load(out)
    assert float(result["spread"]) == 0.0  # every replica's copy of every variable is identical
    _check_against_single_device(result, initial, final, sensitivity=True)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow  # 15-25 s: two worker processes; MirroredStrategy on two CPU devices runs by default
def test_multi_worker_mirrored_strategy_on_two_local_workers(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": ["127.0.0.1:%d" % p for p in ports]}
    outs = [str(tmp_path / ("worker%d.npz" % i)) for i in range(2)]
    processes = [
        subprocess.Popen(
            _worker_command("multi_worker", outs[i]), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})),
        )
        for i in range(2)
    ]
    logs = []
    try:
        for p in processes:
            stdout, stderr = p.communicate(timeout=300)
            logs.append(stdout[-2000:] + stderr[-4000:])
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in processes), "\n----\n".join(logs)
    (r0, initial0, final0), (r1, initial1, final1) = _load(outs[0]), _load(outs[1])
    for a, b in zip(initial0 + final0, initial1 + final1):
        np.testing.assert_array_equal(a, b)  # the two workers' variables are identical, before and after
    assert os.path.exists(outs[0] + "_ckpt/checkpoint") and not os.path.exists(outs[1] + "_ckpt")
    _check_against_single_device(r0, initial0, final0)


def test_make_strategy_reads_tf_config(tmp_path):
    script = "from improved_gan_tf2.training import make_strategy; print(type(make_strategy()).__name__)"
    ports = _free_ports(1)
    one = {"cluster": {"worker": ["127.0.0.1:%d" % ports[0]]}, "task": {"type": "worker", "index": 0}}
    run = subprocess.run([sys.executable, "-c", script], env=_env(TF_CONFIG=json.dumps(one)), capture_output=True,
                         text=True, timeout=300)
    assert run.stdout.strip().splitlines()[-1] == "MirroredStrategy"


def test_towers_on_one_device_equal_replicas():
    """One replica running two towers in turn (``towers_per_replica=2``, the default --towers=4 on fewer than 4
    devices) computes the update of two replicas running one tower each: tower t draws tower t's noise and trains
    on the t-th block of rows of the replica's batch."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    gan = gan_lib.ImageNetGAN(**CONFIG, towers_per_replica=REPLICAS)
    gan.compile(keras.optimizers.SGD(SGD_LEARNING_RATE), keras.optimizers.SGD(SGD_LEARNING_RATE))
    initial = [w.numpy() for w in gan.weights]
    batches = [[replica_batch(CONFIG, step, replica) for replica in range(REPLICAS)] for step in range(STEPS)]
    images = np.stack([np.concatenate([i for i, _ in step]) for step in batches])
    labels = np.stack([np.concatenate([l for _, l in step]) for step in batches])
    gan.fit(tf.data.Dataset.from_tensor_slices((images, labels)), epochs=1, steps_per_epoch=STEPS, verbose=0,
            shuffle=False)
    final = [w.numpy() for w in gan.weights]
    assert int(gan.step.numpy()) == STEPS and int(gan.discriminator_optimizer.iterations.numpy()) == STEPS
    expected = _single_device_steps(initial)
    for variable, got in zip(expected.weights, final):
        np.testing.assert_allclose(got, variable.numpy(), rtol=1e-4, atol=1e-5, err_msg=variable.path)
    assert _update_mismatch(expected, initial, final) < 2e-2
    assert _update_mismatch(_single_device_steps(initial, (1, 0)), initial, final) > 0.2  # towers told apart
