"""Python 3 / current SciPy replacements for what the original scripts used from Python 2 era libraries.

Written for improved-gan-tf2's comparison tool; copied next to the patched copy of the original scripts.
"""
import numpy as np


def imsave(path, image):
    """``scipy.misc.imsave`` (removed in SciPy 1.2): the array stretched so its minimum is 0 and its maximum 255
    (``bytescale``), written as an 8-bit PNG."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    image = np.asarray(image, dtype=np.float64)
    low, high = image.min(), image.max()
    scaled = np.zeros(image.shape) if high == low else (image - low) / (high - low)
    pyplot.imsave(path, np.round(scaled * 255).astype(np.uint8))
