"""Command line: ``python -m inception_score IMAGES [--splits 10] [--batch_size 100] [--fid OTHER]``.

IMAGES (and OTHER) is a ``.npy``/``.npz`` array of shape (N, H, W, 3) in 0..255 (NCHW arrays are transposed),
or a directory of PNG/JPEG files. Prints ``Inception score: M ± S`` (Salimans et al., 2016, Sec. 4) and, with
``--fid``, ``FID: F`` between IMAGES and OTHER (Heusel et al., 2017). The graph is found as
:func:`inception_score.graph.find_graph` says (``--model_dir``, ``$INCEPTION_DIR``, the cache directory). Bad
input (a path, a format, pixel values, a flag, a missing graph) is one line ``error: ...`` and exit status 2.
"""
import os
import sys

import numpy as np

from inception_score.arrays import ArrayKeyError, UnreadableArrayError, read_array_file

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


class CliError(Exception):
    """A user error reported as one line, without a traceback."""


def load_images(path, key=None):
    """Images of ``path``: an NHWC array from ``.npy``/``.npz`` (``key`` picks the array of a ``.npz`` holding
    several), or a list of HxWx3 uint8 arrays from a directory of PNG/JPEG files (sorted by name)."""
    if not os.path.exists(path):
        raise CliError("%s: no such file or directory" % path)
    if os.path.isdir(path):
        from PIL import Image

        names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS))
        if not names:
            raise CliError("%s: the directory holds no PNG or JPEG files" % path)
        images = []
        for name in names:
            try:
                with Image.open(os.path.join(path, name)) as im:
                    images.append(np.asarray(im.convert("RGB")))
            except OSError as e:
                raise CliError("%s: cannot read the image (%s)" % (os.path.join(path, name), e))
        return images
    if not path.lower().endswith((".npy", ".npz")):
        raise CliError("%s: expected a .npy or .npz file, or a directory of PNG/JPEG files" % path)
    try:
        array, _ = read_array_file(path, key)
    except ArrayKeyError as e:
        if e.key is not None:
            raise CliError("%s: no array named '%s' (it has: %s)" % (path, e.key, ", ".join(e.keys)))
        raise CliError("%s holds several arrays (%s): choose one with --key" % (path, ", ".join(e.keys)))
    except UnreadableArrayError as e:
        raise CliError("%s: cannot read the array: it %s" % (path, e.reason))
    if array.ndim == 4 and array.shape[1] == 3 and array.shape[-1] != 3:
        print("%s: shape %s looks like NCHW; transposing to NHWC" % (path, array.shape))
        array = array.transpose(0, 2, 3, 1)
    return array


def run(images_path, other_path=None, splits=10, batch_size=100, model_dir=None, key=None):
    """Print the Inception score of ``images_path`` and, with ``other_path``, the FID between the two. Every
    input (both image sets, ``--splits``, ``--batch_size``, ``--model_dir``, the graph) is checked before any
    image is scored."""
    from inception_score import model

    model.check_model_dir(model_dir)  # a mistyped --model_dir is reported first
    images = load_images(images_path, key)
    other = load_images(other_path, key) if other_path else None
    seq = model._check_images(images, images_path)
    if other is not None:
        other = model._check_images(other, other_path)
        model.check_fid_sets([(images_path, seq), (other_path, other)])
    if not 1 <= splits <= len(seq):
        raise ValueError("--splits must be between 1 and the number of images (%d), got %d" % (len(seq), splits))
    batch_size = model._check_batch_size(batch_size)
    model.load_inception(model_dir)  # a missing graph is reported before any work
    print("Scoring %d images from %s" % (len(seq), images_path))
    features, probs = model._run(seq, batch_size, model_dir, verbose=True)
    mean, std = model.inception_score_from_predictions(probs, splits)
    print("Inception score: %.4f ± %.4f" % (mean, std))
    if other is not None:
        print("Scoring %d images from %s" % (len(other), other_path))
        other_features, _ = model._run(other, batch_size, model_dir, verbose=True)
        if min(len(features), len(other_features)) < features.shape[1]:
            print("note: fewer images than features (%d): the covariances are singular and the FID is biased "
                  "upwards; Heusel et al. use at least 10,000 images" % features.shape[1])
        fid = model.frechet_distance(*model.feature_statistics(features),
                                     *model.feature_statistics(other_features))
        print("FID: %.4f" % fid)
    return mean, std


def main(argv):
    from absl import flags

    f = flags.FLAGS
    if len(argv) != 2:
        print("error: give one image set: python -m inception_score IMAGES [--splits 10] [--batch_size 100] "
              "[--fid OTHER] [--model_dir DIR] [--key NAME]", file=sys.stderr)
        return 2
    try:
        run(argv[1], f.fid, f.splits, f.batch_size, f.model_dir, f.key)
    except (CliError, ValueError, OSError) as e:  # bad path, format or values; missing graph
        print("error: %s" % " ".join(str(e).split()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from absl import app, flags

    parse_flags = None
    try:  # TensorFlow's C++ start-up log is not for the people running the command
        from improved_gan_tf2.cli import parse_flags
        from improved_gan_tf2.startup import quiet_tensorflow
    except ImportError:  # inception_score on its own
        pass
    else:
        quiet_tensorflow()

    flags.DEFINE_integer("splits", 10, "number of parts the score is averaged over (the original's splits)")
    flags.DEFINE_integer("batch_size", 100, "images per call of the network (changes speed only)")
    flags.DEFINE_string("fid", None, "second image set (same formats): also print the FID between the two")
    flags.DEFINE_string("model_dir", None, "directory holding classify_image_graph_def.pb or "
                        "inception-2015-12-05.tgz (else $INCEPTION_DIR, else the cache directory)")
    flags.DEFINE_string("key", None, "array name inside .npz files holding several arrays")
    # bad flags: one line and exit status 2, --help: 0 (on its own, absl's parsing: status 1)
    app.run(main, **({"flags_parser": parse_flags} if parse_flags else {}))
