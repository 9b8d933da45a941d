"""One table over several runs, in the shape of the paper's Tables 1-3, and their learning curves.

    python -m improved_gan_tf2.report RUN_DIR... [--out=DIR]    # default DIR: report_<run>+<run> beside the runs

A row per run: the flags that differ between the runs, the epochs done, the wall time, the test error of the
averaged and of the raw parameters (from ``evaluation.json`` when the run was evaluated, else from
``summary.json`` or the last row of ``history.csv``), the Inception score ± std and the FID (from
``evaluation.json``). When the runs differ only by their seeds, a last row gives the mean ± std over them, as the
paper reports its seeds. Markdown on stdout and in ``DIR/report.md``, CSV in ``DIR/report.csv``; PNG plots in
DIR from each ``history.csv``: the test error (averaged parameters solid, raw dashed) and the losses against the
epoch, all runs in one figure, the legend naming what differs.
"""
import csv
import json
import os
import sys

import numpy as np

from improved_gan_tf2 import cli, run_files  # neither imports TensorFlow: the report needs none

#: Flags that say where or how a run ran, not what it trained: never a column.
NOT_COMPARED = frozenset({"out_dir", "data_dir", "jit_compile", "checkpoint_dir", "sample_dir",
                          "tensorboard_dir", "tfds_data_dir"})
SEED_FLAGS = ("seed", "seed_data")
LOSSES = ("loss_lab", "loss_unl", "loss_gen")


#: What to do about a damaged file of a run, by its name: how the report can be had again.
FIXES = {
    "flags.json": run_files.FLAGS_FIX,
    "summary.json": "run the training command again (a finished run rewrites summary.json) or move it aside",
    "evaluation.json": "run python -m improved_gan_tf2.evaluate on the run again (it rewrites evaluation.json) or "
                       "move it aside",
    "history.csv": "move it aside to report the run without its learning curves, or resume the run (it drops a "
                   "last row cut short)",
    "epoch_times.csv": "move it aside to report the run without its wall time, or resume the run (it drops a last "
                       "row cut short)",
}


def _read_json(run_dir, name, what):
    return run_files.read_json(os.path.join(run_dir, name), what, FIXES[name])


def _read_log(run_dir, name):
    """The per-epoch log ``name`` of ``run_dir`` (None when there is none); a row cut short is an error here (only a
    resumed run can tell a row of an unsaved epoch)."""
    path = os.path.join(run_dir, name)
    log = run_files.read_epoch_log(path, FIXES[name])
    if log is not None and log.torn is not None:
        raise run_files.damaged(path, f"line {log.torn_line}, {log.torn[:40]!r}, is cut short", FIXES[name])
    return log


def read_history(run_dir):
    """``history.csv`` as a dict of float columns (empty when there is none)."""
    log = _read_log(run_dir, "history.csv")
    if log is None:
        return {}
    return {name: log.column(name) for name in log.header} if log.rows else {}


def read_run(run_dir):
    """What the report needs of one run directory."""
    flags = _read_json(run_dir, "flags.json", "the run's flags")
    cli.require(flags is not None, run_files.not_a_run_directory(run_dir))
    summary = _read_json(run_dir, "summary.json", "the run's summary") or {}
    evaluation = _read_json(run_dir, "evaluation.json", "the run's evaluation") or {}
    history = read_history(run_dir)
    epochs = summary.get("epochs_completed", len(history.get("epoch", [])))
    row = {"run": os.path.basename(os.path.normpath(run_dir)), "path": os.path.abspath(run_dir), "flags": flags,
           "epochs": epochs, "history": history}
    for key in ("test_err", "test_err_raw"):
        value = evaluation.get(key, summary.get(key))
        if value is None and history.get(f"val_{key}"):
            value = history[f"val_{key}"][-1]
        row[key] = value
    row["inception_score"] = evaluation.get("inception_score")
    row["inception_score_std"] = evaluation.get("inception_score_std")
    row["fid"] = evaluation.get("fid")
    row["seconds"] = read_wall_time(run_dir)
    return row


def read_wall_time(run_dir):
    """Seconds of training and testing over all epochs (``epoch_times.csv``; where a resumed run repeated an
    epoch, its last row), or None when not recorded."""
    log = _read_log(run_dir, "epoch_times.csv")
    if log is None or "seconds" not in log.header:
        return None
    seconds = dict(zip((epoch for _, epoch, _, _ in log.rows), log.column("seconds")))
    return float(sum(seconds.values()))


def differing_flags(runs):
    """The flags whose values differ between the runs (in name order), those that say where a run ran left out."""
    names = sorted(set().union(*(r["flags"] for r in runs)) - NOT_COMPARED)
    return [n for n in names if len({json.dumps(r["flags"].get(n), sort_keys=True) for r in runs}) > 1]


