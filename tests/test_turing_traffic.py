"""What an annotator of the visual Turing test can learn from the traffic (``docs/turing.md``): over a whole study,
served by waitress, real and generated images come at one byte size, with the same headers, URLs of the same
form and response times that do not tell them apart; request bodies are bounded; a visitor who only opens pages
leaves nothing in the database.
"""
import os
import re
import socket
import sqlite3
import time

import numpy as np
import pytest

from improved_gan_tf2.turing.app import COOKIE, create_app
from improved_gan_tf2.turing.store import Store
from improved_gan_tf2.turing.study import load_study, write_study_file
from improved_gan_tf2.turing.testing import HttpAnnotator, running_server

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_SAMPLE = os.path.join(REPO, "improved_gan_tf2", "data", "mnist_sample.npz")
#: Response headers that differ between any two responses whatever they carry.
VOLATILE_HEADERS = {"date", "set-cookie"}


def separability(values, truths):
    """How often the best rule "generated if value > t" (or "< t") is right over ``(value, truth)`` pairs: 0.5 to
    1; about 0.5 plus noise when ``values`` say nothing about ``truths``."""
    values = np.asarray(values, np.float64)
    generated = np.asarray([t == "generated" for t in truths])
    best = 0.5
    for threshold in np.unique(values):
        right = np.mean((values > threshold) == generated)
        best = max(best, right, 1.0 - right)
    return float(best)


