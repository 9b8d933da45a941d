"""The four CIFAR-10 and SVHN scripts of ``mnist_svhn_cifar10/`` as records (paper Sec. 6.2-6.3, Tables 2 and 3).

All four: the 32x32 networks of :mod:`improved_gan_tf2.networks.cifar_svhn`, the original's Adam (beta1 = 0.5)
from 0.0003 with the ramp-down ``min(3 - epoch / ramp_epochs, 1)``, the labelled set tiled ``ceil(n_unl /
n_lab)`` times per epoch, data-dependent init on the first 500 of epoch 0's tiled labelled set. They differ in:

============================================  =======  =========  =========  ==========  ==================
script                                        widths   input      generator  labels by   test set
============================================  =======  =========  =========  ==========  ==================
``train_cifar_feature_matching``              96/192   dropout    FM (L1)    seed_data   full batches
``train_cifar_minibatch_discrimination``      96/192   gaussian   MB x 3     seed        full batches
``train_svhn_feature_matching``               64/128   dropout    FM (L1)    seed_data   windows, each once
``train_svhn_minibatch_discrimination``       96/192   gaussian   MB x 3     seed_data   windows averaged
============================================  =======  =========  =========  ==========  ==================

(FM: feature matching on the global-pool output, two unlabelled orders per epoch; MB x 3: minibatch
discrimination with 100 kernels and three generator updates per discriminator update, one unlabelled order.)

``train_cifar_minibatch_discrimination`` also takes the Table 3 ablation flags, which the released code lacks.
"""
import dataclasses

from improved_gan_tf2 import cli, losses
from improved_gan_tf2.cli import Flag
from improved_gan_tf2.data import CIFAR10_DATASETS, SVHN_DATASETS, load_cifar10, load_svhn
from improved_gan_tf2.experiments.registry import (
    WIDTH_SCALE_FLAG,
    SemiSupervisedExperiment,
    register,
    semi_supervised_flags,
)
from improved_gan_tf2.networks.cifar_svhn import (
    GENERATOR_WIDTHS,
    NOISE_DIM,
    cifar_svhn_discriminator,
    cifar_svhn_generator,
    scaled_width,
)
from improved_gan_tf2.plotting import cifar_sample_grid, svhn_sample_grid

#: Weight of the historical-averaging term for the Table 3 "-L+HA" run (the paper gives the term no weight).
PAPER_HISTORICAL_AVERAGING = 1.0
LEARNING_RATE = 0.0003


@dataclasses.dataclass(frozen=True)
class CifarSvhnNetworks:
    """One script's networks: called with the flags, returns ``(generator, discriminator)`` at ``--width_scale``,
    with the Table 3 flags ``--virtual_batch_norm`` (the generator's batch norm becomes virtual batch norm with a
    reference batch of ``--batch_size``) and ``--no_minibatch_features`` where the script has them."""

    discriminator_widths: tuple   #: ``(w1, w2)``: (96, 192), or (64, 128) for SVHN feature matching
    input_noise: str              #: "dropout" (p = 0.2) or "gaussian" (sigma = 0.2)
    minibatch_kernels: int        #: 0, or 100 in the minibatch-discrimination scripts

    def __call__(self, flags):
        scale = flags.get("width_scale", 1.0)
        generator = cifar_svhn_generator(
            [scaled_width(w, scale) for w in GENERATOR_WIDTHS],
            normalization="virtual" if flags.get("virtual_batch_norm") else "batch",
            reference_size=flags["batch_size"],
        )
        discriminator = cifar_svhn_discriminator(
            [scaled_width(w, scale) for w in self.discriminator_widths], input_noise=self.input_noise,
            minibatch_kernels=0 if flags.get("no_minibatch_features") else self.minibatch_kernels,
        )
        return generator, discriminator


def load_cifar10_data(flags):
    return load_cifar10(flags["data_dir"], dataset=flags["dataset"])


def load_svhn_data(flags):
    return load_svhn(flags["data_dir"], dataset=flags["dataset"])


# ------------------------------------------------------------------------------------------ Table 3


TABLE3_FLAGS = (
    Flag("boolean", "virtual_batch_norm", False,
         "Table 3 'Our methods': virtual batch norm in the generator (a fixed reference batch of --batch_size noise "
         "vectors; scale and shift; paper Sec. 3.4) instead of the released code's batch norm. Off (the default) is "
         "Table 3's '-VBN+BN' column."),
    Flag("boolean", "label_smoothing", False,
         f"Table 3 'Our methods': one-sided label smoothing of the real/generated decision, the unlabelled real "
         f"examples' target {1 - losses.PAPER_LABEL_SMOOTHING:g} instead of 1, generated ones' 0 (paper Sec. 3.4). "
         f"Off (the default, the released code) is Table 3's '-LS' column."),
    Flag("boolean", "no_labels_historical_averaging", False,
         f"Table 3's '-L+HA' column: train without the labelled loss and add historical averaging (weight "
         f"{PAPER_HISTORICAL_AVERAGING:g}, paper Sec. 3.3) to both players' costs."),
    Flag("boolean", "no_labels", False,
         "Table 3's '-L' column: train without the labelled loss (the discriminator's cost is the unsupervised "
         "loss alone; the test error is still reported)."),
    Flag("boolean", "no_minibatch_features", False,
         "Table 3's '-MBF' column: no minibatch-discrimination layer in the discriminator (the generator keeps the "
         "minibatch model's loss and three updates per step)."),
)