def _format(value, digits=4):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _duration(seconds):
    if seconds is None:
        return "–"
    minutes, second = divmod(int(round(seconds)), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}h{minute:02d}m" if hours else f"{minute}m{second:02d}s"


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def table(runs):
    """``(header, rows)`` of the report, the seeds' mean ± std row last when the runs differ only by seed."""
    differ = differing_flags(runs)
    header = ["run"] + differ + ["epochs done", "wall time", "test err (averaged)", "test err (raw)", "IS", "FID"]
    rows = []
    for run in runs:
        score = run["inception_score"]
        inception = "–" if score is None else f"{score:.2f} ± {run['inception_score_std']:.2f}"
        rows.append([run["run"]] + [_format(run["flags"].get(n)) for n in differ] + [
            str(run["epochs"]), _duration(run["seconds"]), _format(run["test_err"]), _format(run["test_err_raw"]),
            inception, _format(run["fid"], 2)])
    if len(runs) > 1 and differ and set(differ) <= set(SEED_FLAGS):
        rows.append([f"mean ± std over {len(runs)} seeds"] + ["" for _ in differ] + [
            "", "", _mean_std([r["test_err"] for r in runs]), _mean_std([r["test_err_raw"] for r in runs]),
            _mean_std([r["inception_score"] for r in runs]), _mean_std([r["fid"] for r in runs])])
    return header, rows


def markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def legend(run, differ):
    """The run's name and the values of the flags that differ."""
    values = ", ".join(f"{n}={run['flags'].get(n)}" for n in differ)
    return f"{run['run']} ({values})" if values else run["run"]


def plot(runs, out_dir):
    """``test_error.png`` and ``losses.png`` from the runs' histories; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    differ = differing_flags(runs)
    paths = []
    figure, axis = plt.subplots(figsize=(8, 5), dpi=100)
    for index, run in enumerate(runs):
        history, color = run["history"], f"C{index % 10}"
        if history.get("val_test_err"):
            axis.plot(history["epoch"], history["val_test_err"], color=color, label=legend(run, differ))
        if history.get("val_test_err_raw"):
            axis.plot(history["epoch"], history["val_test_err_raw"], color=color, linestyle="--")
    axis.set_xlabel("epoch")
    axis.set_ylabel("test error (solid: averaged parameters, dashed: raw)")
    axis.grid(alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=8)
    figure.tight_layout()
    paths.append(_save(figure, os.path.join(out_dir, "test_error.png")))
    plt.close(figure)

    figure, axes = plt.subplots(1, len(LOSSES), figsize=(12, 4), dpi=100)
    for axis, name in zip(axes, LOSSES):
        for index, run in enumerate(runs):
            if run["history"].get(name):
                axis.plot(run["history"]["epoch"], run["history"][name], color=f"C{index % 10}",
                          label=legend(run, differ))
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    labelled = [axis for axis in axes if axis.get_legend_handles_labels()[0]]
    if labelled:
        labelled[0].legend(fontsize=7)
    figure.tight_layout()
    paths.append(_save(figure, os.path.join(out_dir, "losses.png")))
    plt.close(figure)
    return paths


def _save(figure, path):
    temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp.png")
    figure.savefig(temporary)
    os.replace(temporary, path)
    return path


def default_out_dir(run_dirs):
    """Where the report goes without ``--out``: ``report_<run>+<run>`` (up to three names, else
    ``report_<first>_and_<n>_more``) beside the runs when they share a parent directory, else in the current one."""
    paths = [os.path.abspath(d) for d in run_dirs]
    names = [os.path.basename(os.path.normpath(p)) for p in paths]
    label = "+".join(names) if len(names) <= 3 else f"{names[0]}_and_{len(names) - 1}_more"
    parents = {os.path.dirname(os.path.normpath(p)) for p in paths}
    return os.path.join(parents.pop() if len(parents) == 1 else os.getcwd(), "report_" + label)


def report(run_dirs, out_dir=None):
    """Write the report of ``run_dirs`` to ``out_dir`` (default: :func:`default_out_dir`); returns the Markdown
    table. Runs without a history (no epoch finished) are named on stderr and left out; if none is left, the
    input is refused (``cli.InputError``)."""
    cli.require(run_dirs, "give one or more run directories: python -m improved_gan_tf2.report RUN_DIR...")
    read = [read_run(d) for d in run_dirs]
    runs = [run for run in read if run["history"].get("epoch")]
    without = [run["path"] for run in read if not run["history"].get("epoch")]
    cli.require(runs, f"no history.csv rows in {', '.join(without)}: no epoch of these runs has finished; run the "
                f"training script until one does (or restore history.csv from a copy), then report again.")
    if without:
        print(f"note: left out {', '.join(without)}: no history.csv rows (no epoch finished).", file=sys.stderr)
    out_dir = out_dir or default_out_dir(run_dirs)
    os.makedirs(out_dir, exist_ok=True)
    header, rows = table(runs)
    text = markdown(header, rows)
    with open(os.path.join(out_dir, "report.md.tmp"), "w") as stream:
        stream.write(text)
    os.replace(os.path.join(out_dir, "report.md.tmp"), os.path.join(out_dir, "report.md"))
    with open(os.path.join(out_dir, "report.csv.tmp"), "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(os.path.join(out_dir, "report.csv.tmp"), os.path.join(out_dir, "report.csv"))
    plots = plot(runs, out_dir)
    print(text)
    print(f"wrote the report to {out_dir}: " + ", ".join(
        os.path.basename(p) for p in [os.path.join(out_dir, "report.md"), os.path.join(out_dir, "report.csv")] + plots))
    return text


if __name__ == "__main__":
    from absl import flags

    flags.DEFINE_string("out", None, "Directory of report.md, report.csv and the plots (default: report_<run>+<run>, "
                        "beside the runs when they share a parent directory, else in the current one).")
    cli.run(lambda argv: report(argv[1:], flags.FLAGS.out) and None, positional=True)
