"""Distribution strategies for the ImageNet training (the original's ``imagenet/train.py`` runs towers on GPUs): which
strategy, and which process writes."""
import json
import os

import tensorflow as tf


def _cluster_size(tf_config):
    cluster = tf_config.get("cluster", {})
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def make_strategy(kind="auto"):
    """The distribution strategy: ``"auto"`` is ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names more
    than one worker, else ``MirroredStrategy`` over the visible GPUs (the CPU if there are none);
    ``"mirrored"``, ``"multi_worker"`` and ``"default"`` (no strategy) force one."""
    if kind == "auto":
        tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
        kind = "multi_worker" if _cluster_size(tf_config) > 1 else "mirrored"
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"strategy must be 'auto', 'mirrored', 'multi_worker' or 'default', got {kind!r}.")


def is_chief(strategy):
    """True on the one process that writes logs, samples and checkpoints."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