def write_digit_study(directory, conditions=None):
    """A study of 40 real MNIST digits (the shipped sample) against 40 "generated" ones: other digits of the
    sample with pixel noise, as a generator's output has (they compress worse: the size of a default PNG gives the
    answer away). With ``conditions`` (dicts of condition keys) instead of the one condition that shows all 80."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.RandomState(0)
    digits = np.load(MNIST_SAMPLE)["x"]
    real = digits[:40]
    noisy = digits[40:80].astype(np.float64) + rng.normal(0, 25, (40, 28, 28)) * (digits[40:80] > 0)
    np.savez(os.path.join(directory, "real.npz"), x=real)
    np.savez(os.path.join(directory, "generated.npz"), samples=np.clip(noisy, 0, 255).round().astype(np.uint8))
    rgb = rng.randint(0, 256, (40, 8, 8, 3), np.uint8)
    np.savez(os.path.join(directory, "rgb.npz"), g=rgb[:20], r=rgb[20:])
    base = {"generated": "generated.npz", "real": "real.npz", "feedback": False}
    conditions = conditions or [{"name": "digits", "n_generated": 40, "n_real": 40}]
    path = os.path.join(directory, "study.toml")
    write_study_file(path, [dict(base, **c) for c in conditions])
    return path


def test_separability_finds_what_separates():
    truths = ["generated"] * 50 + ["real"] * 50
    assert separability(list(range(100)), truths) == 1.0
    assert separability([412] * 50 + [283] * 50, truths) == 1.0
    assert separability([1] * 100, truths) == 0.5
    noise = np.random.RandomState(0).normal(size=100)
    assert separability(noise, truths) < 0.7


def test_default_png_sizes_give_the_answer_away(tmp_path):
    """The planted bug: the study's images encoded as Pillow's default PNG; ``separability`` sees it."""
    import io

    from PIL import Image

    path = write_digit_study(str(tmp_path / "study"))
    cond = load_study(path).conditions["digits"]
    sizes, truths = [], []
    for kind, images in (("generated", cond.generated.images), ("real", cond.real.images)):
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image[..., 0]).save(buffer, format="PNG")
            sizes.append(len(buffer.getvalue()))
            truths.append(kind)
    assert separability(sizes, truths) > 0.8


def fetch_whole_study(base, store, condition, annotators=1):
    """Each annotator answers every image of ``condition`` over HTTP; returns one dict per image fetch: truth,
    URL, status, headers, body size and response time."""
    fetches = []
    for _ in range(annotators):
        annotator = HttpAnnotator(base)
        assert annotator.start("/c/" + condition) == 200
        while True:
            status, nxt = annotator.next(condition)
            assert status == 200
            if nxt["done"]:
                break
            start = time.perf_counter()
            status, body = annotator.image(nxt["token"])
            seconds = time.perf_counter() - start
            truth = sqlite3.connect(store.path).execute("SELECT truth FROM served WHERE token = ?",
                                                        (nxt["token"],)).fetchone()[0]
            headers = {k.lower(): v for k, v in annotator.last_headers if k.lower() not in VOLATILE_HEADERS}
            fetches.append(dict(truth=truth, url=nxt["image"], status=status, headers=headers, size=len(body),
                                seconds=seconds, body=body))
            assert annotator.vote(nxt["token"], condition, "real")[0] == 200
        annotator.close()
    return fetches


def test_a_whole_study_tells_nothing_but_the_pixels(tmp_path):
    """Over every image of a study: one byte size, the same headers, URLs of one form, response times that do
    not separate real from generated; and the bytes are a PNG of the array's pixels."""
    from io import BytesIO

    from PIL import Image

    path = write_digit_study(str(tmp_path / "study"), [
        {"name": "digits", "n_generated": 40, "n_real": 40},
        {"name": "rgb", "generated": "rgb.npz", "generated_key": "g", "real": "rgb.npz", "real_key": "r",
         "n_generated": 20, "n_real": 20}])
    with running_server(path, str(tmp_path / "votes.sqlite")) as (base, study, store):
        fetches = fetch_whole_study(base, store, "digits", annotators=3)
        fetches += fetch_whole_study(base, store, "rgb")
    assert len(fetches) == 3 * 80 + 40 and all(f["status"] == 200 for f in fetches)
    # one byte size for every image of the study, real or generated, whatever the condition's image shape
    assert {f["size"] for f in fetches} == {fetches[0]["size"]}
    assert {f["headers"]["content-length"] for f in fetches} == {str(fetches[0]["size"])}
    # the same headers, and URLs of one form (a random token of one length and alphabet)
    assert len({tuple(sorted(f["headers"].items())) for f in fetches}) == 1
    assert all(re.fullmatch(r"/img/[A-Za-z0-9_-]{24}", f["url"]) for f in fetches)
    # response times: no better than chance plus noise (the same work for every image)
    digits = fetches[:240]
    assert separability([f["seconds"] for f in digits], [f["truth"] for f in digits]) < 0.7
    # still the array's pixels
    cond = study.conditions["digits"]
    pixels = {np.asarray(Image.open(BytesIO(f["body"]))).tobytes() for f in fetches[:80]}
    expected = {a[..., 0].tobytes() for a in cond.real.images} | {a[..., 0].tobytes() for a in cond.generated.images}
    assert pixels == expected


# --------------------------------------------------------------------------------------------------------------
# Request bodies are bounded; visitors who only look create nothing


