"""The visual Turing test app (``improved_gan_tf2.turing``): plan, vote validation, feedback, report figures,
study-file errors, the top-k % selection by Inception-score terms, and the command line.

The browser test is ``test_turing_browser.py``, the load test ``test_turing_load.py``.
"""
import io
import json
import math
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading

import numpy as np
import pytest
import scipy.special
import scipy.stats

from improved_gan_tf2.turing import report as report_mod
from improved_gan_tf2.turing.app import COOKIE, create_app
from improved_gan_tf2.turing.store import Store
from improved_gan_tf2.turing.study import StudyError, TuringError, load_image_set, load_study, select_top
from improved_gan_tf2.turing.testing import write_study

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONDITIONS = [
    {"name": "fb", "feedback": True, "n_generated": 5, "n_real": 5},
    {"name": "plain", "feedback": False, "n_generated": 6, "n_real": 4},
]


@pytest.fixture
def served(tmp_path):
    """(Flask app, study, store) of a two-condition study of 8x8 RGB images."""
    study = load_study(write_study(str(tmp_path / "study"), CONDITIONS, title="Test study"))
    store = Store(str(tmp_path / "votes.sqlite"))
    store.register_conditions(study)
    return create_app(study, store), study, store


def new_client(app):
    client = app.test_client()
    assert client.get("/").status_code == 303  # gives the annotator id
    return client


def decode(png):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)))


def answer_all(client, study, condition, choose=lambda i: "real"):
    """Answer every image of ``condition``; returns [(image array, vote response json)]."""
    out = []
    for i in range(100):
        nxt = client.get("/api/next?c=" + condition).get_json()
        if nxt["done"]:
            return out
        img = client.get(nxt["image"])
        assert img.status_code == 200 and img.mimetype == "image/png"
        vote = client.post("/api/vote", json={"token": nxt["token"], "condition": condition, "answer": choose(i),
                                              "client_ms": 500 + i})
        assert vote.status_code == 200, vote.get_json()
        out.append((decode(img.data), vote.get_json()))
    raise AssertionError("never done")


def which(image, study, condition):
    """('generated' | 'real', index) of the array row equal to ``image``."""
    cond = study.conditions[condition]
    for kind, images in (("generated", cond.generated.images), ("real", cond.real.images)):
        hits = np.flatnonzero((images.reshape(len(images), -1) == image.reshape(1, -1)).all(axis=1))
        if len(hits):
            return kind, int(hits[0])
    raise AssertionError("the served image is in neither array")


# --------------------------------------------------------------------------------------------------------------
# Plan: balanced, random, never the same image twice


def test_balanced_order_no_repeats_and_the_right_pixels(served):
    app, study, store = served
    client = new_client(app)
    for name in ("fb", "plain"):
        cond = study.conditions[name]
        answers = answer_all(client, study, name)
        assert len(answers) == cond.n_total
        origins = [which(img, study, name) for img, _ in answers]
        assert len(set(origins)) == cond.n_total  # never the same image twice
        kinds = [k for k, _ in origins]
        assert kinds.count("generated") == cond.n_generated and kinds.count("real") == cond.n_real
        if cond.feedback:  # the truth told is the array the pixels came from
            assert [v["truth"] for _, v in answers] == kinds
    db = sqlite3.connect(store.path)
    assert db.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 20
    assert db.execute("SELECT COUNT(DISTINCT image_id || condition) FROM votes").fetchone()[0] == 20
    served_ids = db.execute("SELECT condition, image_id, truth FROM served ORDER BY condition, position").fetchall()
    assert all(i.startswith("g" if t == "generated" else "r") for _, i, t in served_ids)


