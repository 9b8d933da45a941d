"""The README's figures of the main command name the CPU that printed them (runs are deterministic on one machine,
not across CPUs), and, on a CPU the README names, the main command prints them again (``-m slow``: 100 epochs)."""
import json
import os
import re

import pytest

from helpers import FEATURE_MATCHING, ROOT, history, run_script

EPOCHS = (0, 25, 50, 75, 99)


def main_command_figures():
    """``{CPU cell: [test errors at EPOCHS]}`` of the README's table of the main command's figures."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    rows = re.findall(r"^\| ([^|]+) \| ([^|]+) \| (\d\.\d{3}(?: / \d\.\d{3}){4}) \|", readme, re.M)
    return {cpu.strip(): [float(v) for v in figures.split(" / ")] for cpu, _, figures in rows}


def test_the_main_commands_figures_name_their_cpus():
    figures = main_command_figures()
    assert len(figures) >= 2, figures  # the same command on two CPUs, two trajectories
    assert any("AMD EPYC" in cpu for cpu in figures) and any("Intel Xeon" in cpu for cpu in figures), figures
    assert len({tuple(v) for v in figures.values()}) == len(figures)


@pytest.mark.slow
def test_the_main_command_prints_the_readmes_figures_for_this_cpu(tmp_path):
    from improved_gan_tf2 import environment

    cpu = environment.cpu_model()
    matching = [v for name, v in main_command_figures().items() if f'"{cpu}"' in name]
    if not matching:
        pytest.skip(f"the README gives no figures for this CPU ({cpu})")
    out_dir = str(tmp_path / "run")
    result = run_script(FEATURE_MATCHING, "--dataset=mnist_sample", "--epochs=100", f"--out_dir={out_dir}",
                        timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {int(row["epoch"]): float(row["val_test_err"]) for row in history(out_dir)}
    assert [round(rows[e], 3) for e in EPOCHS] == matching[0]
    assert json.load(open(os.path.join(out_dir, "summary.json")))["environment"]["cpu"] == cpu


def test_the_test_suites_time_is_stated_once_with_its_machine_and_under_its_budget():
    """tests/README.md: one measured time of the default suite (with the CPU it was measured on) and one budget,
    the time within the budget (it said both "a few minutes" and "about 10 minutes")."""
    text = " ".join(open(os.path.join(ROOT, "tests", "README.md"), encoding="utf-8").read().split())
    measured = re.findall(r"the default suite takes (\d+) minutes", text)
    budget = re.findall(r"budget of (\d+) minutes", text)
    assert len(measured) == 1 and len(budget) == 1, (measured, budget)
    assert int(measured[0]) <= int(budget[0])
    assert "a few minutes" not in text and "Intel Xeon" in text
