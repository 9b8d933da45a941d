"""Run mode: full training runs of the original (the patched script, in its own environment) and of this port
(the project's script in ``mnist_svhn_cifar/``) on the same data, for several seeds; a Markdown table and a plot
of test error against epoch.

Data: MNIST -- the shipped 5,000-digit sample, written as the original's ``mnist.npz`` (x_train + x_valid = the
sample's 4,000 training digits in order, x_test its 1,000 test digits) in ``OUT/data``, where the original script
reads it (its working directory); the port reads the same arrays with ``--dataset=mnist_sample``. CIFAR-10/SVHN:
a synthetic set written in the original's format and given to both sides with ``--data_dir`` (a smoke check of
the pipeline, not an experiment). Both sides run with ``--seed=S --seed_data=S`` and print the original's
per-epoch line, ``Iteration %d, time = %ds, loss_lab = ..., test err = ...``, which is parsed here.
Sides and seeds run one after another (never two at once), so that the seconds per epoch are comparable.
"""
import json
import os
import re
import sys
import time

from improved_gan_tf2.compare import env as original_env
from improved_gan_tf2.compare.scripts import SCRIPTS, UsageError

LINE = re.compile(r"^Iteration (\d+), time = (\d+)s, loss_lab = ([-\d.naif]+), loss_unl = ([-\d.naif]+), "
                  r"train err = ([-\d.naif]+), test err = ([-\d.naif]+)", re.M)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYNTHETIC_COUNT = 40  # labelled examples per class of the synthetic sets (100 images per class)
#: The scripts run mode trains: all but the custom-labels one (it needs a file of noisy labels), MNIST first.
RUN_MODE_SCRIPTS = tuple(sorted((name for name, script in SCRIPTS.items()
                                 if script.experiment.labelled_choice != "custom"),
                                key=lambda name: SCRIPTS[name].dataset != "mnist"))


def parse_epochs(text):
    """``[{epoch, seconds, loss_lab, loss_unl, train_err, test_err}]`` from the original's per-epoch lines."""
    return [{"epoch": int(m[0]), "seconds": int(m[1]), "loss_lab": float(m[2]), "loss_unl": float(m[3]),
             "train_err": float(m[4]), "test_err": float(m[5])} for m in LINE.findall(text)]


def parse_seeds(text):
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds must be a comma-separated list of integers, got {text!r}") from None
    if not seeds:
        raise UsageError("--seeds is empty")
    return seeds