def test_orders_differ_between_annotators(served):
    app, study, store = served
    orders = set()
    for _ in range(6):
        client = new_client(app)
        answer_all(client, study, "plain")
    db = sqlite3.connect(store.path)
    for (annotator,) in db.execute("SELECT DISTINCT annotator FROM votes"):
        orders.add(tuple(r[0] for r in db.execute(
            "SELECT image_id FROM votes WHERE annotator = ? ORDER BY position", (annotator,))))
    assert len(orders) == 6  # random draws and orders (equal ones: chance ~1e-20)


def test_reload_shows_the_same_image_and_page_works(served):
    app, _, _ = served
    client = new_client(app)
    page = client.get("/c/fb")
    assert page.status_code == 200 and b'data-feedback="1"' in page.data and b"Test study" in page.data
    assert b'name="viewport"' in page.data and b"/static/turing.js" in page.data
    assert b"http" not in page.data.replace(b'lang="en"', b"")  # nothing external
    css = client.get("/static/turing.css").data
    assert b"image-rendering: pixelated" in css
    assert b'data-feedback="0"' in client.get("/c/plain").data
    first = client.get("/api/next?c=fb").get_json()
    again = client.get("/api/next?c=fb").get_json()
    assert first["token"] == again["token"] and first["answered"] == 0 and first["total"] == 10
    assert client.get("/c/nope").status_code == 404
    assert client.get("/api/next?c=nope").status_code == 404


def test_index_spreads_new_annotators_over_conditions(served):
    app, _, _ = served
    firsts = []
    for _ in range(4):
        client = app.test_client()
        location = client.get("/").headers["Location"]
        firsts.append(location)
        client.get("/api/next?c=" + location.rsplit("/", 1)[1])  # takes a plan there
        assert client.get("/").headers["Location"] == location  # a returning annotator goes back
    assert sorted(firsts) == ["/c/fb", "/c/fb", "/c/plain", "/c/plain"]


# --------------------------------------------------------------------------------------------------------------
# Votes: only for an image served to this annotator and not yet answered


def vote_count(store):
    return sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM votes").fetchone()[0]


def test_vote_validation(served):
    app, _, store = served
    alice, bob = new_client(app), new_client(app)
    nxt = alice.get("/api/next?c=fb").get_json()
    token = nxt["token"]

    def post(client, **kw):
        body = {"token": token, "condition": "fb", "answer": "real"}
        body.update(kw)
        return client.post("/api/vote", json=body)

    # no id, an unknown id
    assert app.test_client().post("/api/vote", json={"token": token, "condition": "fb", "answer": "real"}
                                  ).status_code == 403
    stranger = app.test_client()
    stranger.set_cookie(COOKIE, "0" * 32)
    assert post(stranger).status_code == 403
    assert app.test_client().get("/api/next?c=fb").status_code == 403
    # forged tokens, another annotator's image, the wrong condition, bad answers, not JSON
    assert post(alice, token="forged-token-1234").status_code == 404
    assert post(alice, token="x" * 500).status_code == 400
    assert post(alice, token=None).status_code == 400
    assert post(bob).status_code == 404
    assert bob.get("/img/" + token).status_code == 404  # nor can bob fetch alice's image
    assert app.test_client().get("/img/" + token).status_code == 404  # nor can a visitor without an id
    assert stranger.get("/img/" + token).status_code == 404  # nor an unknown id
    assert alice.get("/img/" + "x" * 500).status_code == 404
    assert alice.get("/img/" + token).status_code == 200
    assert post(alice, condition="plain").status_code == 400
    assert post(alice, condition="nope").status_code == 400
    assert post(alice, answer="maybe").status_code == 400
    assert alice.post("/api/vote", data="token=%s&condition=fb&answer=real" % token,
                      content_type="application/x-www-form-urlencoded").status_code == 400
    assert vote_count(store) == 0
    # the real vote, then a double click / a reload's re-post
    assert post(alice, client_ms="fast").status_code == 200  # a bad client time is dropped, not the vote
    assert post(alice).status_code == 409
    assert post(alice, answer="generated").status_code == 409
    assert vote_count(store) == 1
    row = sqlite3.connect(store.path).execute("SELECT answer, client_ms, server_ms, feedback FROM votes").fetchone()
    assert row[0] == "real" and row[1] is None and row[2] >= 0 and row[3] == 1
    # an image not served yet cannot be answered: the next one has a new token
    following = alice.get("/api/next?c=fb").get_json()
    assert following["token"] != token and following["answered"] == 1 and following["position"] == 1


