"""Load: 50 concurrent simulated annotators (threads, ``http.client``, each its own cookie and connection) against
the turing app served by waitress on 127.0.0.1, 20 votes each, plus a double post and a forged post each. Every
accepted vote must be stored exactly once (none lost, none duplicated), and nothing else. Bounded in time.

Prints the median and 99th-percentile response times (``pytest -s``) and writes them to
``tests/artifacts/turing_load.txt`` (``$TURING_ARTIFACTS`` overrides the directory).
"""
import os
import random
import sqlite3
import threading
import time

import numpy as np

from improved_gan_tf2.turing.testing import HttpAnnotator, running_server, write_study

ANNOTATORS = 50
VOTES = 20  # per annotator: 10 generated + 10 real
DEADLINE_S = 60.0
ARTIFACTS = os.environ.get("TURING_ARTIFACTS") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                               "artifacts")


def annotate(base, deadline, record, errors, barrier):
    try:
        rng = random.Random()
        annotator = HttpAnnotator(base, timeout=30)
        barrier.wait(timeout=30)
        assert annotator.start("/c/load") == 200 and annotator.cookie
        accepted = []
        for i in range(VOTES):
            assert time.monotonic() < deadline, "past the deadline"
            status, nxt = annotator.next("load")
            assert status == 200 and not nxt["done"] and nxt["answered"] == i, (status, nxt)
            status, _ = annotator.image(nxt["token"])
            assert status == 200
            answer = rng.choice(["real", "generated"])
            status, vote = annotator.vote(nxt["token"], "load", answer, rng.randint(300, 3000))
            assert status == 200 and vote["answered"] == i + 1, (status, vote)
            accepted.append((nxt["position"], answer, vote["truth"]))
            if i % 7 == 3:  # a double click: the same vote again
                status, _ = annotator.vote(nxt["token"], "load", answer)
                assert status == 409, status
            if i == 11:  # a forged token
                status, _ = annotator.vote("forged" + nxt["token"][6:], "load", answer)
                assert status == 404, status
        status, done = annotator.next("load")
        assert status == 200 and done["done"] and done["answered"] == VOTES
        annotator.close()
        record[annotator.cookie.split("=", 1)[1].split(".")[0]] = (accepted, annotator.timings)  # id.signature
    except BaseException as e:  # reported by the test
        errors.append(repr(e))


def test_fifty_concurrent_annotators(tmp_path):
    study = write_study(str(tmp_path / "study"), [{"name": "load", "feedback": True, "n_generated": 10,
                                                   "n_real": 10}], n_images=60)
    db_path = str(tmp_path / "votes.sqlite")
    record, errors = {}, []
    with running_server(study, db_path, threads=8) as (base, _, _):
        barrier = threading.Barrier(ANNOTATORS)
        start = time.monotonic()
        deadline = start + DEADLINE_S
        threads = [threading.Thread(target=annotate, args=(base, deadline, record, errors, barrier), daemon=True)
                   for _ in range(ANNOTATORS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(0.1, deadline + 5 - time.monotonic()))
        wall = time.monotonic() - start
    assert not any(t.is_alive() for t in threads), "annotators still running after %.0f s" % DEADLINE_S
    assert not errors, errors[:3]
    assert len(record) == ANNOTATORS and wall < DEADLINE_S

    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT annotator, position, answer, truth FROM votes").fetchall()
    assert len(rows) == ANNOTATORS * VOTES  # none lost, none duplicated, no extra
    stored = {}
    for annotator, position, answer, truth in rows:
        stored.setdefault(annotator, []).append((position, answer, truth))
    assert set(stored) == set(record)
    for annotator, (accepted, _) in record.items():
        assert sorted(stored[annotator]) == sorted(accepted)  # each accepted vote, as answered, exactly once
        assert sorted(p for p, _, _ in accepted) == list(range(VOTES))
        assert sorted(t for _, _, t in accepted).count("real") == VOTES // 2
    assert db.execute("SELECT COUNT(*) FROM served").fetchone()[0] == ANNOTATORS * VOTES

    timings = {}
    for _, (_, calls) in record.items():
        for what, seconds in calls:
            timings.setdefault(what, []).append(1000.0 * seconds)
    lines = ["turing load test: %d annotators x %d votes on 127.0.0.1 (waitress, 8 threads, SQLite WAL), "
             "%.1f s wall, %.0f votes/s" % (ANNOTATORS, VOTES, wall, ANNOTATORS * VOTES / wall)]
    for what in ("vote", "next", "image", "page"):
        ms = np.asarray(timings[what])
        lines.append("%-6s %5d requests: median %6.1f ms, p99 %6.1f ms, max %6.1f ms"
                     % (what, len(ms), np.median(ms), np.percentile(ms, 99), ms.max()))
    everything = np.concatenate([np.asarray(v) for v in timings.values()])
    lines.append("all    %5d requests: median %6.1f ms, p99 %6.1f ms"
                 % (len(everything), np.median(everything), np.percentile(everything, 99)))
    report = "\n".join(lines)
    print("\n" + report)
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, "turing_load.txt"), "w") as f:
        f.write(report + "\n")
    print("written to %s" % os.path.join(ARTIFACTS, "turing_load.txt"))
