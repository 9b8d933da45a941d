"""Semi-supervised MNIST with feature matching (paper Sec. 5.1, Table 1: 93 +- 6.5 test errors with 100 labels).

Port of the original ``mnist_svhn_cifar10/train_mnist_feature_matching.py``, same flags and defaults and the same
per-epoch line. On the 5,000-digit sample shipped with this repository (minutes on a CPU):

    python mnist_svhn_cifar/train_mnist_feature_matching.py --dataset=mnist_sample --epochs=30

With the original's ``mnist.npz`` (or MNIST's IDX files) in --data_dir, the defaults run the paper's experiment.
"""
from absl import flags
import keras

from improved_gan_tf2 import cli
from improved_gan_tf2.data import OriginalEpochOrder, load_mnist, select_labelled
from improved_gan_tf2.networks.mnist import mnist_feature_matching_gan, mnist_sample_grid
from improved_gan_tf2.training import RunDirectory, fit_semi_supervised

cli.define_semi_supervised_flags(
    count=10, epochs=300, learning_rate=0.003,
    datasets=["mnist", "mnist_npz", "mnist_idx", "mnist_tfds", "mnist_sample"],
    out_dir="runs/mnist_feature_matching",
)
FLAGS = flags.FLAGS


def main(argv):
    print(cli.flag_values())
    keras.utils.set_random_seed(FLAGS.seed)

    # load MNIST data (train = the original's train + valid), select the labelled examples
    data = load_mnist(FLAGS.dataset, FLAGS.data_dir)
    with cli.bad_input():
        labelled = select_labelled(data["x_train"], data["y_train"], FLAGS.count, FLAGS.seed_data)
    cli.require(FLAGS.batch_size <= min(len(data["x_train"]), len(data["x_test"])),
                f"--batch_size={FLAGS.batch_size} is larger than the training or test set of {FLAGS.dataset}.")

    # generator, discriminator, feature matching, and the original's Adam (beta1 = 0.5) for each
    gan = mnist_feature_matching_gan(FLAGS.unlabeled_weight, FLAGS.learning_rate, FLAGS.seed, FLAGS.jit_compile)

    # data-dependent init on the first 500 permuted training images, then the training loop
    fit_semi_supervised(
        gan, RunDirectory(FLAGS.out_dir, cli.flag_values()),
        x_lab=labelled.x_lab, y_lab=labelled.y_lab, x_unl=data["x_train"],
        x_test=data["x_test"], y_test=data["y_test"], x_init=labelled.x_permuted[:500],
        epoch_order=OriginalEpochOrder(FLAGS.seed, len(labelled.x_lab), len(data["x_train"]), tiling="floor"),
        batch_size=FLAGS.batch_size, epochs=FLAGS.epochs,
        learning_rate_schedule=lambda epoch: FLAGS.learning_rate,
        make_grid=mnist_sample_grid,
    )


if __name__ == "__main__":
    cli.run(main)
