"""Semi-supervised MNIST with feature matching (paper Sec. 5.1, Table 1: 93 +- 6.5 test errors with 100 labels).

Port of the original ``mnist_svhn_cifar10/train_mnist_feature_matching.py``, same flags and defaults and the same
per-epoch line. On the 5,000-digit sample shipped with this repository (minutes on a CPU):

    python mnist_svhn_cifar/train_mnist_feature_matching.py --dataset=mnist_sample --epochs=100

With the original's ``mnist.npz`` (or MNIST's IDX files) in --data_dir, the defaults run the paper's experiment.
"""
from absl import flags
import keras

from improved_gan_tf2 import cli
from improved_gan_tf2.data import load_mnist, select_labelled
from improved_gan_tf2.networks.mnist import fit_mnist_feature_matching
from improved_gan_tf2.training import RunDirectory

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

    # generator, discriminator, feature matching and the original's Adam; init on the first 500 permuted
    # training images; then the training loop
    fit_mnist_feature_matching(
        RunDirectory(FLAGS.out_dir, cli.flag_values()), labelled, data["x_train"], data["x_test"], data["y_test"],
        seed=FLAGS.seed, unlabeled_weight=FLAGS.unlabeled_weight, learning_rate=FLAGS.learning_rate,
        batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, jit_compile=FLAGS.jit_compile,
    )


if __name__ == "__main__":
    cli.run(main)