def test_concurrent_posts_of_one_vote_store_it_once(served):
    app, study, store = served
    client = new_client(app)
    annotator = store.annotator_of_cookie(client.get_cookie(COOKIE).value)
    token = client.get("/api/next?c=plain").get_json()["token"]
    results, barrier = [], threading.Barrier(8)

    def post():
        barrier.wait()
        try:
            store.vote(annotator, token, study.conditions["plain"], "generated", 10)
            results.append("ok")
        except Exception as e:  # VoteRejected
            results.append(getattr(e, "status", repr(e)))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [409] * 7 + ["ok"]
    assert vote_count(store) == 1


def test_feedback_and_plain_responses(served):
    app, study, _ = served
    client = new_client(app)
    fb = answer_all(client, study, "fb", choose=lambda i: "generated")
    for i, (_, v) in enumerate(fb):
        assert v["truth"] in ("real", "generated") and v["correct"] == (v["truth"] == "generated")
        assert v["answered"] == i + 1 and v["total"] == 10
    assert fb[-1][1]["done"] and fb[-1][1]["correct_so_far"] == 5
    done = client.get("/api/next?c=fb").get_json()
    assert done["done"] and done["correct"] == 5 and "token" not in done
    plain = answer_all(client, study, "plain")
    for _, v in plain:
        assert set(v) == {"accepted", "answered", "total", "done"}  # no truth, no score
    assert "correct" not in client.get("/api/next?c=plain").get_json()


# --------------------------------------------------------------------------------------------------------------
# Report figures on a hand-made vote table


def wilson_direct(k, n, z=1.959963984540054):
    """Wilson's interval in its closed form (2 n p + z^2 -/+ z sqrt(z^2 + 4 n p (1 - p))) / (2 (n + z^2))."""
    p = k / n
    root = z * math.sqrt(z * z + 4 * n * p * (1 - p))
    return (2 * n * p + z * z - root) / (2 * (n + z * z)), (2 * n * p + z * z + root) / (2 * (n + z * z))


# annotator -> [(truth, answer)] in position order: feedback condition "fb"
HAND_MADE = {
    "a1": [("real", "generated"), ("generated", "generated"), ("real", "generated"), ("generated", "real"),
           ("real", "real"),  # first half: 2 of 5 right
           ("generated", "generated"), ("real", "real"), ("generated", "generated"), ("real", "generated"),
           ("generated", "generated")],  # last half: 4 of 5
    "a2": [("generated", "real"), ("real", "real"), ("generated", "generated"), ("real", "generated"),
           ("generated", "generated"),  # 3 of 5
           ("real", "real"), ("generated", "generated"), ("real", "real"), ("generated", "generated"),
           ("real", "real")],  # 5 of 5
    "a3": [("real", "real"), ("generated", "real"), ("real", "generated")],  # 1 of 3; halves: pos 0 and pos 2
}


