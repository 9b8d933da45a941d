"""The software and hardware a run or a measurement ran on: Python, TensorFlow, Keras and NumPy versions, the CPU
model and the devices TensorFlow sees. Written into ``summary.json`` and export manifests, so that two runs whose
numbers differ can be told apart by what computed them (CPU kernels round differently, and GAN training amplifies
the differences)."""
import os
import platform
import sys


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`), or ``"unknown"``."""
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


#: The instruction-set extensions that change which CPU kernels TensorFlow/oneDNN run (and so their rounding).
SIMD_FEATURES = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile")


def cpu_features():
    """Which of :data:`SIMD_FEATURES` the CPU reports (``/proc/cpuinfo`` flags), or ``None`` where unknown."""
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.lower().startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [f for f in SIMD_FEATURES if f in flags]
    except OSError:
        pass
    return None


def describe(devices=True):
    """A JSON-ready dict: ``python``, ``tensorflow``, ``keras``, ``numpy`` versions, ``platform``, ``cpu``,
    ``cpu_features``, ``cpu_count`` and (``devices=True``, which imports TensorFlow) ``devices``, the physical devices TensorFlow
    sees (e.g. ``["CPU:0"]``). Versions of packages that are not imported or not installed are ``None``."""
    import importlib.metadata

    def version(package, module):
        loaded = sys.modules.get(module)
        if loaded is not None and getattr(loaded, "__version__", None):
            return str(loaded.__version__)
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    info = {
        "python": platform.python_version(),
        "tensorflow": version("tensorflow", "tensorflow"),
        "keras": version("keras", "keras"),
        "numpy": version("numpy", "numpy"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_features": cpu_features(),
        "cpu_count": os.cpu_count(),
    }
    if devices:
        import tensorflow as tf

        info["devices"] = [f"{d.device_type}:{d.name.rsplit(':', 1)[-1]}" for d in tf.config.list_physical_devices()]
    return info
