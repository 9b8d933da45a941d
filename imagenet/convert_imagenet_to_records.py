"""Converts ImageNet to the TFRecords that train_imagenet.py reads (port of convert_imagenet_to_records.py).

Each image is centre-cropped to a square, resized to --image_size (128) and stored as raw uint8 bytes with its
label (the index of its class folder among the sorted folder names) and its height, width and depth, exactly
as the original preprocesses it (improved_gan_tf2.data.imagenet.original_preprocess). Files are written in a
shuffled order, as the original shuffled its file list.

    python imagenet/convert_imagenet_to_records.py --data_dir=/data/ILSVRC2012_img_train \
        --output=imagenet_train_labeled_128.tfrecords

    # or from TensorFlow Datasets' imagenet2012 (prepared from the manual download):
    python imagenet/convert_imagenet_to_records.py --source=tfds --output=imagenet_train_labeled_128.tfrecords
"""
import multiprocessing
import os
import random
from functools import partial

from absl import flags

flags.DEFINE_enum("source", "folders", ["folders", "tfds"],
                  "folders: --data_dir/<class folder>/<image>; tfds: the prepared tfds imagenet2012.")
flags.DEFINE_string("data_dir", None, "Folder of class folders (n*/ with JPEGs), e.g. ILSVRC2012_img_train.")
flags.DEFINE_string("folder_pattern", "n*", "Glob of the class folders inside --data_dir.")
flags.DEFINE_string("output", "imagenet_train_labeled_128.tfrecords",
                    "Output TFRecord file (with --num_shards > 1: <output>-00000-of-0000N, ...).")
flags.DEFINE_integer("image_size", 128, "Side of the stored square images (the original's IMSIZE).")
flags.DEFINE_integer("num_shards", 1, "Number of output files (several help multi-worker input sharding).")
flags.DEFINE_integer("num_workers", min(8, os.cpu_count() or 1), "Processes decoding and resizing images.")
flags.DEFINE_integer("seed", 0, "Seed of the file order shuffle.")
flags.DEFINE_boolean("shuffle", True, "Shuffle the file order, as the original.")
flags.DEFINE_integer("limit", 0, "Convert only the first N files after shuffling (0: all).")
flags.DEFINE_string("tfds_data_dir", None, "tfds data directory (--source=tfds).")
flags.DEFINE_string("tfds_split", "train", "tfds split (--source=tfds).")
FLAGS = flags.FLAGS

flags.register_validator("image_size", lambda v: v >= 1, "--image_size must be a positive number of pixels.")
flags.register_validator("num_shards", lambda v: v >= 1, "--num_shards must be at least 1.")
flags.register_validator("num_workers", lambda v: v >= 1, "--num_workers must be at least 1.")
flags.register_validator("limit", lambda v: v >= 0, "--limit must be 0 (all) or a positive count.")


def _shard_paths(output, num_shards):
    if num_shards == 1:
        return [output]
    return ["%s-%05d-of-%05d" % (output, i, num_shards) for i in range(num_shards)]


class _TextProgress:
    """A minimal progress line when tqdm is not installed."""

    def __init__(self, total):
        self.total, self.count, self.last = total, 0, 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        print("%d/%d images" % (self.count, self.total), flush=True)

    def update(self, n):
        import time

        self.count += n
        if time.time() - self.last > 10:
            self.last = time.time()
            print("%d/%d images" % (self.count, self.total), flush=True)


def _progress_bar(total):
    try:
        from tqdm import tqdm
    except ImportError:
        return _TextProgress(total)
    return tqdm(total=total, unit="image", mininterval=2.0)


def main(argv):
    del argv
    from improved_gan_tf2.startup import quiet_tensorflow

    quiet_tensorflow()  # TensorFlow's C++ start-up log is not for the people running the script
    import tensorflow as tf

    from improved_gan_tf2.data import imagenet as data
    from improved_gan_tf2.data.errors import DataFormatError, DataNotFoundError

    try:
        if FLAGS.source == "folders":
            if not FLAGS.data_dir:
                raise DataNotFoundError("--data_dir is required with --source=folders (the folder of n*/ class "
                                        "folders), or use --source=tfds.")
            files, class_index = data.list_class_folders(FLAGS.data_dir, FLAGS.folder_pattern)
            if len(class_index) != 1000:
                print("note: %d class folders (ImageNet has 1000); labels are 0..%d"
                      % (len(class_index), len(class_index) - 1))
            if FLAGS.shuffle:
                random.Random(FLAGS.seed).shuffle(files)
            if FLAGS.limit:
                files = files[:FLAGS.limit]
            total = len(files)
            labels = [label for _, label in files]
            preprocess = partial(data.load_and_preprocess, size=FLAGS.image_size)
            if FLAGS.num_workers > 1:
                pool = multiprocessing.get_context("spawn").Pool(FLAGS.num_workers)
                images = pool.imap(preprocess, [path for path, _ in files], chunksize=32)
            else:
                pool = None
                images = map(preprocess, [path for path, _ in files])
            examples = zip(images, labels)
        else:
            if FLAGS.shuffle:
                print("note: --source=tfds keeps tfds's own (already shuffled) record order")
            builder = data.tfds_imagenet_builder(FLAGS.tfds_data_dir)
            total = builder.info.splits[FLAGS.tfds_split].num_examples
            if FLAGS.limit:
                total = min(total, FLAGS.limit)
            pool = None
            examples = ((data.original_preprocess(image, FLAGS.image_size), label)
                        for image, label in data.tfds_examples(FLAGS.tfds_data_dir, FLAGS.tfds_split))

        paths = _shard_paths(FLAGS.output, FLAGS.num_shards)
        for path in paths:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        writers = [tf.io.TFRecordWriter(path) for path in paths]
        count = 0
        with _progress_bar(total) as progress:
            for image, label in examples:
                if count >= total:
                    break
                writers[count % len(writers)].write(data.encode_example(image, label))
                count += 1
                progress.update(1)
        for writer in writers:
            writer.close()
        if pool is not None:
            pool.close()
            pool.join()
    except DataNotFoundError:
        raise
    except OSError as exc:  # an unreadable image file
        raise DataFormatError(getattr(exc, "filename", None), exc.strerror or str(exc)) from None
    print("wrote %d images of %dx%dx3 to %s" % (count, FLAGS.image_size, FLAGS.image_size, ", ".join(paths)))


if __name__ == "__main__":
    from improved_gan_tf2 import cli

    cli.run(main, error_prefix="convert_imagenet_to_records.py: ")
