"""Semi-supervised SVHN with minibatch discrimination (the SVHN samples of the paper, Sec. 5.3).

Port of the original ``mnist_svhn_cifar10/train_svhn_minibatch_discrimination.py``: same flags and defaults (100
labels per class chosen with ``--seed_data``, batch 100, 900 epochs, learning rate
``0.0003 * min(3 - epoch / 300, 1)``), Gaussian input noise and the 96/192 discriminator (wider than the SVHN
feature-matching one, as there) with ``MinibatchDiscrimination(100)``, three generator updates per
discriminator update, one unlabelled order per epoch. The test error is the original's: the mean of the errors
of ``ceil(n_test / batch_size)`` batches, the last being the last ``batch_size`` images, so the images it shares
with the batch before it count twice.

With ``train_32x32.mat`` and ``test_32x32.mat`` in --data_dir/svhn (or --data_dir):

    python mnist_svhn_cifar/train_svhn_minibatch_discrimination.py --data_dir=/path/to/data
"""
from absl import flags
import keras

from improved_gan_tf2 import cli
from improved_gan_tf2.data import OriginalEpochOrder, load_svhn, select_labelled
from improved_gan_tf2.networks.cifar_svhn import EXPERIMENTS, fit_cifar_svhn
from improved_gan_tf2.training import RunDirectory

EXPERIMENT = EXPERIMENTS["svhn_minibatch_discrimination"]
cli.define_semi_supervised_flags(
    count=EXPERIMENT.count, epochs=EXPERIMENT.epochs, learning_rate=0.0003,
    datasets=["svhn", "svhn_mat", "svhn_tfds"], out_dir="runs/svhn_minibatch_discrimination",
)
flags.DEFINE_float("width_scale", 1.0, "Multiplies every layer width; for quick tests only (1: the original).")
flags.register_validator("width_scale", lambda value: 0 < value <= 1, message="--width_scale must be in (0, 1].")
FLAGS = flags.FLAGS


def main(argv):
    print(cli.flag_values())
    keras.utils.set_random_seed(FLAGS.seed)

    # load SVHN (labels 10 -> 0), select the labelled examples with seed_data
    data = load_svhn(FLAGS.data_dir, dataset=FLAGS.dataset)
    with cli.bad_input():
        labelled = select_labelled(data["x_train"], data["y_train"], FLAGS.count, FLAGS.seed_data)
    cli.require(FLAGS.batch_size <= min(len(data["x_train"]), len(data["x_test"])),
                f"--batch_size={FLAGS.batch_size} is larger than the training or test set of {FLAGS.dataset}.")

    def epoch_order():  # the labelled set tiled ceil(n_unl / n_lab) times; one unlabelled order per epoch
        return OriginalEpochOrder(FLAGS.seed, len(labelled.x_lab), len(data["x_train"]), tiling="ceil",
                                  unlabelled_copies=EXPERIMENT.unlabelled_copies)

    # generator, discriminator (Gaussian noise, minibatch features), minibatch generator loss x 3, Adam;
    # init on the first 500 of epoch 0's labelled batches; then the training loop
    fit_cifar_svhn(
        EXPERIMENT, RunDirectory(FLAGS.out_dir, cli.flag_values()), data, labelled, epoch_order,
        unlabeled_weight=FLAGS.unlabeled_weight, learning_rate=FLAGS.learning_rate, seed=FLAGS.seed,
        batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, jit_compile=FLAGS.jit_compile,
        width_scale=FLAGS.width_scale,
    )


if __name__ == "__main__":
    cli.run(main)
