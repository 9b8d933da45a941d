"""Semi-supervised CIFAR-10 with minibatch discrimination (paper Sec. 5.2: the model of the best samples, Table 3).

Port of the original ``mnist_svhn_cifar10/train_cifar_minibatch_discrimination.py``: same flags and defaults (no
``--seed_data``: the labelled examples are chosen with the ``--seed`` RNG, as there), Gaussian input noise,
``MinibatchDiscrimination(100)`` before the last layer, three generator updates per discriminator update, one
unlabelled order per epoch, 1200 epochs with the learning rate ``0.0003 * min(3 - epoch / 400, 1)``.

The ablations of the paper's Table 3 (Inception scores of CIFAR-10 samples; "Our methods" is every technique of
the paper except feature matching and historical averaging). The released code lacks two of those techniques,
virtual batch norm and label smoothing, so its default run is Table 3's "-VBN+BN" and "-LS" at once; the flags:

    column      flags
    Our methods --virtual_batch_norm --label_smoothing
    -VBN+BN     --label_smoothing
    -L+HA       --virtual_batch_norm --label_smoothing --no_labels_historical_averaging
    -LS         --virtual_batch_norm
    -L          --virtual_batch_norm --label_smoothing --no_labels
    -MBF        --virtual_batch_norm --label_smoothing --no_minibatch_features

    python mnist_svhn_cifar/train_cifar_minibatch_discrimination.py --data_dir=/path/to/data
"""
from absl import flags
import keras

from improved_gan_tf2 import cli
from improved_gan_tf2.data import OriginalEpochOrder, load_cifar10, original_rng, select_labelled
from improved_gan_tf2.networks.cifar_svhn import (
    EXPERIMENTS,
    PAPER_HISTORICAL_AVERAGING,
    PAPER_LABEL_SMOOTHING,
    fit_cifar_svhn,
)
from improved_gan_tf2.training import RunDirectory

EXPERIMENT = EXPERIMENTS["cifar_minibatch_discrimination"]
cli.define_semi_supervised_flags(
    count=EXPERIMENT.count, epochs=EXPERIMENT.epochs, learning_rate=0.0003,
    datasets=["cifar10", "cifar10_batches", "cifar10_tar", "cifar10_tfds"],
    out_dir="runs/cifar_minibatch_discrimination", seed_data=False,
)
flags.DEFINE_float("width_scale", 1.0, "Multiplies every layer width; for quick tests only (1: the original).")
flags.register_validator("width_scale", lambda value: 0 < value <= 1, message="--width_scale must be in (0, 1].")
# Table 3 (not in the released code; each off by default)
flags.DEFINE_boolean(
    "virtual_batch_norm", False,
    "Table 3 'Our methods': virtual batch norm in the generator (a fixed reference batch of --batch_size noise "
    "vectors; scale and shift; paper Sec. 3.4) instead of the released code's batch norm. Off (the default) is "
    "Table 3's '-VBN+BN' column.")
flags.DEFINE_boolean(
    "label_smoothing", False,
    f"Table 3 'Our methods': one-sided label smoothing of the real/generated decision, the unlabelled real "
    f"examples' target {1 - PAPER_LABEL_SMOOTHING:g} instead of 1, generated ones' 0 (paper Sec. 3.4). Off (the "
    f"default, the released code) is Table 3's '-LS' column.")
flags.DEFINE_boolean(
    "no_labels_historical_averaging", False,
    f"Table 3's '-L+HA' column: train without the labelled loss and add historical averaging (weight "
    f"{PAPER_HISTORICAL_AVERAGING:g}, paper Sec. 3.3) to both players' costs.")
flags.DEFINE_boolean(
    "no_labels", False, "Table 3's '-L' column: train without the labelled loss (the discriminator's cost is "
    "the unsupervised loss alone; the test error is still reported).")
flags.DEFINE_boolean(
    "no_minibatch_features", False, "Table 3's '-MBF' column: no minibatch-discrimination layer in the "
    "discriminator (the generator keeps the minibatch model's loss and three updates per step).")
FLAGS = flags.FLAGS


def main(argv):
    print(cli.flag_values())
    keras.utils.set_random_seed(FLAGS.seed)
    cli.require(not (FLAGS.no_labels and FLAGS.no_labels_historical_averaging),
                "--no_labels ('-L') and --no_labels_historical_averaging ('-L+HA') are two Table 3 columns; "
                "pass one of them.")
    use_labels = not (FLAGS.no_labels or FLAGS.no_labels_historical_averaging)
    cli.require(use_labels or FLAGS.unlabeled_weight > 0,
                "without labels the discriminator trains on the unlabelled loss only: --unlabeled_weight must be > 0.")

    # load CIFAR-10
    data = load_cifar10(FLAGS.data_dir, dataset=FLAGS.dataset)

    def labelled_and_order():
        # one RNG, as in the original: two seed draws, the labelled choice, then every epoch's order
        rng, _, _ = original_rng(FLAGS.seed)
        with cli.bad_input():
            labelled = select_labelled(data["x_train"], data["y_train"], FLAGS.count, rng)
        return labelled, OriginalEpochOrder(rng, len(labelled.x_lab), len(data["x_train"]), tiling="ceil",
                                            unlabelled_copies=EXPERIMENT.unlabelled_copies)

    labelled, _ = labelled_and_order()
    cli.require(FLAGS.batch_size <= min(len(data["x_train"]), len(data["x_test"])),
                f"--batch_size={FLAGS.batch_size} is larger than the training or test set of {FLAGS.dataset}.")

    # networks (with the Table 3 ablations), minibatch loss x 3, Adam; init on the first 500 of epoch 0's
    # labelled batches; then the training loop
    fit_cifar_svhn(
        EXPERIMENT, RunDirectory(FLAGS.out_dir, cli.flag_values()), data, labelled, lambda: labelled_and_order()[1],
        unlabeled_weight=FLAGS.unlabeled_weight, learning_rate=FLAGS.learning_rate, seed=FLAGS.seed,
        batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, jit_compile=FLAGS.jit_compile,
        width_scale=FLAGS.width_scale,
        virtual_batch_norm=FLAGS.virtual_batch_norm,
        label_smoothing=PAPER_LABEL_SMOOTHING if FLAGS.label_smoothing else 0.0,
        use_labels=use_labels,
        historical_averaging=PAPER_HISTORICAL_AVERAGING if FLAGS.no_labels_historical_averaging else 0.0,
        minibatch_features=not FLAGS.no_minibatch_features,
    )


if __name__ == "__main__":
    cli.run(main)
