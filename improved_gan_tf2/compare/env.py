"""The original's environment: its own virtual environment (Theano 1.0.5, Lasagne master, NumPy < 1.24) and the
patched copy of its scripts, both under one directory (``--env_dir``)::

    ENV_DIR/venv/          python -m venv; numpy<1.24, scipy<1.11, theano==1.0.5, six, matplotlib<3.8, Lasagne
    ENV_DIR/scripts/       the patched copy of mnist_svhn_cifar10/ plus the drop-in modules
    ENV_DIR/theano/        Theano's compile cache (base_compiledir), private to this environment

Theano runs with ``blas.ldflags=`` (NumPy's C-API BLAS fallback: no BLAS library needed) and ``floatX=float32``;
``THEANO_FLAGS`` set by the user are appended, so they win.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from improved_gan_tf2.compare.patcher import make_patched_copy
from improved_gan_tf2.compare.scripts import UsageError

DEFAULT_ENV_DIR = os.path.join("~", ".cache", "improved_gan_tf2", "original")
DEFAULT_LASAGNE = "https://github.com/Lasagne/Lasagne/archive/master.zip"
REQUIREMENTS = ("numpy<1.24", "scipy<1.11", "theano==1.0.5", "six", "matplotlib<3.8", "contourpy<1.2")


def env_dir(path=None):
    return os.path.abspath(os.path.expanduser(path or os.environ.get("IGAN_ORIGINAL_ENV") or DEFAULT_ENV_DIR))


def venv_python(root):
    return os.path.join(root, "venv", "bin", "python")


def scripts_dir(root):
    return os.path.join(root, "scripts")


def theano_env(root, base=None):
    env = dict(os.environ if base is None else base)
    flags = f"blas.ldflags=,floatX=float32,base_compiledir={os.path.join(root, 'theano')}"
    user = env.get("THEANO_FLAGS")
    env["THEANO_FLAGS"] = flags + ("," + user if user else "")
    env.pop("PYTHONPATH", None)  # the project's path must not leak into the original's interpreter
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _probe(python, root, code, log=None):
    """``python -c code`` in ``root``'s Theano environment (output captured as text). With ``log``: through
    :func:`_run` (the command logged, a failure raised)."""
    cmd = [python, "-c", code]
    if log is not None:
        return _run(cmd, log, env=theano_env(root), cwd=root)
    return subprocess.run(cmd, capture_output=True, text=True, env=theano_env(root), cwd=root)


def stream_process(cmd, on_line, failure, **popen_kwargs):
    """Run ``cmd`` (standard error merged into standard output, text) and give each output line to ``on_line`` as
    it arrives. Returns the lines; on a non-zero exit raises ``RuntimeError(failure(returncode, lines))``."""
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen_kwargs)
    lines = []
    for line in process.stdout:
        lines.append(line)
        on_line(line)
    if process.wait() != 0:
        raise RuntimeError(failure(process.returncode, lines))
    return lines


def setup_command(original_dir="DIR", root=None):
    return (f"python -m improved_gan_tf2.compare setup --original_dir={original_dir}"
            + (f" --env_dir={root}" if root else "") + " [--lasagne=PATH_OR_URL]")


def check_env(root, original_dir="DIR"):
    """Raise a :class:`UsageError` (with the setup command) unless ``root`` holds a working environment."""
    python = venv_python(root)
    hint = f"run: {setup_command(original_dir, root)}"
    if not os.path.isfile(python):
        raise UsageError(f"no environment of the original in {root} (no {python}); {hint}")
    if not os.path.isfile(os.path.join(scripts_dir(root), "nn.py")):
        raise UsageError(f"no patched copy of the original's scripts in {scripts_dir(root)}; {hint}")
    probe = _probe(python, root, "import theano, lasagne")
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        raise UsageError(f"the environment {root} cannot import Theano and Lasagne ({last}); {hint}")
    return python


def _run(cmd, log, **kwargs):
    log("$ " + " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise UsageError(f"command failed ({' '.join(cmd[:4])} ...): {tail}")
    return result


def _lasagne_source(spec, workdir, log):
    """A pip-installable form of ``spec``: a source tree, a bare or normal git directory (archived), or a URL."""
    if "://" in spec or spec.startswith("git+"):
        return spec
    path = os.path.abspath(os.path.expanduser(spec))
    if os.path.isfile(os.path.join(path, "setup.py")):
        return path
    git_dir = path if os.path.isfile(os.path.join(path, "HEAD")) else os.path.join(path, ".git")
    if os.path.isfile(os.path.join(git_dir, "HEAD")):
        tree = os.path.join(workdir, "lasagne")
        os.makedirs(tree)
        archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", "HEAD"], capture_output=True)
        if archive.returncode != 0:
            raise UsageError(f"--lasagne={spec}: git archive failed: {archive.stderr.decode(errors='replace').strip()}")
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        log(f"Lasagne source tree from {git_dir} (git archive HEAD)")
        return tree
    raise UsageError(f"--lasagne={spec} is neither a Lasagne source tree (setup.py), a git directory nor a URL")


def setup(original_dir, root=None, lasagne=None, python=None, log=print):
    """Build ``root``'s venv (skipped when it already imports Theano and Lasagne) and the patched copy."""
    root = env_dir(root)
    os.makedirs(root, exist_ok=True)
    make_patched_copy(original_dir, scripts_dir(root), log=log)  # checks the checkout first
    python_exe = venv_python(root)
    ready = os.path.isfile(python_exe) and _probe(python_exe, root,
                                                  "import theano, lasagne, matplotlib, six").returncode == 0
    if ready:
        log(f"environment {os.path.join(root, 'venv')} already imports Theano and Lasagne; kept")
    else:
        base = python or getattr(sys, "_base_executable", None) or shutil.which("python3")
        _run([base, "-m", "venv", os.path.join(root, "venv")], log)
        pip = [python_exe, "-m", "pip", "install", "--quiet"]
        _run(pip + list(REQUIREMENTS), log)
        with tempfile.TemporaryDirectory() as work:
            _run(pip + ["--no-deps", _lasagne_source(lasagne or DEFAULT_LASAGNE, work, log)], log)
    versions = _probe(python_exe, root, "import numpy, theano, lasagne; print('numpy', numpy.__version__, "
                      "'theano', theano.__version__, 'lasagne', lasagne.__version__)", log).stdout.strip()
    log(f"original environment ready in {root}: {versions}")
    log(f"THEANO_FLAGS={theano_env(root)['THEANO_FLAGS']}")
    return root