def hand_made_db(path):
    store = Store(path)
    db = store.conn()
    config = {"feedback": True, "n_generated": 5, "n_real": 5, "top_percent": None}
    db.execute("INSERT INTO conditions (name, config, created_at) VALUES ('fb', ?, 0)", (json.dumps(config),))
    db.execute("INSERT INTO conditions (name, config, created_at) VALUES ('empty', ?, 1)", (json.dumps(config),))
    for annotator, votes in HAND_MADE.items():
        db.execute("INSERT INTO annotators VALUES (?, 0)", (annotator,))
        for pos, (truth, answer) in enumerate(votes):
            image = ("r%d" if truth == "real" else "g%d") % pos
            cur = db.execute("INSERT INTO served (token, annotator, condition, position, image_id, truth, served_at) "
                             "VALUES (?, ?, 'fb', ?, ?, ?, 100)", (annotator + str(pos), annotator, pos, image, truth))
            db.execute("INSERT INTO votes (served_id, annotator, condition, position, image_id, truth, answer, "
                       "correct, server_ms, client_ms, feedback, answered_at) VALUES (?, ?, 'fb', ?, ?, ?, ?, ?, ?, "
                       "?, 1, ?)", (cur.lastrowid, annotator, pos, image, truth, answer, int(truth == answer),
                                    1000 + 100 * pos, None if pos % 2 else 900.0, 1.7e9 + pos))
    return store


def test_report_figures_on_a_hand_made_table(tmp_path):
    path = str(tmp_path / "hand.sqlite")
    hand_made_db(path)
    text, rows = report_mod.report(path, str(tmp_path / "out"))
    fb, empty = rows
    k = sum(t == a for votes in HAND_MADE.values() for t, a in votes)
    assert (fb["votes"], fb["correct"], k) == (23, 15, 15)
    assert fb["annotators"] == 3 and fb["annotators_complete"] == 2
    assert fb["accuracy"] == pytest.approx(15 / 23) and fb["error_rate"] == pytest.approx(8 / 23)
    assert (fb["accuracy_ci_low"], fb["accuracy_ci_high"]) == pytest.approx(wilson_direct(15, 23), abs=1e-12)
    assert fb["p_value_vs_chance"] == pytest.approx(scipy.stats.binomtest(15, 23, 0.5).pvalue)
    real = [(t, a) for votes in HAND_MADE.values() for t, a in votes if t == "real"]
    assert (fb["real_votes"], fb["real_correct"]) == (len(real), sum(t == a for t, a in real)) == (12, 7)
    assert (fb["generated_votes"], fb["generated_correct"]) == (11, 8)
    assert (fb["first_half_votes"], fb["first_half_correct"]) == (11, 2 + 3 + 1)
    assert (fb["last_half_votes"], fb["last_half_correct"]) == (11, 4 + 5 + 0)
    assert fb["learning_effect"] == pytest.approx(9 / 11 - 6 / 11)
    l1, u1 = wilson_direct(6, 11)
    l2, u2 = wilson_direct(9, 11)
    d = 9 / 11 - 6 / 11
    assert fb["learning_ci_low"] == pytest.approx(d - math.sqrt((9 / 11 - l2) ** 2 + (u1 - 6 / 11) ** 2))
    assert fb["learning_ci_high"] == pytest.approx(d + math.sqrt((u2 - 9 / 11) ** 2 + (6 / 11 - l1) ** 2))
    assert fb["median_server_ms"] == 1400 and fb["median_client_ms"] == 900  # positions 0,0,0,1,1,1,...: 12th is 4
    assert empty["votes"] == 0 and math.isnan(empty["accuracy"])
    line = next(l for l in text.splitlines() if l.startswith("| fb | yes | 23"))
    lo, hi = wilson_direct(15, 23)
    assert "65.2 %% [%.1f, %.1f]" % (100 * lo, 100 * hi) in line and "34.8 %" in line
    assert "54.5 % (6/11)" in text and "81.8 % (9/11)" in text and "+27.3 points" in text
    out = tmp_path / "out"
    assert (out / "report.md").read_text() == text
    csv_rows = (out / "report.csv").read_text().splitlines()
    assert csv_rows[0].split(",") == report_mod.COLUMNS and csv_rows[1].startswith("fb,true,,5,5,3,2,23,15,")
    assert len((out / "votes.csv").read_text().splitlines()) == 24


