"""Figures of a visual Turing test from its votes database, per condition: votes, annotators, accuracy with a 95 %
Wilson interval, the human error rate (1 - accuracy, the paper's "21.3 %"), an exact binomial test against
chance (50 %), accuracy on real and on generated images, and the learning effect (accuracy over the first vs the
last half of each annotator's votes; the paper's annotators learned from feedback).

The intervals treat votes as independent; votes of one annotator are not quite, so they are somewhat too narrow
when a few annotators cast many votes each.
"""
import csv
import datetime
import io
import json
import math
import os

from improved_gan_tf2.turing.store import DAMAGED_FIX, check_integrity, connect
from improved_gan_tf2.turing.study import TuringError

Z95 = 1.959963984540054  # the 97.5 % quantile of the standard normal

COLUMNS = [
    "condition", "feedback", "top_percent", "n_generated", "n_real", "annotators", "annotators_complete", "votes",
    "correct", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "error_rate", "p_value_vs_chance",
    "real_votes", "real_correct", "accuracy_real", "generated_votes", "generated_correct", "accuracy_generated",
    "first_half_votes", "first_half_correct", "first_half_accuracy", "last_half_votes", "last_half_correct",
    "last_half_accuracy", "learning_effect", "learning_ci_low", "learning_ci_high", "median_server_ms",
    "median_client_ms",
]
VOTE_COLUMNS = ["id", "condition", "annotator", "position", "image_id", "truth", "answer", "correct", "server_ms",
                "client_ms", "feedback", "answered_at", "answered_utc"]


def wilson_interval(k, n, z=Z95):
    """Wilson score interval of a proportion ``k / n`` (NaN, NaN for n = 0)."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(k1, n1, k2, n2, z=Z95):
    """``p2 - p1`` and Newcombe's hybrid score interval for it (from the two Wilson intervals)."""
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan, math.nan
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, z)
    l2, u2 = wilson_interval(k2, n2, z)
    d = p2 - p1
    return d, d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def binomial_p_value(k, n):
    """Two-sided exact binomial test of ``k`` successes in ``n`` against p = 1/2."""
    if n == 0:
        return math.nan
    from scipy.stats import binom

    return float(min(1.0, 2.0 * binom.cdf(min(k, n - k), n, 0.5)))


def _ratio(k, n):
    return k / n if n else math.nan


def _median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return math.nan
    m = len(values) // 2
    return float(values[m]) if len(values) % 2 else (values[m - 1] + values[m]) / 2.0


def read_database(path):
    """(conditions: [(name, config dict)] in creation order, votes: [dict]) of a votes database."""
    db = connect(path, must_exist=True)
    try:
        check_integrity(db, path)
        conditions = [(r["name"], json.loads(r["config"]))
                      for r in db.execute("SELECT name, config FROM conditions ORDER BY created_at, name")]
        votes = [dict(r) for r in db.execute(
            "SELECT id, condition, annotator, position, image_id, truth, answer, correct, server_ms, client_ms, "
            "feedback, answered_at FROM votes ORDER BY condition, annotator, position")]
    except TuringError:
        raise
    except Exception as e:  # sqlite3.DatabaseError: not a votes database
        raise TuringError("%s: not a votes database (%s); %s" % (path, e, DAMAGED_FIX % path))
    finally:
        db.close()
    return conditions, votes


def summarize_condition(name, config, votes):
    """The report's row (a dict of :data:`COLUMNS`) for one condition's votes."""
    n = len(votes)
    k = sum(v["correct"] for v in votes)
    low, high = wilson_interval(k, n)
    by_truth = {t: [v for v in votes if v["truth"] == t] for t in ("real", "generated")}
    by_annotator = {}
    for v in votes:
        by_annotator.setdefault(v["annotator"], []).append(v)
    first, last = [], []
    for mine in by_annotator.values():
        mine.sort(key=lambda v: v["position"])
        half = len(mine) // 2  # an odd count leaves the middle vote out; a single vote adds nothing
        if half:
            first += mine[:half]
            last += mine[len(mine) - half:]
    k1, k2 = sum(v["correct"] for v in first), sum(v["correct"] for v in last)
    effect, effect_low, effect_high = difference_interval(k1, len(first), k2, len(last))
    total = config.get("n_generated", 0) + config.get("n_real", 0)
    return {
        "condition": name, "feedback": bool(config.get("feedback")), "top_percent": config.get("top_percent"),
        "n_generated": config.get("n_generated"), "n_real": config.get("n_real"),
        "annotators": len(by_annotator),
        "annotators_complete": sum(1 for mine in by_annotator.values() if total and len(mine) >= total),
        "votes": n, "correct": k, "accuracy": _ratio(k, n), "accuracy_ci_low": low, "accuracy_ci_high": high,
        "error_rate": 1.0 - _ratio(k, n) if n else math.nan, "p_value_vs_chance": binomial_p_value(k, n),
        "real_votes": len(by_truth["real"]), "real_correct": sum(v["correct"] for v in by_truth["real"]),
        "accuracy_real": _ratio(sum(v["correct"] for v in by_truth["real"]), len(by_truth["real"])),
        "generated_votes": len(by_truth["generated"]),
        "generated_correct": sum(v["correct"] for v in by_truth["generated"]),
        "accuracy_generated": _ratio(sum(v["correct"] for v in by_truth["generated"]), len(by_truth["generated"])),
        "first_half_votes": len(first), "first_half_correct": k1, "first_half_accuracy": _ratio(k1, len(first)),
        "last_half_votes": len(last), "last_half_correct": k2, "last_half_accuracy": _ratio(k2, len(last)),
        "learning_effect": effect, "learning_ci_low": effect_low, "learning_ci_high": effect_high,
        "median_server_ms": _median(v["server_ms"] for v in votes),
        "median_client_ms": _median(v["client_ms"] for v in votes),
    }


