"""Trains the 128x128 ImageNet GAN of the paper's Sec. 6.4 (port of train_imagenet.py and train_imagenet.sh).

Flag defaults are train_imagenet.sh's values (per-replica batch 16, 128x128, training on); the model, losses and
optimizers are the original's (improved_gan_tf2.models.imagenet). Data parallel over the visible GPUs with
MirroredStrategy (the original hard-coded 4 towers), or over several machines with MultiWorkerMirroredStrategy
when TF_CONFIG names more than one worker.

    python imagenet/train_imagenet.py --dataset=imagenet_train_labeled_128.tfrecords

Runs until interrupted (or --max_steps); Ctrl-C saves a checkpoint, and a restart resumes from the latest.
With --nois_train it restores the latest checkpoint and writes <sample_dir>/test.png.
"""
import os
import pprint
import sys

from absl import app, flags

flags.DEFINE_float("discriminator_learning_rate", 0.0004, "Learning rate of the discriminator's Adam.")
flags.DEFINE_float("generator_learning_rate", 0.0004, "Learning rate of the generator's Adam.")
flags.DEFINE_float("beta1", 0.5, "Momentum term of Adam.")
flags.DEFINE_integer("batch_size", 16, "Real images per replica and step (one GPU tower's batch; also the "
                     "reference batch size and the number of generated images per replica).")
flags.DEFINE_integer("image_size", 128, "Accepted for compatibility with the original's command line (its crop "
                     "size); the crop is done by convert_imagenet_to_records.py --image_size.")
flags.DEFINE_integer("image_width", 128, "Side of the images presented to the model: 128 as the original, or "
                     "any multiple of 32 for small runs (the records must have that size).")
flags.DEFINE_string("dataset", "imagenet_train_labeled_128.tfrecords",
                    "TFRecords from convert_imagenet_to_records.py (a path, glob or comma list), or "
                    "tfds:imagenet2012.")
flags.DEFINE_string("checkpoint_dir", "gan/checkpoint_imagenet", "Directory of the checkpoints.")
flags.DEFINE_string("sample_dir", "gan/samples_imagenet", "Directory of the 8x8 sample grids.")
flags.DEFINE_boolean("is_train", True, "Train (default, as train_imagenet.sh); --nois_train writes test.png "
                     "from the latest checkpoint.")
flags.DEFINE_boolean("is_crop", True, "Accepted for compatibility (the converter always centre-crops).")
# Width multipliers and sizes, for small runs (defaults: the original model).
flags.DEFINE_integer("gf_dim", 64, "Generator width multiplier (the original's gf_dim).")
flags.DEFINE_integer("df_dim", 64, "Discriminator width multiplier (the original's df_dim); even.")
flags.DEFINE_integer("z_dim", 8192, "Dimension of z.")
flags.DEFINE_integer("num_classes", 1000, "Number of real classes (logits: num_classes + 1).")
flags.DEFINE_integer("minibatch_kernels", 300, "Minibatch discrimination kernels.")
flags.DEFINE_integer("minibatch_kernel_dim", 50, "Dimensions per minibatch discrimination kernel.")
# Running the job.
flags.DEFINE_integer("seed", 0, "Seed of the initial weights, the reference batch, the sample inputs and all noise.")
flags.DEFINE_integer("max_steps", 0, "Stop when the step counter reaches this (0: run until interrupted).")
flags.DEFINE_float("print_every_secs", 15.0, "Seconds between log lines (the original's 15).")
flags.DEFINE_float("sample_every_secs", 300.0, "Seconds between sample grids after the first 300 batches.")
flags.DEFINE_float("checkpoint_every_secs", 3600.0, "Seconds between checkpoints (the original's 3600).")
flags.DEFINE_string("tensorboard_dir", "logs", "TensorBoard directory (the original's ./logs).")
flags.DEFINE_enum("strategy", "auto", ["auto", "mirrored", "multi_worker", "default"],
                  "auto: MultiWorkerMirroredStrategy if TF_CONFIG has several workers, else MirroredStrategy.")
flags.DEFINE_string("tfds_data_dir", None, "tfds data directory for --dataset=tfds:imagenet2012.")
flags.DEFINE_integer("num_test_batches", 4, "--nois_train: batches of --batch_size samples in test.png.")
flags.DEFINE_boolean("jit_compile", False, "Compile the training step with XLA.")
FLAGS = flags.FLAGS

flags.register_validator("batch_size", lambda v: v >= 1, "--batch_size must be at least 1 (per replica).")
flags.register_validator("image_width", lambda v: v >= 32 and v % 32 == 0,
                         "--image_width must be a multiple of 32 (128 for the original model).")
flags.register_validator("gf_dim", lambda v: v >= 1, "--gf_dim must be at least 1.")
flags.register_validator("df_dim", lambda v: v >= 2 and v % 2 == 0,
                         "--df_dim must be even and at least 2 (cross batch norm splits channels in halves).")
