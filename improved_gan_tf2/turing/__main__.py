"""Command line of the visual Turing test:

    python -m improved_gan_tf2.turing serve --study=STUDY.toml --db=votes.sqlite [--host=127.0.0.1 --port=8000]
    python -m improved_gan_tf2.turing report --db=votes.sqlite [--out=DIR]
    python -m improved_gan_tf2.turing make-study --generated=G.npz --real=R.npz --out=study.toml [--feedback]
        [--top_percent=1] [--n_generated=50 --n_real=50] [--name=NAME]

User errors (study file, database, busy port, flags, ...) are one line on stderr, exit status 2; ``--help``
exits with 0.
"""
import os
import sys

from improved_gan_tf2.errors import ArgumentParser
from improved_gan_tf2.turing.store import NEW_ANNOTATORS_PER_MINUTE
from improved_gan_tf2.turing.study import TuringError

DEFAULT_COUNT = 50


def _serve(args):
    from improved_gan_tf2.turing.server import prepare, stop, url

    server, study, _ = prepare(args.study, args.db, args.host, args.port, args.threads, args.batch_size,
                               new_annotators_per_minute=args.new_annotators_per_minute)
    try:
        for cond in study.conditions.values():
            top = ""
            if cond.top_percent:
                top = " (top %g %% of %d)" % (cond.top_percent, len(cond.generated.images))
            print("condition %s: %d of %d generated%s + %d of %d real images per annotator, feedback %s: %s"
                  % (cond.name, cond.n_generated, len(cond.generated_pool), top, cond.n_real, len(cond.real.images),
                     "on" if cond.feedback else "off", url(server, "/c/" + cond.name)))
        print("Serving %s with waitress at %s (votes in %s); Ctrl-C stops." % (args.study, url(server), args.db),
              flush=True)
        server.run()
    finally:
        stop(server)
    return 0


def _report(args):
    from improved_gan_tf2.turing.report import report

    text, _ = report(args.db, args.out)
    sys.stdout.write(text)
    if args.out:
        print("Wrote report.md, report.csv and votes.csv to %s" % args.out, file=sys.stderr)
    return 0


def _make_study(args):
    from improved_gan_tf2.turing.study import Condition, load_image_set, load_study, write_study_file

    if os.path.exists(args.out) and not args.force:
        raise TuringError("%s exists; pass --force to overwrite it" % args.out)
    generated = load_image_set(os.path.abspath(args.generated), args.generated_key, "--generated")
    real = load_image_set(os.path.abspath(args.real), args.real_key, "--real")
    probe = Condition(name=args.name, feedback=args.feedback, n_generated=1, n_real=1, generated=generated,
                      real=real, top_percent=args.top_percent)
    n_generated = args.n_generated
    if n_generated is None:
        n_generated = min(DEFAULT_COUNT, probe.top_count, len(real.images))
    n_real = args.n_real
    if n_real is None:
        n_real = max(1, min(n_generated, len(real.images)))  # balanced unless told otherwise
    base = os.path.dirname(os.path.abspath(args.out))
    condition = {"name": args.name, "generated": os.path.relpath(generated.path, base),
                 "generated_key": args.generated_key or None, "real": os.path.relpath(real.path, base),
                 "real_key": args.real_key or None, "feedback": bool(args.feedback), "n_generated": n_generated,
                 "n_real": n_real,
                 "top_percent": None if args.top_percent is None else float(args.top_percent)}
    model_dir = args.inception_model_dir
    top = {"title": args.title,
           "inception_model_dir": os.path.relpath(os.path.abspath(model_dir), base) if model_dir else None}
    tmp = args.out + ".tmp"
    try:
        write_study_file(tmp, [condition], comment="Visual Turing test (Salimans et al. 2016, Sec. 4 and 5.1); "
                         "made by python -m improved_gan_tf2.turing make-study", **top)
        try:
            load_study(tmp)  # the same checks as serve (the top_percent ranking itself is left to serve)
        except TuringError as e:
            raise TuringError(str(e).replace(tmp, args.out))
        os.replace(tmp, args.out)
    except OSError as e:
        raise TuringError("%s: cannot write the study file (%s)" % (args.out, e))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print("Wrote %s: condition '%s', %d generated + %d real images per annotator, feedback %s%s"
          % (args.out, args.name, n_generated, n_real, "on" if args.feedback else "off",
             ", top %g %% by Inception-score term" % args.top_percent if args.top_percent else ""))
    return 0


def parser():
    p = ArgumentParser(prog="python -m improved_gan_tf2.turing",
                                description="Human visual Turing test of generated images (Salimans et al. 2016).")
    sub = p.add_subparsers(dest="command", required=True, metavar="{serve,report,make-study}")
    s = sub.add_parser("serve", help="serve a study to annotators (waitress)")
    s.add_argument("--study", required=True, help="the study file (TOML)")
    s.add_argument("--db", required=True, help="the votes database (SQLite; created if missing)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    s.add_argument("--port", type=int, default=8000, help="port to listen on, 0 for any free one (default: 8000)")
    s.add_argument("--threads", type=int, default=8, help="waitress worker threads (default: %(default)s)")
    s.add_argument("--batch_size", type=int, default=100,
                   help="images per Inception call when ranking for top_percent (default: %(default)s)")
    s.add_argument("--new_annotators_per_minute", type=int, default=NEW_ANNOTATORS_PER_MINUTE,
                   help="new annotators recorded per minute at most, so that a script cannot fill the database "
                        "(default: %(default)s)")
    s.set_defaults(run=_serve)
    r = sub.add_parser("report", help="figures of the votes so far (Markdown on stdout)")
    r.add_argument("--db", required=True, help="the votes database")
    r.add_argument("--out", help="also write report.md, report.csv and votes.csv to this directory")
    r.set_defaults(run=_report)
    m = sub.add_parser("make-study", help="write a one-condition study file for two .npz files")
    m.add_argument("--generated", required=True, help="generated images (.npz, uint8 NHWC)")
    m.add_argument("--real", required=True, help="real images (.npz, uint8 NHWC, same size)")
    m.add_argument("--out", required=True, help="the study file to write")
    m.add_argument("--generated_key", help="array name in --generated, if it holds several")
    m.add_argument("--real_key", help="array name in --real, if it holds several")
    m.add_argument("--feedback", action="store_true", help="tell annotators after each answer if they were right")
    m.add_argument("--top_percent", type=float, help="show only the top percent of generated images by their "
                   "Inception-score term KL(p(y|x) || p(y)) (the paper's 1 %% experiment)")
    m.add_argument("--n_generated", type=int, help="generated images per annotator (default: min(50, available))")
    m.add_argument("--n_real", type=int, help="real images per annotator (default: as many as generated)")
    m.add_argument("--name", default="main", help="the condition's name (default: %(default)s)")
    m.add_argument("--title", default="Real or generated?", help="the page's title (default: %(default)s)")
    m.add_argument("--inception_model_dir", help="where the Inception graph is (for --top_percent)")
    m.add_argument("--force", action="store_true", help="overwrite --out")
    m.set_defaults(run=_make_study)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except TuringError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