def write_data(script, data_dir):
    os.makedirs(data_dir, exist_ok=True)
    if script.dataset == "mnist":
        from improved_gan_tf2.data.writers import write_mnist_npz
        from improved_gan_tf2.data import load_mnist

        data = load_mnist(dataset="mnist_sample")
        write_mnist_npz(os.path.join(data_dir, "mnist.npz"), data["x_train"], data["y_train"], data["x_test"],
                        data["y_test"], n_valid=len(data["x_train"]) // 5)
        return ["--dataset=mnist_sample"], "the shipped MNIST sample (4,000 train / 1,000 test), as mnist.npz"
    from improved_gan_tf2.data.writers import write_synthetic

    write_synthetic(script.dataset, data_dir, n_train=1000, n_test=200)
    dataset = "cifar10_batches" if script.dataset == "cifar10" else "svhn_mat"
    return [f"--dataset={dataset}", f"--data_dir={data_dir}"], (f"a synthetic {script.dataset} set (1,000 / 200, "
                                                               f"--count={SYNTHETIC_COUNT} on both sides)")


def _run_side(cmd, cwd, env, log_path, log):
    """Run one side, its output to ``log_path``; each per-epoch line is timestamped as it arrives, so that the
    seconds per epoch exclude start-up and compilation: ``(t(last line) - t(first line)) / (E - 1)``."""
    log("$ " + " ".join(cmd))
    env = dict(env, PYTHONUNBUFFERED="1")
    started = time.time()
    stamps = []
    with open(log_path, "w") as stream:
        def on_line(line):
            stream.write(line)
            stream.flush()
            if LINE.match(line):
                stamps.append(time.time())

        def failure(returncode, lines):
            tail = " | ".join("".join(lines).strip().splitlines()[-3:])
            return f"{cmd[1]} failed (exit {returncode}; log {log_path}): {tail}"

        lines = original_env.stream_process(cmd, on_line, failure, cwd=cwd, env=env)
    elapsed = time.time() - started
    epochs = parse_epochs("".join(lines))
    per_epoch = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else elapsed
    return epochs, elapsed, per_epoch


def _seed_data_flag(script, seed):
    """``--seed_data=S`` for the scripts that have the flag (all but train_cifar_minibatch_discrimination)."""
    return [f"--seed_data={seed}"] if "seed_data" in script.experiment.default_flags() else []


def run_run_mode(script, args, log=print):
    if script.name not in RUN_MODE_SCRIPTS:
        raise UsageError(f"run mode supports {', '.join(RUN_MODE_SCRIPTS)} (train_mnist_fm_custom_labels needs "
                         "a file of noisy labels)")
    seeds = parse_seeds(args.seeds)
    if args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if not sides or any(s not in ("original", "port") for s in sides):
        raise UsageError(f"--sides must name original and/or port, got {args.sides!r}")
    root = original_env.env_dir(args.env_dir)
    python = original_env.check_env(root, args.original_dir) if "original" in sides else None
    out = os.path.abspath(args.out_dir or os.path.join("runs", f"compare_{script.name}"))
    data_dir = os.path.join(out, "data")
    port_args, source = write_data(script, data_dir)
    log(f"run mode: {script.name}, seeds {seeds}, {args.epochs} epochs, data: {source}")
    results_path = os.path.join(out, "results.json")
    results = {}
    if os.path.exists(results_path):
        with open(results_path) as stream:
            results = json.load(stream)
    port_env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                    TF_CPP_MIN_LOG_LEVEL="3")
    for seed in seeds:
        for side in sides:
            key = f"{side}_seed{seed}"
            if key in results and len(results[key]["epochs"]) == args.epochs:
                log(f"{key}: done before ({results_path}), kept")
                continue
            log_path = os.path.join(out, f"{key}.log")
            if side == "original":
                cmd = [python, os.path.join(original_env.scripts_dir(root), script.file), f"--seed={seed}",
                       f"--epochs={args.epochs}"] + _seed_data_flag(script, seed)
                if script.dataset != "mnist":
                    cmd += [f"--data_dir={data_dir}", f"--count={SYNTHETIC_COUNT}"]
                epochs, elapsed, per_epoch = _run_side(cmd, data_dir, original_env.theano_env(root), log_path, log)
            else:
                cmd = [sys.executable, os.path.join(ROOT, "mnist_svhn_cifar", script.file), f"--seed={seed}",
                       f"--epochs={args.epochs}", f"--out_dir={os.path.join(out, key)}"] + port_args + (
                    [f"--count={SYNTHETIC_COUNT}"] if script.dataset != "mnist" else []) + _seed_data_flag(script, seed)
                epochs, elapsed, per_epoch = _run_side(cmd, out, port_env, log_path, log)
            if len(epochs) != args.epochs:
                raise RuntimeError(f"{key}: parsed {len(epochs)} epoch lines of {args.epochs} (log {log_path})")
            results[key] = {"epochs": epochs, "wall_seconds": elapsed, "seconds_per_epoch": per_epoch}
            log(f"{key}: final test err {epochs[-1]['test_err']:.4f}, {per_epoch:.2f} s/epoch "
                f"(wall {elapsed:.0f}s with start-up)")
            with open(results_path, "w") as stream:
                json.dump(results, stream)
    table = markdown_table(results, seeds, sides)
    with open(os.path.join(out, "table.md"), "w") as stream:
        stream.write(table + "\n")
    plot_path = os.path.join(out, "test_error.png")
    plot(results, seeds, sides, plot_path, script.name)
    log(table)
    log(f"table: {os.path.join(out, 'table.md')}; plot: {plot_path}")
    return 0


def markdown_table(results, seeds, sides):
    header = "| seed | " + " | ".join(f"{s}: final test err | {s}: s/epoch" for s in sides) + " |"
    lines = [header, "|" + " --- |" * (1 + 2 * len(sides))]
    finals = {s: [] for s in sides}
    for seed in seeds:
        cells = []
        for side in sides:
            r = results.get(f"{side}_seed{seed}")
            if r is None:
                cells += ["-", "-"]
                continue
            finals[side].append(r["epochs"][-1]["test_err"])
            cells += [f"{r['epochs'][-1]['test_err']:.4f}", f"{r['seconds_per_epoch']:.2f}"]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    if all(finals[s] for s in sides):
        import statistics

        cells = []
        for side in sides:
            values = finals[side]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells += [f"{statistics.mean(values):.4f} +- {spread:.4f}", ""]
        lines.append("| mean +- sd | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results, seeds, sides, path, title):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colours = {"original": "tab:blue", "port": "tab:orange"}
    styles = ["-", "--", ":", "-."]
    for i, seed in enumerate(seeds):
        for side in sides:
            r = results.get(f"{side}_seed{seed}")
            if r is None:
                continue
            ax.plot([e["epoch"] for e in r["epochs"]], [e["test_err"] for e in r["epochs"]],
                    color=colours[side], linestyle=styles[i % len(styles)], linewidth=1.2,
                    label=f"{side}, seed {seed}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (averaged parameters)")
    ax.set_yscale("log")
    ax.set_title(f"{title}: original (Theano) vs port (TF2)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