flags.register_validator("z_dim", lambda v: v >= 1, "--z_dim must be at least 1.")
flags.register_validator("num_classes", lambda v: v >= 1, "--num_classes must be at least 1.")
flags.register_validator("minibatch_kernels", lambda v: v >= 1, "--minibatch_kernels must be at least 1.")
flags.register_validator("minibatch_kernel_dim", lambda v: v >= 1, "--minibatch_kernel_dim must be at least 1.")
flags.register_validator("discriminator_learning_rate", lambda v: v > 0, "learning rates must be positive.")
flags.register_validator("generator_learning_rate", lambda v: v > 0, "learning rates must be positive.")
flags.register_validator("beta1", lambda v: 0 <= v < 1, "--beta1 must be in [0, 1).")
flags.register_validator("max_steps", lambda v: v >= 0, "--max_steps must be 0 (no limit) or positive.")
flags.register_validator("num_test_batches", lambda v: v >= 1, "--num_test_batches must be at least 1.")


def main(argv):
    del argv
    pprint.PrettyPrinter().pprint({f.name: f.value for f in FLAGS.get_key_flags_for_module(sys.argv[0])})
    import keras
    import numpy as np

    from improved_gan_tf2.data import imagenet as data
    from improved_gan_tf2.data.errors import DataFormatError, DataNotFoundError
    from improved_gan_tf2.models import imagenet as gan_lib

    if FLAGS.is_train:  # before building the model: bad data fails at once, in one line
        try:
            data.check_dataset(FLAGS.dataset, FLAGS.image_width, FLAGS.tfds_data_dir)
        except (DataNotFoundError, DataFormatError, ValueError) as exc:
            sys.exit("train_imagenet.py: error: %s" % exc)
    keras.utils.set_random_seed(FLAGS.seed)
    strategy = gan_lib.make_strategy(FLAGS.strategy)
    chief = gan_lib.is_chief(strategy)
    print("strategy: %s, %d replica(s)" % (type(strategy).__name__, strategy.num_replicas_in_sync))
    if chief:
        os.makedirs(FLAGS.checkpoint_dir, exist_ok=True)
        os.makedirs(FLAGS.sample_dir, exist_ok=True)

    with strategy.scope():
        gan = gan_lib.ImageNetGAN(
            batch_size=FLAGS.batch_size, z_dim=FLAGS.z_dim, gf_dim=FLAGS.gf_dim, df_dim=FLAGS.df_dim,
            image_size=FLAGS.image_width, num_classes=FLAGS.num_classes,
            minibatch_kernels=FLAGS.minibatch_kernels, minibatch_kernel_dim=FLAGS.minibatch_kernel_dim,
            seed=FLAGS.seed,
        )
        gan.compile(
            d_optimizer=gan_lib.original_adam(FLAGS.discriminator_learning_rate, FLAGS.beta1, name="d_adam"),
            g_optimizer=gan_lib.original_adam(FLAGS.generator_learning_rate, FLAGS.beta1, name="g_adam"),
            jit_compile=FLAGS.jit_compile,
        )
    manager = gan_lib.make_checkpoint_manager(gan, FLAGS.checkpoint_dir)
    if gan_lib.restore_latest(manager):
        print(" [*] Load SUCCESS (%s, step %d)" % (manager.latest_checkpoint, int(gan.step.numpy())))
    else:
        print(" [!] Load failed...")

    if FLAGS.is_train:
        try:
            dataset = data.distribute(strategy, FLAGS.batch_size, FLAGS.dataset, FLAGS.image_width,
                                      seed=FLAGS.seed, data_dir=FLAGS.tfds_data_dir)
        except (DataNotFoundError, DataFormatError, ValueError) as exc:
            sys.exit("train_imagenet.py: error: %s" % exc)
        monitor = gan_lib.ImageNetTrainingMonitor(
            manager if chief else None, FLAGS.sample_dir, FLAGS.tensorboard_dir, FLAGS.print_every_secs,
            FLAGS.sample_every_secs, FLAGS.checkpoint_every_secs, chief=chief,
        )
        steps = FLAGS.max_steps - int(gan.step.numpy()) if FLAGS.max_steps else 10 ** 15
        print("TRAINING")
        try:
            if steps > 0:
                gan.fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=[monitor], verbose=0, shuffle=False)
        except KeyboardInterrupt:
            print("Interrupted at step %d." % int(gan.step.numpy()))
        finally:
            if chief:
                print(" [*] Saved %s" % gan_lib.save_checkpoint(manager, gan))
        print("DONE TRAINING")
    else:
        if manager.latest_checkpoint is None:
            sys.exit("train_imagenet.py: error: --nois_train needs a checkpoint in %s; train first."
                     % FLAGS.checkpoint_dir)
        samples = np.concatenate([
            gan.generate(gan.random_generator_inputs(FLAGS.batch_size, i)).numpy()
            for i in range(FLAGS.num_test_batches)
        ])
        cols = int(np.sqrt(samples.shape[0]))
        rows = samples.shape[0] // cols
        path = os.path.join(FLAGS.sample_dir, "test.png")
        if chief:
            gan_lib.save_image_grid(samples, (rows, cols), path)
            print("wrote %s (%dx%d samples)" % (path, rows, cols))


if __name__ == "__main__":
    app.run(main)
