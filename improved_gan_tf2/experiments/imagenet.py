"""``imagenet/train_imagenet.py`` (with ``train_imagenet.sh``'s flag values) as a record: the 128x128 ImageNet GAN
of paper Sec. 6.4, :class:`improved_gan_tf2.models.imagenet.ImageNetGAN`, trained by steps with ``tf.distribute``.

The flags keep the original's names and ``train_imagenet.sh``'s values (per-replica batch 16, 128x128, training
on); the widths and sizes are flags too, so that small runs are possible.
"""
from improved_gan_tf2.cli import Flag, at_least
from improved_gan_tf2.experiments.registry import ImageNetExperiment, register
from improved_gan_tf2.models import imagenet as model

IMAGENET_FLAGS = (
    Flag("float", "discriminator_learning_rate", model.LEARNING_RATE, "Learning rate of the discriminator's Adam.",
         check=lambda v: v > 0, message="learning rates must be positive."),
    Flag("float", "generator_learning_rate", model.LEARNING_RATE, "Learning rate of the generator's Adam.",
         check=lambda v: v > 0, message="learning rates must be positive."),
    Flag("float", "beta1", model.BETA1, "Momentum term of Adam.", check=lambda v: 0 <= v < 1,
         message="--beta1 must be in [0, 1)."),
    Flag("integer", "batch_size", 16, "Real images per replica and step (one GPU tower's batch; also the reference "
         "batch size and the number of generated images per replica).", check=lambda v: v >= 1,
         message="--batch_size must be at least 1 (per replica)."),
    Flag("integer", "towers", 4, "Towers per update, as the original's 4 GPU towers of --batch_size images each: "
         "every update averages their gradients, whatever the number of replicas R (each replica runs towers/R of "
         "them in turn; R must divide it). 0: one tower per replica, so that an update sees R x --batch_size "
         "images.", check=lambda v: v >= 0, message="--towers must be 0 (one per replica) or positive."),
    Flag("integer", "image_size", 128, "Accepted for compatibility with the original's command line (its crop "
         "size); the crop is done by convert_imagenet_to_records.py --image_size."),
    Flag("integer", "image_width", 128, "Side of the images presented to the model: 128 as the original, or any "
         "multiple of 32 for small runs (the records must have that size).", check=lambda v: v >= 32 and v % 32 == 0,
         message="--image_width must be a multiple of 32 (128 for the original model)."),
    Flag("string", "dataset", "imagenet_train_labeled_128.tfrecords", "TFRecords from "
         "convert_imagenet_to_records.py (a path, glob or comma list), or tfds:imagenet2012."),
    Flag("string", "checkpoint_dir", "gan/checkpoint_imagenet", "Directory of the checkpoints."),
    Flag("string", "sample_dir", "gan/samples_imagenet", "Directory of the 8x8 sample grids."),
    Flag("boolean", "is_train", True, "Train (default, as train_imagenet.sh); --nois_train writes test.png from the "
         "latest checkpoint."),
    Flag("boolean", "is_crop", True, "Accepted for compatibility (the converter always centre-crops)."),
    # Width multipliers and sizes, for small runs (defaults: the original model).
    Flag("integer", "gf_dim", 64, "Generator width multiplier (the original's gf_dim).", **at_least("gf_dim", 1)),
    Flag("integer", "df_dim", 64, "Discriminator width multiplier (the original's df_dim); even.",
         check=lambda v: v >= 2 and v % 2 == 0,
         message="--df_dim must be even and at least 2 (cross batch norm splits channels in halves)."),
    Flag("integer", "z_dim", 8192, "Dimension of z.", **at_least("z_dim", 1)),
    Flag("integer", "num_classes", 1000, "Number of real classes (logits: num_classes + 1).",
         **at_least("num_classes", 1)),
    Flag("integer", "minibatch_kernels", 300, "Minibatch discrimination kernels.", **at_least("minibatch_kernels", 1)),
    Flag("integer", "minibatch_kernel_dim", 50, "Dimensions per minibatch discrimination kernel.",
         **at_least("minibatch_kernel_dim", 1)),
    # Running the job.
    Flag("integer", "seed", 0, "Seed of the initial weights, the reference batch, the sample inputs and all noise."),
    Flag("integer", "max_steps", 0, "Stop when the step counter reaches this (0: run until interrupted).",
         check=lambda v: v >= 0, message="--max_steps must be 0 (no limit) or positive."),
    Flag("float", "print_every_secs", 15.0, "Seconds between log lines (the original's 15)."),
    Flag("float", "sample_every_secs", 300.0, "Seconds between sample grids after the first 300 batches."),
    Flag("float", "checkpoint_every_secs", 3600.0, "Seconds between checkpoints (the original's 3600)."),
    Flag("string", "tensorboard_dir", "logs", "TensorBoard directory (the original's ./logs)."),
    Flag("enum", "strategy", "auto", "auto: MultiWorkerMirroredStrategy if TF_CONFIG has several workers, else "
         "MirroredStrategy.", choices=("auto", "mirrored", "multi_worker", "default")),
    Flag("string", "tfds_data_dir", None, "tfds data directory for --dataset=tfds:imagenet2012."),
    Flag("integer", "num_test_batches", 4, "--nois_train: batches of --batch_size samples in test.png.",
         **at_least("num_test_batches", 1)),
    Flag("boolean", "jit_compile", False, "Compile the training step with XLA."),
)

IMAGENET = register(ImageNetExperiment(
    script="train_imagenet",
    original="imagenet/train_imagenet.py",
    summary="128x128 ImageNet with virtual batch norm and minibatch features (paper Sec. 6.4, Fig. 6)",
    flags=IMAGENET_FLAGS,
))


def towers_per_replica(flags, replicas):
    """How many towers each of ``replicas`` replicas runs per step for ``--towers`` (0: one each)."""
    towers = flags.get("towers", 0)
    if not towers:
        return 1
    if towers % replicas:
        raise ValueError(f"--towers={towers} is not a multiple of the {replicas} replicas; pass a multiple of "
                         f"{replicas}, or --towers=0 for one tower per replica.")
    return towers // replicas


def model_arguments(flags, replicas=1):
    """``ImageNetGAN``'s arguments from the script's flags, for ``replicas`` replicas."""
    return dict(
        batch_size=flags["batch_size"], z_dim=flags["z_dim"], gf_dim=flags["gf_dim"], df_dim=flags["df_dim"],
        image_size=flags["image_width"], num_classes=flags["num_classes"],
        minibatch_kernels=flags["minibatch_kernels"], minibatch_kernel_dim=flags["minibatch_kernel_dim"],
        seed=flags["seed"], towers_per_replica=towers_per_replica(flags, replicas),
    )
