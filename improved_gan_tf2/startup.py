"""What a script does before anything imports TensorFlow: keep TensorFlow's C++ start-up log (``oneDNN custom
operations are on``, ``Could not find cuda drivers``, ``failed call to cuInit``, ...) away from the people who run
the scripts. Imports nothing heavy, so that it can run first.

:func:`quiet_tensorflow` sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless it is set (TensorFlow then logs nothing from C++
after its import) and imports TensorFlow with the process's standard error sent to a temporary file, because the
lines TensorFlow writes while it is imported ignore that setting; if the import fails, they are written out after
all. With ``TF_CPP_MIN_LOG_LEVEL`` set below 3, TensorFlow's log is left alone: ``TF_CPP_MIN_LOG_LEVEL=0 python
mnist_svhn_cifar/train_mnist_feature_matching.py ...`` shows all of it.
"""
import os
import sys
import tempfile

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"


def quiet_tensorflow():
    """Import TensorFlow (and Keras) without its C++ start-up log; see the module's docstring. Does nothing when
    TensorFlow is already imported or the user asked for its log."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault(LEVEL_VARIABLE, "3")
    try:
        quiet = int(os.environ[LEVEL_VARIABLE]) >= 3
    except ValueError:
        quiet = True
    if not quiet:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no file descriptor 2 (embedded interpreters)
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            os.write(2, capture.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