def check_table3_flags(flags):
    cli.require(not (flags["no_labels"] and flags["no_labels_historical_averaging"]),
                "--no_labels ('-L') and --no_labels_historical_averaging ('-L+HA') are two Table 3 columns; "
                "pass one of them.")
    cli.require(_uses_labels(flags) or flags["unlabeled_weight"] > 0,
                "without labels the discriminator trains on the unlabelled loss only: --unlabeled_weight must be > 0.")


def _uses_labels(flags):
    return not (flags.get("no_labels") or flags.get("no_labels_historical_averaging"))


def table3_options(flags):
    """The ``SemiSupervisedGAN`` options of the Table 3 flags (all off: the released code)."""
    return dict(
        label_smoothing=losses.PAPER_LABEL_SMOOTHING if flags.get("label_smoothing") else 0.0,
        use_labels=_uses_labels(flags),
        historical_averaging=PAPER_HISTORICAL_AVERAGING if flags.get("no_labels_historical_averaging") else 0.0,
    )


# ------------------------------------------------------------------------------------------ the records


#: What follows from the data set: the labelled examples per class, the epochs, the learning-rate ramp, the
#: loader, the choices of --dataset and the sample grid of the original scripts.
DATASETS = {
    "cifar10": dict(count=400, epochs=1200, ramp_epochs=400, load_data=load_cifar10_data, datasets=CIFAR10_DATASETS,
                    sample_grid=cifar_sample_grid),
    "svhn": dict(count=100, epochs=900, ramp_epochs=300, load_data=load_svhn_data, datasets=SVHN_DATASETS,
                 sample_grid=svhn_sample_grid),
}
#: What follows from the generator's loss: feature matching (L1) with a second unlabelled order and input dropout,
#: or minibatch discrimination (100 kernels) with three generator updates and Gaussian input noise.
GENERATOR_LOSSES = {
    "feature_matching": dict(generator_steps=1, unlabelled_copies=2, input_noise="dropout", minibatch_kernels=0),
    "minibatch": dict(generator_steps=3, unlabelled_copies=1, input_noise="gaussian", minibatch_kernels=100),
}


def _record(script, summary, dataset, generator_loss, discriminator_widths, labelled_choice, evaluation_tail,
            samples_png, extra_flags=(), **options):
    data, loss = DATASETS[dataset], GENERATOR_LOSSES[generator_loss]
    flags = semi_supervised_flags(count=data["count"], epochs=data["epochs"], learning_rate=LEARNING_RATE,
                                  datasets=data["datasets"], out_dir=f"runs/{script[len('train_'):]}",
                                  seed_data=labelled_choice == "seed_data")
    return register(SemiSupervisedExperiment(
        script=script, original=f"mnist_svhn_cifar10/{script}.py", summary=summary,
        flags=flags + (WIDTH_SCALE_FLAG,) + tuple(extra_flags),
        load_data=data["load_data"], labelled_choice=labelled_choice, tiling="ceil",
        unlabelled_copies=loss["unlabelled_copies"], init_batch="first_epoch", evaluation_tail=evaluation_tail,
        networks=CifarSvhnNetworks(discriminator_widths, loss["input_noise"], loss["minibatch_kernels"]),
        generator_loss=generator_loss, feature_norm="l1", generator_steps=loss["generator_steps"],
        ramp_epochs=data["ramp_epochs"], sample_grid=data["sample_grid"], samples_png=samples_png,
        noise_dim=NOISE_DIM, **options,
    ))


CIFAR_FEATURE_MATCHING = _record(
    "train_cifar_feature_matching", "Semi-supervised CIFAR-10 with feature matching (paper Sec. 6.2, Table 2)",
    "cifar10", "feature_matching", (96, 192), "seed_data", "drop", "cifar_sample_feature_match.png")
CIFAR_MINIBATCH_DISCRIMINATION = _record(
    "train_cifar_minibatch_discrimination",
    "Semi-supervised CIFAR-10 with minibatch discrimination (paper Sec. 6.2, Table 3)",
    "cifar10", "minibatch", (96, 192), "seed", "drop", "cifar10_sample_minibatch.png",
    extra_flags=TABLE3_FLAGS, model_options=table3_options, check_flags=check_table3_flags)
SVHN_FEATURE_MATCHING = _record(
    "train_svhn_feature_matching", "Semi-supervised SVHN with feature matching (paper Sec. 6.3)",
    "svhn", "feature_matching", (64, 128), "seed_data", "overlap_predictions", "svhn_sample_feature_match.png")
SVHN_MINIBATCH_DISCRIMINATION = _record(
    "train_svhn_minibatch_discrimination", "Semi-supervised SVHN with minibatch discrimination (paper Sec. 6.3)",
    "svhn", "minibatch", (96, 192), "seed_data", "overlap_batches", "svhn_sample_minibatch.png")

#: The four records, for the tests and tools that treat them together.
CIFAR_SVHN_EXPERIMENTS = {e.script: e for e in (CIFAR_FEATURE_MATCHING, CIFAR_MINIBATCH_DISCRIMINATION,
                                               SVHN_FEATURE_MATCHING, SVHN_MINIBATCH_DISCRIMINATION)}