def test_wilson_edges():
    assert report_mod.wilson_interval(0, 10)[0] == 0.0 and report_mod.wilson_interval(10, 10)[1] == pytest.approx(1)
    for k, n in ((0, 10), (10, 10), (1048, 2000), (1, 3)):
        assert report_mod.wilson_interval(k, n) == pytest.approx(wilson_direct(k, n), abs=1e-12)
    # The paper's MNIST figure, 52.4 % of 2,000 votes, is just above chance if the votes were independent.
    assert report_mod.wilson_interval(1048, 2000) == pytest.approx((0.50209, 0.54582), abs=1e-5)
    assert report_mod.binomial_p_value(1048, 2000) == pytest.approx(0.0336, abs=1e-4)


# --------------------------------------------------------------------------------------------------------------
# Study files: every error is one line


def write_raw(tmp_path, text, **arrays):
    for name, array in arrays.items():
        np.savez(tmp_path / (name + ".npz"), x=array)
    path = tmp_path / "s.toml"
    path.write_text(text)
    return str(path)


GOOD = np.zeros((10, 8, 8, 3), np.uint8)
COND = '[[condition]]\nname = "c"\ngenerated = "g.npz"\nreal = "r.npz"\nfeedback = true\nn_generated = 4\nn_real = 4\n'


@pytest.mark.parametrize("text, arrays, message", [
    (COND.replace('"g.npz"', '"missing.npz"'), {}, "generated: .*missing.npz: no such file"),
    (COND, {"g": GOOD.astype(np.float32)}, "expected uint8 pixels in 0..255, got float32; images in \\[-1, 1\\]"),
    (COND, {"g": np.zeros((10, 8, 8, 4), np.uint8)}, "expected images of shape \\(N, H, W, 3\\)"),
    (COND, {"g": np.zeros((10, 3, 8, 8), np.uint8)}, "looks like NCHW"),
    (COND, {"r": GOOD[:3]}, "n_real = 4 but .*r.npz holds only 3 real images"),
    (COND, {"g": GOOD[:3]}, "n_generated = 4 but .*g.npz holds only 3 generated images"),
    (COND + "top_percent = 10\n", {}, "top_percent = 10 keeps only 1 of the 10 generated images"),
    (COND + "top_percent = 0\n", {}, "top_percent must be in \\(0, 100\\]"),
    (COND, {"r": np.zeros((10, 9, 8, 3), np.uint8)}, "generated images are 8x8x3 but real images are 9x8x3"),
    (COND, {"r": np.zeros((10, 8, 8), np.uint8)}, "generated images are 8x8x3 but real images are 8x8x1"),
    ("titel = 'x'\n" + COND, {}, "unknown key 'titel'"),
    (COND + "fedback = true\n", {}, "condition 'c': unknown key 'fedback'"),
    (COND.replace("feedback = true\n", ""), {}, "condition 'c': missing key 'feedback'"),
    (COND.replace("feedback = true", 'feedback = "yes"'), {}, "feedback must be true or false"),
    (COND.replace("n_real = 4", "n_real = 0"), {}, "n_real must be a positive integer"),
    (COND.replace("n_real = 4", "n_real = 4.5"), {}, "n_real must be a positive integer"),
    (COND + COND, {}, "condition 'c': a condition of this name comes earlier"),
    (COND.replace('"c"', '"a b"'), {}, "name must be 1 to 64 letters"),
    (COND.replace("[[condition]]", "[condition]"), {}, "'condition' must be an array of tables"),
    ("title = 'x'\n", {}, "no conditions"),
    (COND.replace("n_real = 4", "n_real = "), {}, "invalid TOML"),
    (COND + 'real_key = "y"\n', {}, "r.npz has no array named 'y' \\(it has: x\\)"),
])
def test_study_errors_are_one_line(tmp_path, text, arrays, message):
    arrays = dict({"g": GOOD, "r": GOOD}, **arrays)
    path = write_raw(tmp_path, text, **arrays)
    with pytest.raises(StudyError) as e:
        load_study(path)
    assert re.search(message, str(e.value)), str(e.value)
    assert "\n" not in str(e.value)