def summarize(conditions, votes):
    """Rows of :func:`summarize_condition`, one per condition (conditions without votes included)."""
    grouped = {}
    for v in votes:
        grouped.setdefault(v["condition"], []).append(v)
    rows = [summarize_condition(name, config, grouped.get(name, [])) for name, config in conditions]
    known = {name for name, _ in conditions}
    rows += [summarize_condition(name, {}, vs) for name, vs in grouped.items() if name not in known]
    return rows


def _pct(x):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.1f %%" % (100.0 * x)


def _pct_ci(x, low, high):
    if isinstance(x, float) and math.isnan(x):
        return "–"
    return "%.1f %% [%.1f, %.1f]" % (100.0 * x, 100.0 * low, 100.0 * high)


def _of(k, n):
    return "%s (%d/%d)" % (_pct(_ratio(k, n)), k, n) if n else "–"


def _p(x):
    if isinstance(x, float) and math.isnan(x):
        return "–"
    return "%.2g" % x if x >= 1e-4 else "< 0.0001"


def markdown(rows, db_path=None):
    """The report as Markdown."""
    out = ["# Visual Turing test" + (": `%s`" % os.path.basename(db_path) if db_path else ""), ""]
    if not rows:
        return "\n".join(out + ["No conditions recorded yet.", ""])
    out += ["| condition | feedback | votes | annotators (complete) | accuracy [95 % CI] | human error rate | "
            "p vs 50 % | on real | on generated |",
            "|---|---|---:|---:|---|---:|---:|---|---|"]
    for r in rows:
        name = r["condition"] + (" (top %g %%)" % r["top_percent"] if r["top_percent"] else "")
        out.append("| %s | %s | %d | %d (%d) | %s | %s | %s | %s | %s |" % (
            name, "yes" if r["feedback"] else "no", r["votes"], r["annotators"], r["annotators_complete"],
            _pct_ci(r["accuracy"], r["accuracy_ci_low"], r["accuracy_ci_high"]), _pct(r["error_rate"]),
            _p(r["p_value_vs_chance"]), _of(r["real_correct"], r["real_votes"]),
            _of(r["generated_correct"], r["generated_votes"])))
    out += ["", "Learning effect: accuracy over the first and the last half of each annotator's votes.", "",
            "| condition | feedback | first half | last half | change [95 % CI] | median response (server / page) |",
            "|---|---|---|---|---|---|"]
    for r in rows:
        change = "–"
        if not math.isnan(r["learning_effect"]):
            change = "%+.1f points [%+.1f, %+.1f]" % tuple(
                100.0 * r[k] for k in ("learning_effect", "learning_ci_low", "learning_ci_high"))
        times = "%s / %s" % tuple("–" if math.isnan(r[k]) else "%.0f ms" % r[k]
                                  for k in ("median_server_ms", "median_client_ms"))
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            r["condition"], "yes" if r["feedback"] else "no", _of(r["first_half_correct"], r["first_half_votes"]),
            _of(r["last_half_correct"], r["last_half_votes"]), change, times))
    out += ["",
            "Accuracy is the share of votes that were right (chance: 50 % when real and generated images are shown "
            "equally often); the human error rate is 1 - accuracy. Intervals: Wilson score (accuracy) and Newcombe's "
            "hybrid score (change), both treating votes as independent. p: exact two-sided binomial test against "
            "50 %. An annotator's odd middle vote is in neither half.",
            "",
            "Salimans et al. (2016): MNIST (minibatch discrimination) told apart in 52.4 % of 2,000 votes; "
            "CIFAR-10 78.7 %, 71.4 % on the top 1 % of samples by Inception score; human error rate 21.3 %.",
            ""]
    return "\n".join(out)


def _csv_value(x):
    if isinstance(x, float):
        return "" if math.isnan(x) else repr(x)
    if isinstance(x, bool):
        return "true" if x else "false"
    return "" if x is None else x


def to_csv(rows, columns):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return buffer.getvalue()


def report(db_path, out_dir=None):
    """Markdown of the database's figures; with ``out_dir``, also writes ``report.md``, ``report.csv`` (one row per
    condition) and ``votes.csv`` (every vote) there. Returns (markdown, rows)."""
    conditions, votes = read_database(db_path)
    rows = summarize(conditions, votes)
    text = markdown(rows, db_path)
    if out_dir:
        try:
            os.makedirs(out_dir, exist_ok=True)
            for v in votes:
                v["answered_utc"] = datetime.datetime.fromtimestamp(
                    v["answered_at"], datetime.timezone.utc).isoformat(timespec="milliseconds")
            for name, content in (("report.md", text), ("report.csv", to_csv(rows, COLUMNS)),
                                  ("votes.csv", to_csv(votes, VOTE_COLUMNS))):
                with open(os.path.join(out_dir, name), "w", encoding="utf-8", newline="") as f:
                    f.write(content)
        except OSError as e:
            raise TuringError("%s: cannot write the report (%s)" % (out_dir, e))
    return text, rows
