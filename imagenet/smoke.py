"""One-command smoke run of the ImageNet pipeline on generated images (a minute or two on a CPU).

    python imagenet/smoke.py --workdir=/tmp/imagenet_smoke

1. draws a tiny ImageNet-like tree (3 class folders n0000000k/ of JPEGs of several sizes, one of them grey);
2. converts it with convert_imagenet_to_records.py to a 32x32 TFRecord file;
3. trains a tiny-width model on it with train_imagenet.py for --steps steps (log lines, sample grids,
   TensorBoard, a checkpoint on exit), then again for 5 more steps to show the resume;
4. writes test.png from the checkpoint with --nois_train;
and lists what it wrote. Each step runs the real script as a subprocess, with the flags printed.
"""
import os
import subprocess
import sys

import numpy as np
from absl import flags

flags.DEFINE_string("workdir", "/tmp/imagenet_smoke", "Where the images, records, checkpoints and samples go.")
flags.DEFINE_integer("steps", 20, "Training steps of the first run.")
FLAGS = flags.FLAGS
flags.register_validator("steps", lambda v: v >= 1, "--steps must be at least 1.")

HERE = os.path.dirname(os.path.abspath(__file__))
TINY_MODEL = ["--image_width=32", "--image_size=32", "--batch_size=4", "--gf_dim=4", "--df_dim=4", "--z_dim=32",
              "--num_classes=3", "--minibatch_kernels=5", "--minibatch_kernel_dim=3"]


def make_images(root, per_class=8, seed=0):
    """Class folders of generated JPEGs: a colour gradient with a class-dependent disc, various sizes."""
    from PIL import Image

    rng = np.random.RandomState(seed)
    sizes = [(48, 64), (64, 48), (40, 40), (57, 71)]
    for label in range(3):
        folder = os.path.join(root, "n%08d" % (label + 1))
        os.makedirs(folder, exist_ok=True)
        for k in range(per_class):
            h, w = sizes[k % len(sizes)]
            yy, xx = np.mgrid[0:h, 0:w]
            image = np.zeros((h, w, 3))
            image[..., 0] = 255 * xx / w
            image[..., 1] = 255 * yy / h
            image[..., 2] = 80 * label
            cy, cx, r = rng.randint(h // 4, 3 * h // 4), rng.randint(w // 4, 3 * w // 4), min(h, w) // 4
            image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = [255 * (label == 0), 255 * (label == 1), 255]
            pil = Image.fromarray(image.astype(np.uint8))
            if label == 2 and k == 0:
                pil = pil.convert("L")
            pil.save(os.path.join(folder, "img_%d.JPEG" % k), quality=95)


def run(script, args):
    command = [sys.executable, os.path.join(HERE, script)] + args
    print("\n$ " + " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)


def main(argv):
    del argv
    work = os.path.abspath(FLAGS.workdir)
    images, records = os.path.join(work, "images"), os.path.join(work, "smoke_32.tfrecords")
    make_images(images)
    run("convert_imagenet_to_records.py",
        ["--data_dir=" + images, "--output=" + records, "--image_size=32", "--num_workers=1"])
    train = ["--dataset=" + records, "--checkpoint_dir=" + os.path.join(work, "checkpoint"),
             "--sample_dir=" + os.path.join(work, "samples"), "--tensorboard_dir=" + os.path.join(work, "logs"),
             "--print_every_secs=0", "--sample_every_secs=300"] + TINY_MODEL
    run("train_imagenet.py", train + ["--max_steps=%d" % FLAGS.steps])
    run("train_imagenet.py", train + ["--max_steps=%d" % (FLAGS.steps + 5)])
    run("train_imagenet.py", train + ["--nois_train"])
    print("\nwrote:")
    for folder, _, names in sorted(os.walk(work)):
        if folder.startswith(images):
            continue
        for name in sorted(names):
            path = os.path.join(folder, name)
            print("  %s (%d bytes)" % (os.path.relpath(path, work), os.path.getsize(path)))
    print("  images/: %d generated JPEGs in 3 class folders" % sum(len(f) for _, _, f in os.walk(images)))


if __name__ == "__main__":
    from improved_gan_tf2 import cli

    cli.run(main)