def test_a_file_that_is_not_numpy_arrays_is_named_as_such_never_with_allow_pickle(tmp_path):
    (tmp_path / "random.npz").write_bytes(np.random.RandomState(0).bytes(5000))
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object))
    for name, message in (("random.npz", "is not a NumPy archive of arrays"), ("objects.npz", "Python objects")):
        with pytest.raises(StudyError) as error:
            load_image_set(str(tmp_path / name), None, "--generated")
        assert message in str(error.value) and "pickle=" not in str(error.value), str(error.value)


def test_npz_with_several_arrays_needs_a_key(tmp_path):
    np.savez(tmp_path / "g.npz", a=GOOD, b=GOOD)
    np.savez(tmp_path / "r.npz", x=GOOD)
    (tmp_path / "s.toml").write_text(COND)
    with pytest.raises(StudyError, match="holds 2 arrays \\(a, b\\): choose one with generated_key"):
        load_study(str(tmp_path / "s.toml"))
    (tmp_path / "s.toml").write_text(COND + 'generated_key = "b"\n')
    study = load_study(str(tmp_path / "s.toml"))
    assert study.conditions["c"].generated.key == "b"


def test_grayscale_images_are_served_as_grayscale_png(tmp_path):
    rng = np.random.RandomState(0)
    np.savez(tmp_path / "g.npz", x=rng.randint(0, 256, (10, 28, 28, 1), np.uint8))
    np.savez(tmp_path / "r.npz", x=rng.randint(0, 256, (10, 28, 28), np.uint8))  # (N, H, W), as MNIST
    (tmp_path / "s.toml").write_text(COND)
    study = load_study(str(tmp_path / "s.toml"))
    store = Store(str(tmp_path / "v.sqlite"))
    store.register_conditions(study)
    client = new_client(create_app(study, store))
    for _ in range(8):
        nxt = client.get("/api/next?c=c").get_json()
        image = decode(client.get(nxt["image"]).data)
        assert image.shape == (28, 28)
        kind, _ = which(image[..., None], study, "c")
        assert client.post("/api/vote", json={"token": nxt["token"], "condition": "c", "answer": kind}
                           ).get_json()["truth"] == kind


def test_a_condition_cannot_change_its_images_in_the_same_db(tmp_path):
    path = write_study(str(tmp_path / "s"), CONDITIONS)
    db = str(tmp_path / "v.sqlite")
    Store(db).register_conditions(load_study(path))
    Store(db).register_conditions(load_study(path))  # the same study again: fine
    write_study(str(tmp_path / "s"), CONDITIONS, seed=1)  # other pixels, same file names
    with pytest.raises(TuringError, match="already holds condition 'fb' with other settings "
                                         "\\(generated_sha256, real_sha256 differ\\)"):
        Store(db).register_conditions(load_study(path))


# --------------------------------------------------------------------------------------------------------------
# Top k % by the images' own Inception-score terms


def test_kl_terms_are_the_score_terms(rng):
    from inception_score import model

    probs = scipy.special.softmax(rng.normal(0, 3, (40, 7)), axis=1).astype(np.float32)
    probs[0, :3] = 0.0  # 0 log 0 = 0
    probs[0] /= probs[0].sum()
    terms = model.kl_terms_from_predictions(probs)
    p_y = probs.astype(np.float64).mean(axis=0)
    direct = [scipy.special.rel_entr(p.astype(np.float64), p_y).sum() for p in probs]
    np.testing.assert_allclose(terms, direct, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.exp(np.mean(terms)), model.inception_score_from_predictions(probs, 1)[0],
                               rtol=1e-6)
    with pytest.raises(ValueError):
        model.kl_terms_from_predictions(np.zeros((0, 3)))


