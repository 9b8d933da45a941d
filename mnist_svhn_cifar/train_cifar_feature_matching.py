"""Semi-supervised CIFAR-10 with feature matching (paper Sec. 5.2, Table 2: 18.63 +- 2.32 % test error with 4000
labels).

Port of the original ``mnist_svhn_cifar10/train_cifar_feature_matching.py``: same flags and defaults (400 labels
per class, batch 100, 1200 epochs, learning rate ``0.0003 * min(3 - epoch / 400, 1)``), the same per-epoch line,
the sample grid each epoch. With ``cifar-10-batches-py/`` (or ``cifar-10-python.tar.gz``) in --data_dir:

    python mnist_svhn_cifar/train_cifar_feature_matching.py --data_dir=/path/to/data
"""
from absl import flags
import keras

from improved_gan_tf2 import cli
from improved_gan_tf2.data import OriginalEpochOrder, load_cifar10, select_labelled
from improved_gan_tf2.networks.cifar_svhn import EXPERIMENTS, fit_cifar_svhn
from improved_gan_tf2.training import RunDirectory

EXPERIMENT = EXPERIMENTS["cifar_feature_matching"]
cli.define_semi_supervised_flags(
    count=EXPERIMENT.count, epochs=EXPERIMENT.epochs, learning_rate=0.0003,
    datasets=["cifar10", "cifar10_batches", "cifar10_tar", "cifar10_tfds"],
    out_dir="runs/cifar_feature_matching",
)
flags.DEFINE_float("width_scale", 1.0, "Multiplies every layer width; for quick tests only (1: the original).")
flags.register_validator("width_scale", lambda value: 0 < value <= 1, message="--width_scale must be in (0, 1].")
FLAGS = flags.FLAGS


def main(argv):
    print(cli.flag_values())
    keras.utils.set_random_seed(FLAGS.seed)

    # load CIFAR-10, select the labelled examples with seed_data
    data = load_cifar10(FLAGS.data_dir, dataset=FLAGS.dataset)
    with cli.bad_input():
        labelled = select_labelled(data["x_train"], data["y_train"], FLAGS.count, FLAGS.seed_data)
    cli.require(FLAGS.batch_size <= min(len(data["x_train"]), len(data["x_test"])),
                f"--batch_size={FLAGS.batch_size} is larger than the training or test set of {FLAGS.dataset}.")

    def epoch_order():  # the labelled set tiled ceil(n_unl / n_lab) times; two unlabelled orders per epoch
        return OriginalEpochOrder(FLAGS.seed, len(labelled.x_lab), len(data["x_train"]), tiling="ceil",
                                  unlabelled_copies=EXPERIMENT.unlabelled_copies)

    # generator, discriminator (input dropout), feature matching with the L1 norm, Adam;
    # init on the first 500 of epoch 0's labelled batches; then the training loop
    fit_cifar_svhn(
        EXPERIMENT, RunDirectory(FLAGS.out_dir, cli.flag_values()), data, labelled, epoch_order,
        unlabeled_weight=FLAGS.unlabeled_weight, learning_rate=FLAGS.learning_rate, seed=FLAGS.seed,
        batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, jit_compile=FLAGS.jit_compile,
        width_scale=FLAGS.width_scale,
    )


if __name__ == "__main__":
    cli.run(main)
