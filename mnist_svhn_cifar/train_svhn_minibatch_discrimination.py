"""Semi-supervised SVHN with minibatch discrimination (the SVHN samples of the paper, Sec. 6.3).

Port of the original ``mnist_svhn_cifar10/train_svhn_minibatch_discrimination.py`` (the record
``train_svhn_minibatch_discrimination`` of ``improved_gan_tf2/experiments/cifar_svhn.py``): same flags and
defaults (100 labels per class chosen with ``--seed_data``, batch 100, 900 epochs, learning rate
``0.0003 * min(3 - epoch / 300, 1)``), Gaussian input noise and the 96/192 discriminator (wider than the SVHN
feature-matching one, as there) with ``MinibatchDiscrimination(100)``, three generator updates per discriminator
update, one unlabelled order per epoch. The test error is the original's: the mean of the errors of
``ceil(n_test / batch_size)`` batches, the last being the last ``batch_size`` images, so the images it shares
with the batch before it count twice. With ``train_32x32.mat`` and ``test_32x32.mat`` in --data_dir/svhn (or
--data_dir):

    python mnist_svhn_cifar/train_svhn_minibatch_discrimination.py --data_dir=/path/to/data
"""
from improved_gan_tf2.startup import quiet_tensorflow

quiet_tensorflow()  # TensorFlow's C++ start-up log is not for the people running the script

from improved_gan_tf2 import cli, experiments  # noqa: E402

EXPERIMENT = experiments.get_experiment("train_svhn_minibatch_discrimination")
cli.define_flags(EXPERIMENT.flags)


def main(argv):
    experiments.run(EXPERIMENT, cli.flag_values())


if __name__ == "__main__":
    cli.run(main)
