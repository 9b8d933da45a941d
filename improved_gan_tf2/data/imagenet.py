"""ImageNet as the original ``imagenet/`` code stores and reads it (``convert_imagenet_to_records.py``,
``model.py``'s ``read_and_decode_with_labels``, ``build_model.py``'s input queue).

Records: one ``tf.train.Example`` per image with ``image_raw`` (the 128x128x3 uint8 pixels as raw bytes, row
major, RGB), ``label`` (int64, the index of the image's class folder among the sorted folder names), and
``height``, ``width``, ``depth``. The reader scales pixels to [-1, 1] with ``x * (2/255) - 1`` in float32.

Preprocessing (:func:`original_preprocess`) is ``utils.get_image(path, 128, is_crop=True, resize_w=128)`` then
``colorize`` and the conversion back to uint8, step by step as the original computes them:

1. read the file as float64 (``scipy.misc.imread``);
2. centre crop to the largest square, offsets rounded half away from zero (Python 2's ``round``);
3. ``scipy.misc.imresize`` to 128x128: the float image is first *stretched to its own minimum and maximum*
   (``bytescale``, what ``toimage`` does with a float array), then resized bilinearly by PIL;
4. ``/ 127.5 - 1``, grey images copied to three channels, ``+ 1``, ``* 255 / 2`` and truncated to uint8 (which
   turns some values ``v`` into ``v - 1`` through float rounding).

Also here: the ``tf.data`` pipelines (:func:`make_dataset` for TFRecords, :func:`make_tfds_dataset` for
TensorFlow Datasets' ``imagenet2012``, which needs the manual download) and :func:`distribute` to feed a
``tf.distribute`` strategy one per-replica batch per replica.
"""
from __future__ import annotations

import glob
import os

import numpy as np
import tensorflow as tf

from improved_gan_tf2.data.errors import DataFormatError, DataNotFoundError
from improved_gan_tf2.plotting import bytescale

IMAGE_SIZE = 128
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
TFDS_NAME = "imagenet2012"


# ---------------------------------------------------------------------- the original's preprocessing


def _round_half_away(x):
    return int(np.floor(x + 0.5)) if x >= 0 else -int(np.floor(-x + 0.5))


def original_center_crop(pixels):
    """``utils.center_crop``'s crop: the largest centred square, offsets ``round((h - side) / 2.)`` (Python 2)."""
    h, w = pixels.shape[:2]
    side = min(h, w)
    j = _round_half_away((h - side) / 2.0)
    i = _round_half_away((w - side) / 2.0)
    return pixels[j:j + side, i:i + side]


def original_resize(pixels, size):
    """``scipy.misc.imresize(pixels, [size, size])`` (bilinear): ``bytescale`` then PIL's bilinear resize."""
    from PIL import Image

    image = Image.fromarray(bytescale(pixels))
    return np.asarray(image.resize((size, size), resample=Image.BILINEAR))


def original_preprocess(pixels, size=IMAGE_SIZE):
    """``get_image`` + ``colorize`` + the uint8 conversion of ``convert_imagenet_to_records.py``.

    ``pixels``: H x W (grey) or H x W x 3, any dtype (the original read files as float64). Returns uint8
    ``size x size x 3``.
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ValueError(f"expected an H x W or H x W x 3 image, got shape {pixels.shape}")
    image = original_resize(original_center_crop(pixels), size) / 127.5 - 1.0
    if image.ndim == 2:
        image = np.stack([image, image, image], axis=2)
    image = image + 1.0
    image = image * (255.0 / 2.0)
    return image.astype(np.uint8)


def read_image_file(path):
    """The pixels of an image file as ``scipy.misc.imread`` gives them, as float64: H x W for grey images,
    H x W x 3 otherwise. Other modes (CMYK, palette, RGBA) are converted to RGB by PIL."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode in ("1", "L", "I", "I;16", "F"):
            pixels = np.asarray(image.convert("L") if image.mode == "1" else image)
        else:
            pixels = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    return pixels.astype(np.float64)


