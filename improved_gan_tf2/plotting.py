"""Images: sample grids as the original scripts lay them out (``mnist_svhn_cifar10/plotting.py``, the SVHN
scripts' ``imsave``, ``imagenet/utils.py``), the grid each experiment writes, and PNG files written with Pillow."""
import os

import numpy as np
from PIL import Image


def stretch(images):
    """``img_stretch``: shift to 0 and divide by the maximum (plus 1e-12)."""
    images = np.asarray(images, np.float64)
    images = images - images.min()
    return images / (images.max() + 1e-12)


def tile_images(images, aspect_ratio=1.0, tile_shape=None, border=1, border_color=0.0, stretch_values=False):
    """``img_tile``: images ``(n, h, w)`` or ``(n, h, w, c)`` in a grid, row by row, ``border`` pixels apart.

    Without ``tile_shape`` the grid is about square (``aspect_ratio`` times the images' own).
    """
    images = stretch(images) if stretch_values else np.asarray(images, np.float64)
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (n, h, w) or (n, h, w, c), got {images.shape}.")
    count, height, width = images.shape[:3]
    if tile_shape is None:
        ratio = aspect_ratio * width / float(height)
        tile_shape = (int(np.ceil(np.sqrt(count * ratio))), int(np.ceil(np.sqrt(count / ratio))))
    rows, cols = tile_shape
    grid = np.full(((height + border) * rows - border, (width + border) * cols - border) + images.shape[3:],
                   border_color, np.float64)
    for index in range(min(count, rows * cols)):
        i, j = divmod(index, cols)
        y, x = (height + border) * i, (width + border) * j
        grid[y:y + height, x:x + width] = images[index]
    return grid


def column_major_grid(images, rows=10):
    """The SVHN scripts' layout: row ``i`` holds images ``i, i + rows, i + 2 rows, ...`` side by side."""
    images = np.asarray(images)
    return np.concatenate([np.concatenate(list(images[i::rows]), axis=1) for i in range(rows)], axis=0)


def to_pixels(values, value_range=(0.0, 1.0)):
    """``values`` in ``value_range`` as uint8 0..255: scaled to 0..1, clipped, times 255, rounded."""
    low, high = value_range
    return np.round(np.clip((np.asarray(values, np.float64) - low) / (high - low), 0.0, 1.0) * 255).astype(np.uint8)


def write_png(path, pixels):
    """Write uint8 ``pixels`` (``h x w`` or ``h x w x 3``) as a PNG through a temporary file and a rename, so
    that an interrupted write never leaves a truncated image; creates the directory. Returns ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    Image.fromarray(pixels).save(temporary, format="PNG")
    os.replace(temporary, path)
    return path


#: Sample grids are written at the smallest whole number of pixels per grid pixel that makes their longer side at
#: least this long (a 289x289 MNIST grid at 3x, 867x867), each pixel a crisp square (nearest neighbour).
GRID_MIN_SIDE = 600


def display_scale(shape, min_side=GRID_MIN_SIDE):
    """The whole-number upscale of an image of ``shape`` (``h, w, ...``) for :data:`GRID_MIN_SIDE`; 1 for an image
    already that large."""
    return max(1, -(-min_side // max(shape[:2])))


def upscale(pixels, scale):
    """``pixels`` (``h x w`` or ``h x w x c``) with every pixel repeated ``scale`` times along both axes."""
    return np.repeat(np.repeat(np.asarray(pixels), scale, axis=0), scale, axis=1)


def save_grid_png(path, grid, value_range=(0.0, 1.0)):
    """Write a sample grid (values in ``value_range``) atomically as an 8-bit PNG at :func:`display_scale` (crisp
    pixels). Returns ``path``."""
    pixels = to_pixels(grid, value_range)
    return write_png(path, upscale(pixels, display_scale(pixels.shape)))


def bytescale(data):
    """``scipy.misc.bytescale(data)``: a uint8 array is returned as is; any other is stretched from its own
    minimum and maximum to 0..255, ``(x - min) * 255 / (max - min)``, clipped, plus 0.5, truncated."""
    data = np.asarray(data)
    if data.dtype == np.uint8:
        return data
    cmin, cmax = data.min(), data.max()
    cscale = cmax - cmin
    if cscale == 0:
        cscale = 1
    scaled = (data - cmin) * (255.0 / cscale)
    return (scaled.clip(0, 255) + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------- each experiment's sample grid


def mnist_sample_grid(samples):
    """The MNIST scripts' grid (they wrote none; this one is new): the first 100 generated digits (values in
    [0, 1]) in 10 rows of 10."""
    return tile_images(np.asarray(samples)[:100].reshape(-1, 28, 28), tile_shape=(10, 10))


def cifar_sample_grid(samples):
    """The CIFAR scripts' grid: ``img_tile`` of the first 100 samples, stretched to [0, 1] as a whole,
    about square, 1-pixel white borders (the original then drew it with matplotlib under a title)."""
    return tile_images(np.asarray(samples)[:100], aspect_ratio=1.0, border_color=1.0, stretch_values=True)


def svhn_sample_grid(samples, rows=10):
    """The SVHN scripts' grid: the first 100 samples, sample ``k`` in row ``k % 10`` and column ``k // 10``, no
    borders, stretched to [0, 1] as a whole (``scipy.misc.imsave`` scaled the minimum to 0 and the maximum
    to 255). With fewer than 100 samples (the original needed 100) the columns are completed with blank images
    at the samples' minimum."""
    samples = np.asarray(samples, np.float64)[:rows * rows]
    missing = (-len(samples)) % rows
    if missing:
        samples = np.concatenate([samples, np.full((missing,) + samples.shape[1:], samples.min())])
    return stretch(column_major_grid(samples, rows=rows))


def merge_images(images, grid):
    """``imagenet/utils.py``'s ``merge``: images in [-1, 1] tiled row by row, without borders, into a
    ``grid = (rows, cols)`` image in [0, 1]."""
    return tile_images((np.asarray(images, dtype=np.float64) + 1.0) / 2.0, tile_shape=grid, border=0)


def save_image_grid(images, grid, path):
    """``imagenet/utils.py``'s ``save_images``: merge and write a PNG. Like ``scipy.misc.imsave`` on a float
    image, the grid's own minimum and maximum are stretched to 0 and 255; written atomically. Returns ``path``."""
    return write_png(path, bytescale(merge_images(images, grid)))
