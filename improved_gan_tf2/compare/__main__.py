"""``python -m improved_gan_tf2.compare {setup,step,loop,run}``: this port against the original release, side by side.

- ``setup --original_dir=DIR [--lasagne=PATH_OR_URL] [--env_dir=DIR]``: the original's own virtual environment
  (Theano 1.0.5, Lasagne) and a patched copy of its scripts, made from a user's checkout of openai/improved-gan.
- ``step --script=NAME --original_dir=DIR [--steps=K] [--precision=float64]``: the init and K training iterations
  on both sides from the same parameters, inputs and random numbers, compared tensor by tensor and loss by loss.
- ``loop --script=NAME --original_dir=DIR [--epochs=E]``: both sides' whole training loops for E epochs in float64
  with the same random numbers, compared epoch by epoch against a control run of the original.
- ``run --script=NAME --original_dir=DIR --seeds=1,2,3 --epochs=E``: full runs of both on the same data, a
  Markdown table and a plot of test error against epoch.

Exit status 0 when every comparison passes, 1 at the first divergence (named on a ``FIRST DIVERGENCE:`` line).
Bad input (not a checkout of the original, no environment, unknown script, ``--steps``/``--epochs`` below 1, an
unknown ``--precision``) ends with one line on stderr and
exit status 2.
"""
import argparse
import sys

from improved_gan_tf2.startup import quiet_tensorflow

quiet_tensorflow()  # the experiment registry imports TensorFlow; its C++ start-up log is not for the user

from improved_gan_tf2.compare.scripts import SCRIPTS, UsageError, get_script  # noqa: E402


class _Parser(argparse.ArgumentParser):
    """Errors as ``UsageError``; flags spelt whole (no ``--step`` for ``--steps``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(message)


def build_parser():
    parser = _Parser(prog="python -m improved_gan_tf2.compare", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    scripts = ", ".join(SCRIPTS)

    setup = sub.add_parser("setup", help="build the original's environment and patched scripts")
    setup.add_argument("--original_dir", required=True, help="a checkout of openai/improved-gan")
    setup.add_argument("--lasagne", default=None, help="Lasagne source: a source tree, a git directory or a URL "
                       "(default: Lasagne master from GitHub)")
    setup.add_argument("--env_dir", default=None, help="where to build (default ~/.cache/improved_gan_tf2/original)")
    setup.add_argument("--python", default=None, help="interpreter for the original's venv (default: this one's base)")

    step = sub.add_parser("step", help="K training steps on both sides, compared")
    step.add_argument("--script", required=True, help=f"one of: {scripts}")
    step.add_argument("--original_dir", required=True)
    step.add_argument("--steps", type=int, default=5)
    step.add_argument("--env_dir", default=None)
    step.add_argument("--width_scale", type=float, default=None,
                      help="CIFAR/SVHN: scale every hidden width on both sides (default 1; 0.25 is quick on a CPU)")
    step.add_argument("--seed", type=int, default=1, help="seed of the inputs (batches, z)")
    step.add_argument("--work_dir", default=None, help="keep the inputs and the original's output here")
    step.add_argument("--precision", default="float64",
                      help="float64 (both sides in float64: differences at rounding level) or float32 (both in "
                           "float32, judged against the original's own float32-vs-float64 spread)")
    step.add_argument("--reuse_original", action="store_true",
                      help="reuse the original's outputs already in --work_dir (same script, steps, seed, widths)")

    loop = sub.add_parser("loop", help="E epochs of both sides' training loops in float64, compared epoch by epoch")
    loop.add_argument("--script", required=True, help=f"one of: {scripts}")
    loop.add_argument("--original_dir", required=True)
    loop.add_argument("--epochs", type=int, default=2)
    loop.add_argument("--env_dir", default=None)
    loop.add_argument("--width_scale", type=float, default=None,
                      help="CIFAR/SVHN: scale every hidden width on both sides (default 1; 0.25 is quick on a CPU)")
    loop.add_argument("--seed", type=int, default=1, help="--seed and --seed_data of both sides, and of the fed "
                      "random numbers")
    loop.add_argument("--precision", default="float64", help="float64 only (the flag is there to say so)")
    loop.add_argument("--work_dir", default=None, help="keep the data, the original's output and the port's run here")
    loop.add_argument("--reuse_original", action="store_true",
                      help="reuse the original's output already in --work_dir (same script, epochs, seed, widths)")

    run = sub.add_parser("run", help="full runs of both sides, table and plot")
    run.add_argument("--script", required=True, help=f"one of: {scripts}")
    run.add_argument("--original_dir", required=True)
    run.add_argument("--seeds", default="1,2,3")
    run.add_argument("--epochs", type=int, default=10)
    run.add_argument("--env_dir", default=None)
    run.add_argument("--out_dir", default=None, help="default runs/compare_<script>")
    run.add_argument("--sides", default="original,port", help="which sides to run (both by default)")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise UsageError("choose a command: setup, step, loop or run")
        if args.command == "setup":
            from improved_gan_tf2.compare.env import setup

            setup(args.original_dir, args.env_dir, args.lasagne, args.python)
            return 0
        script = get_script(args.script)
        from improved_gan_tf2.compare.patcher import original_script_dir

        original_script_dir(args.original_dir)
        if args.command == "step":
            if args.steps < 1:
                raise UsageError(f"--steps must be at least 1, got {args.steps}")
            from improved_gan_tf2.compare.step import run_step_mode

            return run_step_mode(script, args)
        if args.command == "loop":
            from improved_gan_tf2.compare.loop import run_loop_mode

            return run_loop_mode(script, args)
        from improved_gan_tf2.compare.run import run_run_mode

        return run_run_mode(script, args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
