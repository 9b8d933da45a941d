"""The speed benchmarks that ``docs/speed.md`` shows run and print what it says they print (with tiny settings:
this checks the scripts, not the speed; no timing is asserted). Slow: each builds and traces a training step."""
import os
import re

import pytest

from helpers import run_script

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
NUMBER = r"[0-9.]+"

pytestmark = pytest.mark.slow


def _last_line(script, *args):
    result = run_script(os.path.join(BENCHMARKS, script), *args, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("cpu: ") for line in lines), result.stdout  # what measured, for the figures
    return lines[-1], result.stdout


def test_mnist_step_prints_the_overhead_ratio():
    last, out = _last_line("mnist_step.py", "--steps=1", "--rounds=1", "--ratio_rounds=2", "--nojit",
                           "--matmul_size=256")
    assert re.fullmatch(rf"steps_per_sec={NUMBER} achieved_over_matmul={NUMBER} overhead_ratio={NUMBER}", last)
    assert "step / products alone" in out


def test_mnist_step_breakdown_prints_every_variant():
    last, out = _last_line("mnist_step_breakdown.py", "--variants=full,autodiff_norm+per_parameter_updates+norm_per_pass,no_norm",
                           "--steps=1", "--rounds=2")
    for variant in ("full", "autodiff_norm+per_parameter_updates+norm_per_pass", "no_norm", "products alone"):
        assert f"| {variant} |" in out
    assert re.fullmatch(rf"full_over_products={NUMBER}", last)


@pytest.mark.parametrize("model", ["mnist", "cifar"])
def test_step_profile_names_the_largest_other_ops(model):
    last, out = _last_line("step_profile.py", f"--model={model}", "--steps=2", "--width_scale=0.0625")
    assert re.fullmatch(rf"products_share={NUMBER} top_other=\S+", last)
    assert len(re.findall(r"^\| [^|]+ \| " + NUMBER, out, re.M)) == 10  # the ten largest other op types


def test_cifar_step_prints_its_rate():
    last, _ = _last_line("cifar_step.py", "--width_scale=0.0625", "--steps=1", "--repeats=1", "--matmul_size=256")
    assert re.fullmatch(rf"steps_per_sec={NUMBER} achieved_over_matmul={NUMBER}", last)


def test_gaussian_noise_times_every_sampler():
    last, out = _last_line("gaussian_noise.py", "--rounds=1", "--repeats=1")
    for sampler in ("improved_gan_tf2.layers.GaussianNoise", "Box-Muller, one draw", "uniform, one draw"):
        assert re.search(rf"^\| {re.escape(sampler)} \| {NUMBER} \| {NUMBER} \| {NUMBER} \|$", out, re.M), out
    assert last.startswith("| uniform, one draw |")
