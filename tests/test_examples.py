"""The layers' examples run as written: docs/layers.md's "Using the layers in your own model" shows
``examples/own_model.py`` verbatim, and this test runs that file in a new process from another directory; the
README's short example under "## Layers" runs too."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "own_model.py")


def _run_from(directory, script):
    """``python script`` in a new process started in ``directory``, with this checkout first on the path."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, script], cwd=directory, capture_output=True, text=True, env=env,
                          timeout=600)


def test_the_layers_page_shows_the_example_verbatim():
    page = open(os.path.join(ROOT, "docs", "layers.md"), encoding="utf-8").read()
    section = page[page.index("## Using the layers in your own model"):]
    assert "```python\n" + open(EXAMPLE, encoding="utf-8").read() + "```" in section


def test_the_readmes_layer_example_runs_as_written(tmp_path):
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme[readme.index("## Layers\n"):]
    section = section[:section.index("\n## ", 1)]
    examples = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(examples) == 1
    script = tmp_path / "layers_example.py"
    script.write_text(examples[0])
    result = _run_from(tmp_path, str(script))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "(4, 10)"


def test_the_example_runs_as_written(tmp_path):
    result = _run_from(tmp_path, EXAMPLE)
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = float(re.search(r"test accuracy: (\d\.\d+)", result.stdout).group(1))
    assert accuracy > 0.85, result.stdout  # 0.921 when measured
    assert "predictions of one image at a time, of a batch and of the loaded model agree" in result.stdout
