"""The human visual Turing test of Salimans et al., "Improved Techniques for Training GANs" (2016, Sec. 4, Fig. 2
and Sec. 6.1), as a web application: annotators see one image at a time and answer "real" or "generated",
optionally told after each answer whether they were right; votes go to SQLite and ``report`` gives the accuracy
(with a Wilson interval), the human error rate and the learning effect per condition.

    python -m improved_gan_tf2.turing serve --study=STUDY.toml --db=votes.sqlite [--host=127.0.0.1 --port=8000]
    python -m improved_gan_tf2.turing report --db=votes.sqlite [--out=DIR]
    python -m improved_gan_tf2.turing make-study --generated=G.npz --real=R.npz --out=study.toml [--feedback]

Modules: ``study`` (the TOML study file), ``store`` (the votes database), ``app`` (the Flask app), ``page`` (its
HTML, CSS and JS), ``server`` (waitress), ``report``. See ``docs/turing.md``.
"""
from improved_gan_tf2.turing.study import StudyError, TuringError, load_study  # noqa: F401