def load_and_preprocess(path, size=IMAGE_SIZE):
    """:func:`read_image_file` then :func:`original_preprocess`; uint8 ``size x size x 3``."""
    return original_preprocess(read_image_file(path), size)


def list_class_folders(root, folder_pattern="n*"):
    """``(files, class_index)`` of an ImageNet-style tree ``root/<class folder>/<image>``.

    ``class_index`` maps each folder name to its position among the sorted folder names (the original's
    ``str_to_int``, hence the standard ILSVRC-2012 label order for the ``n*`` synset folders). ``files`` are
    ``(path, label)`` pairs of the JPEG/PNG files, sorted.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise DataNotFoundError(f"{os.path.abspath(root)} is not a directory; pass the folder that holds the "
                                f"class folders ({folder_pattern}/*.JPEG), e.g. ILSVRC2012_img_train.")
    folders = sorted(d for d in glob.glob(os.path.join(root, folder_pattern)) if os.path.isdir(d))
    if not folders:
        raise DataNotFoundError(f"{os.path.abspath(root)} has no class folders matching {folder_pattern!r}; "
                                "expected root/<class folder>/<image>.JPEG.")
    class_index = {os.path.basename(d): i for i, d in enumerate(folders)}
    files = []
    for folder in folders:
        label = class_index[os.path.basename(folder)]
        for name in sorted(os.listdir(folder)):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                files.append((os.path.join(folder, name), label))
    if not files:
        raise DataNotFoundError(f"no .JPEG/.jpg/.png files in the class folders of {os.path.abspath(root)}.")
    return files, class_index


# ---------------------------------------------------------------------- records


def encode_example(image, label):
    """One serialized ``tf.train.Example`` in the original's format."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"expected a square H x W x 3 uint8 image, got {image.dtype} {image.shape}")

    def int64(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    feature = {
        "height": int64(image.shape[0]),
        "width": int64(image.shape[1]),
        "depth": int64(3),
        "image_raw": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
        "label": int64(label),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_records(path, images_and_labels):
    """Writes ``(uint8 image, label)`` pairs to one TFRecord file; returns the count."""
    count = 0
    with tf.io.TFRecordWriter(os.fspath(path)) as writer:
        for image, label in images_and_labels:
            writer.write(encode_example(image, label))
            count += 1
    return count


def parse_example(serialized, image_size=IMAGE_SIZE):
    """``read_and_decode_with_labels``: float32 image ``x * (2/255) - 1`` and int32 label."""
    features = tf.io.parse_single_example(
        serialized,
        {"image_raw": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)},
    )
    image = tf.io.decode_raw(features["image_raw"], tf.uint8)
    image = tf.reshape(image, [image_size, image_size, 3])
    image = tf.cast(image, tf.float32) * (2.0 / 255) - 1.0
    return image, tf.cast(features["label"], tf.int32)


def record_files(pattern):
    """Files matching a path, a glob or a comma-separated list of them; raises DataNotFoundError if none."""
    files = []
    for part in str(pattern).split(","):
        part = part.strip()
        if part:
            files.extend(sorted(glob.glob(part)) if any(c in part for c in "*?[") else
                         ([part] if os.path.isfile(part) else []))
    if not files:
        raise DataNotFoundError(
            f"No TFRecord file matches {pattern!r}. Make one with "
            "`python imagenet/convert_imagenet_to_records.py --data_dir=<train folder> --output=<file>` "
            "or pass --dataset=tfds:imagenet2012."
        )
    return files


def check_records(files, image_size=IMAGE_SIZE, num_classes=None):
    """Reads the first record of the first file and checks the original's fields, the image size and (with
    ``num_classes``) that its label is a class index."""
    try:
        first = next(iter(tf.data.TFRecordDataset(files[:1]).take(1)), None)
    except tf.errors.OpError as exc:
        raise DataFormatError(files[0], f"not a readable TFRecord file ({exc.message.splitlines()[0]})") from None
    if first is None:
        raise DataFormatError(files[0], "holds no records")
    example = tf.train.Example.FromString(first.numpy())
    feature = example.features.feature
    for key in ("image_raw", "label"):
        if key not in feature:
            raise DataFormatError(files[0], f"records lack the {key!r} feature",
                                  "records written by imagenet/convert_imagenet_to_records.py")
    raw = feature["image_raw"].bytes_list.value[0]
    if len(raw) != image_size * image_size * 3:
        side = int(round((len(raw) / 3) ** 0.5))
        raise DataFormatError(
            files[0], f"images are {len(raw)} bytes (about {side}x{side}x3), not {image_size}x{image_size}x3",
            f"--image_width={side} to train on them, or convert again with --image_size={image_size}",
        )
    labels = feature["label"].int64_list.value
    if num_classes is not None and not (len(labels) == 1 and 0 <= labels[0] < num_classes):
        raise DataFormatError(files[0], f"the first record's label is {list(labels)}",
                              f"one label 0..{num_classes - 1} per record (--num_classes={num_classes})")


def _shard(dataset, input_context):
    if input_context is not None and input_context.num_input_pipelines > 1:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return dataset


def make_dataset(pattern, batch_size, image_size=IMAGE_SIZE, shuffle_buffer=None, seed=None, input_context=None,
                 repeat=True):
    """Batches of ``(images in [-1, 1], int32 labels)`` from TFRecords, as ``build_model.py``'s queue.

    Files are read in a shuffled order, again every epoch, forever (``string_input_producer`` without an
    epoch limit); examples pass a shuffle buffer of ``1000 + 3 * batch_size`` (``shuffle_batch``'s capacity,
    ``min_after_dequeue=1000``) and form batches of exactly ``batch_size`` (one tower's batch). With an
    ``input_context`` (several workers) each input pipeline reads its share of the files, or of the records
    when there are fewer files than pipelines.
    """
    files = record_files(pattern)
    check_records(files, image_size)
    shuffle_buffer = 1000 + 3 * int(batch_size) if shuffle_buffer is None else int(shuffle_buffer)
    pipelines = input_context.num_input_pipelines if input_context is not None else 1
    if len(files) >= pipelines:
        file_ds = _shard(tf.data.Dataset.from_tensor_slices(files), input_context)
        file_ds = file_ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            file_ds = file_ds.repeat()
        records = file_ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=seed is not None)
    else:
        records = _shard(tf.data.TFRecordDataset(files), input_context)
        if repeat:
            records = records.repeat()
    records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = records.map(lambda s: parse_example(s, image_size), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(int(batch_size), drop_remainder=True).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------- TensorFlow Datasets


def tfds_imagenet_builder(data_dir=None):
    """The prepared tfds ``imagenet2012`` builder; DataNotFoundError with the steps to prepare it if absent.

    Nothing is downloaded: ImageNet needs a manual download (``ILSVRC2012_img_train.tar`` and
    ``ILSVRC2012_img_val.tar`` from image-net.org in ``<data_dir>/downloads/manual``), then
    ``tfds build imagenet2012 --data_dir=<data_dir>``.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:  # pragma: no cover - a dependency
        raise DataNotFoundError(f"tensorflow_datasets is not importable ({exc}); pip install tensorflow-datasets")
    builder = tfds.builder(TFDS_NAME, data_dir=data_dir)
    if not builder.is_prepared():
        where = data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")
        raise DataNotFoundError(
            f"tfds {TFDS_NAME} is not prepared in {where}. Put ILSVRC2012_img_train.tar and "
            f"ILSVRC2012_img_val.tar (from image-net.org) in {where}/downloads/manual and run "
            f"`tfds build {TFDS_NAME} --data_dir={where}`, or convert a class-folder tree to TFRecords with "
            "imagenet/convert_imagenet_to_records.py."
        )
    return builder


def tf_original_preprocess(image, size=IMAGE_SIZE):
    """:func:`original_preprocess` in TensorFlow for decoded uint8 images (the tfds stream).

    Same crop, stretch and uint8 round trip; the resize is TensorFlow's antialiased bilinear, close to but not
    bit-identical with PIL's. For the exact original pixels convert to TFRecords first
    (``convert_imagenet_to_records.py --source=tfds``).
    """
    image = tf.cast(image, tf.float64)
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)
    j = tf.cast(tf.floor(tf.cast(h - side, tf.float64) / 2.0 + 0.5), tf.int32)
    i = tf.cast(tf.floor(tf.cast(w - side, tf.float64) / 2.0 + 0.5), tf.int32)
    image = image[j:j + side, i:i + side]
    cmin, cmax = tf.reduce_min(image), tf.reduce_max(image)
    cscale = tf.where(cmax - cmin > 0, cmax - cmin, tf.ones_like(cmax))
    image = tf.floor(tf.clip_by_value((image - cmin) * (255.0 / cscale), 0.0, 255.0) + 0.5)
    image = tf.image.resize(image, [size, size], method="bilinear", antialias=True)
    image = tf.clip_by_value(tf.floor(tf.cast(image, tf.float64) + 0.5), 0.0, 255.0)
    image = ((image / 127.5 - 1.0) + 1.0) * (255.0 / 2.0)
    return tf.cast(tf.cast(image, tf.int32), tf.uint8)


def make_tfds_dataset(batch_size, image_size=IMAGE_SIZE, data_dir=None, split="train", shuffle_buffer=None,
                      seed=None, input_context=None, repeat=True):
    """Like :func:`make_dataset`, reading tfds ``imagenet2012`` (its labels are the sorted-synset indices,
    as the original's)."""
    import tensorflow_datasets as tfds

    builder = tfds_imagenet_builder(data_dir)
    read_config = tfds.ReadConfig(input_context=input_context, shuffle_seed=seed)
    dataset = builder.as_dataset(split=split, shuffle_files=True, read_config=read_config)
    if repeat:
        dataset = dataset.repeat()
    shuffle_buffer = 1000 + 3 * int(batch_size) if shuffle_buffer is None else int(shuffle_buffer)
    dataset = dataset.shuffle(shuffle_buffer, seed=seed)

    def convert(example):
        image = tf_original_preprocess(example["image"], image_size)
        return tf.cast(image, tf.float32) * (2.0 / 255) - 1.0, tf.cast(example["label"], tf.int32)

    dataset = dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(int(batch_size), drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def tfds_examples(data_dir=None, split="train"):
    """``(uint8 image, label)`` pairs of tfds ``imagenet2012`` as NumPy, for the converter."""
    import tensorflow_datasets as tfds

    builder = tfds_imagenet_builder(data_dir)
    for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
        yield example["image"], int(example["label"])


# ---------------------------------------------------------------------- distribution


def check_dataset(dataset, image_size=IMAGE_SIZE, data_dir=None, num_classes=None):
    """Raises DataNotFoundError / DataFormatError / ValueError, with the fix, unless ``dataset`` (a TFRecord
    path, glob or comma list, or ``tfds:imagenet2012``) can be read at ``image_size`` (and, with
    ``num_classes``, its first record's label is a class index)."""
    if str(dataset).startswith("tfds:"):
        if str(dataset)[5:] != TFDS_NAME:
            raise ValueError(f"only tfds:{TFDS_NAME} is supported, got {dataset!r}")
        tfds_imagenet_builder(data_dir)
    else:
        check_records(record_files(dataset), image_size, num_classes)


def distribute(strategy, per_replica_batch_size, dataset="imagenet_train_labeled_128.tfrecords",
               image_size=IMAGE_SIZE, seed=None, data_dir=None):
    """A ``tf.distribute`` dataset whose every replica gets batches of ``per_replica_batch_size`` (the
    original's per-tower ``batch_size``), from TFRecords (``dataset`` = path, glob or comma list) or from tfds
    (``dataset="tfds:imagenet2012"``). Each worker reads its own share of the input."""
    check_dataset(dataset, image_size, data_dir)  # fail early, in one line
    if str(dataset).startswith("tfds:"):
        def dataset_fn(context):
            return make_tfds_dataset(per_replica_batch_size, image_size, data_dir, seed=seed, input_context=context)
    else:
        def dataset_fn(context):
            return make_dataset(dataset, per_replica_batch_size, image_size, seed=seed, input_context=context)

    return strategy.distribute_datasets_from_function(dataset_fn)
