"""Trains the 128x128 ImageNet GAN of the paper's Sec. 6.4 (port of train_imagenet.py and train_imagenet.sh).

The experiment is the record ``train_imagenet`` of ``improved_gan_tf2/experiments/imagenet.py``: flag defaults
are train_imagenet.sh's values (per-replica batch 16, 128x128, training on); the model, losses and optimizers are
the original's (improved_gan_tf2.models.imagenet). Data parallel over the visible GPUs with MirroredStrategy (the
original hard-coded 4 towers), or over several machines with MultiWorkerMirroredStrategy when TF_CONFIG names more
than one worker.

    python imagenet/train_imagenet.py --dataset=imagenet_train_labeled_128.tfrecords

Runs until interrupted (or --max_steps); Ctrl-C saves a checkpoint, and a restart resumes from the latest.
With --nois_train it restores the latest checkpoint and writes <sample_dir>/test.png.
"""
from improved_gan_tf2.startup import quiet_tensorflow

quiet_tensorflow()  # TensorFlow's C++ start-up log is not for the people running the script

from improved_gan_tf2 import cli, experiments  # noqa: E402

EXPERIMENT = experiments.get_experiment("train_imagenet")
cli.define_flags(EXPERIMENT.flags)


def main(argv):
    experiments.run(EXPERIMENT, cli.flag_values())


if __name__ == "__main__":
    cli.run(main, error_prefix=f"{cli.script_name()}: ")
