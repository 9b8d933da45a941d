"""Sample grids, as ``mnist_svhn_cifar10/plotting.py`` lays them out, written as PNG files with Pillow."""
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


def save_png(path, image, value_range=(0.0, 1.0)):
    """Write ``image`` (``h x w`` or ``h x w x 3``, values in ``value_range``) atomically as an 8-bit PNG."""
    low, high = value_range
    pixels = np.clip((np.asarray(image, np.float64) - low) / (high - low), 0.0, 1.0)
    pixels = np.round(pixels * 255).astype(np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    Image.fromarray(pixels).save(temporary, format="PNG")
    os.replace(temporary, path)