def test_top_percent_keeps_the_best_images_by_kl_term(tmp_path, monkeypatch):
    from inception_score import fake_graph, model

    monkeypatch.setenv(model.ENV_NO_DOWNLOAD, "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    graph_def, _ = fake_graph.small_graph_def(image_size=16)
    fake_graph.write_graph(graph_def, str(tmp_path / "graph"))
    rng = np.random.RandomState(3)
    colours = rng.uniform(0, 255, (40, 1, 1, 3))  # a colour per image, so the fake network's predictions differ
    generated = np.clip(colours + rng.normal(0, 30, (40, 12, 12, 3)), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "g.npz", x=generated)
    np.savez(tmp_path / "r.npz", x=rng.randint(0, 256, (20, 12, 12, 3), np.uint8))
    (tmp_path / "s.toml").write_text('inception_model_dir = "graph"\n'
                                     + COND.replace("n_generated = 4", "n_generated = 10") + "top_percent = 25\n")
    study = load_study(str(tmp_path / "s.toml"))
    cond = study.conditions["c"]
    assert cond.top_count == 10 and cond.generated_pool is None and study.needs_inception()
    store = Store(str(tmp_path / "v.sqlite"))
    assert store.register_conditions(study) == {}
    select_top(study)
    terms = model.get_kl_terms(generated, model_dir=str(tmp_path / "graph"))
    assert len(np.unique(np.round(terms, 4))) == 40
    assert sorted(cond.generated_pool) == sorted(np.argsort(-terms)[:10])
    assert terms[cond.generated_pool].min() > np.delete(terms, cond.generated_pool).max()
    store.save_pools(study)
    # Served images come from the kept ones only; a restart reuses the stored ranking.
    client = new_client(create_app(study, store))
    for _ in range(14):
        nxt = client.get("/api/next?c=c").get_json()
        kind, index = which(decode(client.get(nxt["image"]).data), study, "c")
        assert kind == "real" or index in set(cond.generated_pool)
        client.post("/api/vote", json={"token": nxt["token"], "condition": "c", "answer": "real"})
    again = load_study(str(tmp_path / "s.toml"))
    cached = Store(store.path).register_conditions(again)
    assert cached == {"c": [int(i) for i in cond.generated_pool]}
    # Without the graph: one line naming the condition, no traceback.
    (tmp_path / "s.toml").write_text(COND + "top_percent = 50\n")
    with pytest.raises(StudyError, match="condition 'c': top_percent needs the Inception graph: .*not found"):
        select_top(load_study(str(tmp_path / "s.toml")))


# --------------------------------------------------------------------------------------------------------------
# Command line


def cli(*args, timeout=60, cwd=None):
    env = dict(os.environ, PYTHONPATH=REPO, INCEPTION_NO_DOWNLOAD="1")
    return subprocess.run([sys.executable, "-m", "improved_gan_tf2.turing", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def assert_one_line_error(out, pattern):
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(pattern, lines[0]), out.stderr


def test_cli_serve_errors_are_one_line(tmp_path):
    path = write_raw(tmp_path, COND.replace('"r.npz"', '"nope.npz"'), g=GOOD)
    assert_one_line_error(cli("serve", "--study", path, "--db", str(tmp_path / "v.sqlite")),
                          "real: .*nope.npz: no such file")
    path = write_raw(tmp_path, COND, g=GOOD, r=GOOD)
    assert_one_line_error(cli("serve", "--study=" + path, "--db=" + str(tmp_path / "no" / "dir" / "v.sqlite")),
                          "cannot open the votes database")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert_one_line_error(cli("serve", "--study=" + path, "--db=" + str(tmp_path / "v.sqlite"),
                                  "--port=%d" % port), "cannot listen on 127.0.0.1:%d \\(.*in use" % port)
    assert sorted(os.listdir(tmp_path)) == ["g.npz", "r.npz", "s.toml"]  # a refused start leaves no database
    assert_one_line_error(cli("report", "--db=" + str(tmp_path / "missing.sqlite")), "no such database")


def test_cli_truncated_npz_is_a_one_line_error(tmp_path):
    path = write_raw(tmp_path, COND, g=GOOD, r=GOOD)
    data = (tmp_path / "g.npz").read_bytes()
    (tmp_path / "g.npz").write_bytes(data[:len(data) // 2])  # a copy cut short: not a zip file any more
    assert_one_line_error(cli("serve", "--study=" + path, "--db=" + str(tmp_path / "v.sqlite")),
                          "condition 'c': generated: .*g.npz: cannot read the array: it is damaged or cut short \\(")


def test_cli_serve_make_study_and_report(tmp_path):
    rng = np.random.RandomState(0)
    np.savez(tmp_path / "g.npz", samples=rng.randint(0, 256, (30, 8, 8, 3), np.uint8))
    np.savez(tmp_path / "r.npz", x=rng.randint(0, 256, (12, 8, 8, 3), np.uint8), y=np.arange(12))
    study = str(tmp_path / "study.toml")
    out = cli("make-study", "--generated", str(tmp_path / "g.npz"), "--real", str(tmp_path / "r.npz"),
              "--real_key=x", "--out=" + study, "--feedback")
    assert out.returncode == 0, out.stderr
    made = load_study(study)
    cond = made.conditions["main"]
    assert cond.feedback and cond.n_generated == cond.n_real == 12  # balanced, as many as there are real images
    assert_one_line_error(cli("make-study", "--generated", str(tmp_path / "g.npz"), "--real", str(tmp_path / "r.npz"),
                              "--real_key=x", "--out=" + study), "exists; pass --force")
    assert_one_line_error(cli("make-study", "--generated", str(tmp_path / "g.npz"), "--real", str(tmp_path / "r.npz"),
                              "--out=" + str(tmp_path / "other.toml")), "holds 2 arrays \\(x, y\\): choose one with "
                          "--real_key")
    bad = str(tmp_path / "bad.toml")
    assert_one_line_error(cli("make-study", "--generated", str(tmp_path / "g.npz"), "--real", str(tmp_path / "r.npz"),
                              "--real_key=x", "--out=" + bad, "--top_percent=250"),
                          "bad.toml: condition 'main': top_percent must be in \\(0, 100\\], got 250")
    assert not os.path.exists(bad) and not os.path.exists(bad + ".tmp")
    # serve on a free port, one vote over HTTP, stop, report
    from improved_gan_tf2.turing.testing import HttpAnnotator

    db = str(tmp_path / "v.sqlite")
    proc = subprocess.Popen([sys.executable, "-m", "improved_gan_tf2.turing", "serve", "--study=" + study,
                             "--db=" + db, "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=REPO))
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Serving"):
                break
        base = re.search(r"at (http://127\.0\.0\.1:\d+)/", lines[-1]).group(1)
        assert "condition main: 12 of 30 generated + 12 of 12 real images per annotator, feedback on" in lines[0]
        annotator = HttpAnnotator(base)
        assert annotator.start() == 303
        status, nxt = annotator.next("main")
        assert status == 200 and nxt["total"] == 24
        assert annotator.image(nxt["token"])[0] == 200
        status, vote = annotator.vote(nxt["token"], "main", "real", 321)
        assert status == 200 and vote["truth"] in ("real", "generated")
        annotator.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    out = cli("report", "--db=" + db, "--out=" + str(tmp_path / "rep"))
    assert out.returncode == 0, out.stderr
    assert re.search(r"\| main \| yes \| 1 \| 1 \(0\) \| (0\.0|100\.0) % \[", out.stdout)
    assert (tmp_path / "rep" / "report.csv").exists() and (tmp_path / "rep" / "votes.csv").exists()