def test_an_oversized_body_is_refused_before_it_is_read(tmp_path):
    path = write_digit_study(str(tmp_path / "study"))
    with running_server(path, str(tmp_path / "votes.sqlite")) as (base, _, _):
        port = int(base.rsplit(":", 1)[1])
        for framing in ("Content-Length: 20000000\r\n", "Transfer-Encoding: chunked\r\n"):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
                head = ("POST /api/vote HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + framing + "\r\n").encode()
                body = b"x" * 65536
                if framing.startswith("Transfer"):
                    body = b"%x\r\n%s\r\n" % (len(body), body)
                try:
                    connection.sendall(head + body)  # 64 KiB of the 20 MB announced: a server reading it all waits
                except OSError:  # the server may close before taking all of it
                    pass
                reply = connection.recv(4096)
            assert reply.startswith(b"HTTP/1.1 413"), (framing, reply[:200])


def test_flask_refuses_a_large_vote_with_413(tmp_path):
    study = load_study(write_digit_study(str(tmp_path / "study")))
    store = Store(str(tmp_path / "votes.sqlite"))
    store.register_conditions(study)
    client = create_app(study, store).test_client()
    client.get("/")
    response = client.post("/api/vote", data=b'{"token": "' + b"x" * 100000 + b'"}',
                           content_type="application/json")
    assert response.status_code == 413


def annotator_rows(store):
    return sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM annotators").fetchone()[0]


def test_pages_opened_without_a_cookie_create_no_annotator(tmp_path):
    study = load_study(write_digit_study(str(tmp_path / "study")))
    store = Store(str(tmp_path / "votes.sqlite"))
    store.register_conditions(study)
    app = create_app(study, store)
    for i in range(100):
        client = app.test_client()  # a crawler: no cookie kept
        assert client.get("/" if i % 2 else "/c/digits").status_code in (200, 303)
    assert annotator_rows(store) == 0
    # an annotator is recorded when their first image is drawn, under the id of the cookie they were given
    client = app.test_client()
    client.get("/c/digits")
    assert client.get("/api/next?c=digits").status_code == 200
    assert annotator_rows(store) == 1
    cookie = client.get_cookie(COOKIE).value
    assert sqlite3.connect(store.path).execute("SELECT id FROM annotators").fetchone()[0] == cookie.split(".")[0]


def test_forged_cookies_are_not_annotators(tmp_path):
    study = load_study(write_digit_study(str(tmp_path / "study")))
    store = Store(str(tmp_path / "votes.sqlite"))
    store.register_conditions(study)
    app = create_app(study, store)
    client = app.test_client()
    client.get("/c/digits")
    good = client.get_cookie(COOKIE).value
    ident, signature = good.split(".")
    for forged in ("0" * 32 + "." + signature, ident + "." + "0" * len(signature), ident, "x" * 70):
        other = app.test_client()
        other.set_cookie(COOKIE, forged)
        assert other.get("/api/next?c=digits").status_code == 403, forged
    assert annotator_rows(store) == 0


def test_new_annotators_are_rate_bounded(tmp_path):
    study = load_study(write_digit_study(str(tmp_path / "study")))
    store = Store(str(tmp_path / "votes.sqlite"))
    store.register_conditions(study)
    app = create_app(study, store, new_annotators_per_minute=5)
    statuses = []
    for _ in range(12):
        client = app.test_client()
        client.get("/c/digits")
        response = client.get("/api/next?c=digits")
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert "try again" in response.get_json()["error"] and int(response.headers["Retry-After"]) > 0
    assert statuses.count(200) == 5 and statuses.count(429) == 7
    assert annotator_rows(store) == 5


def test_a_condition_address_with_a_trailing_slash_redirects(tmp_path):
    study = load_study(write_digit_study(str(tmp_path / "study")))
    store = Store(str(tmp_path / "votes.sqlite"))
    store.register_conditions(study)
    client = create_app(study, store).test_client()
    response = client.get("/c/digits/")
    assert response.status_code in (301, 308) and response.headers["Location"].endswith("/c/digits")
    assert client.get("/c/digits/", follow_redirects=True).status_code == 200
    assert client.get("/c/nope/").status_code == 404


@pytest.mark.parametrize("shape", [(28, 28, 1), (8, 8, 3), (300, 257, 3)])
def test_stored_png_is_a_png_of_the_pixels_at_a_size_set_by_the_shape(shape):
    from io import BytesIO

    from PIL import Image

    from improved_gan_tf2.turing.app import encode_png, png_size

    rng = np.random.RandomState(1)
    sizes = set()
    for image in (np.zeros(shape, np.uint8), rng.randint(0, 256, shape, np.uint8)):
        data = encode_png(image)
        sizes.add(len(data))
        decoded = np.asarray(Image.open(BytesIO(data)))
        np.testing.assert_array_equal(decoded, image[..., 0] if shape[-1] == 1 else image)
        padded = encode_png(image, size=png_size(shape) + 100)
        assert len(padded) == png_size(shape) + 100
        np.testing.assert_array_equal(np.asarray(Image.open(BytesIO(padded))), decoded)
    assert sizes == {png_size(shape)}
