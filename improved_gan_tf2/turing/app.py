"""The web application (Flask, served by waitress): one image at a time, a vote, the next image.

Routes:

- ``GET /``: gives a new visitor a signed annotator id (cookie; nothing is written) and sends them to a
  condition's page;
- ``GET /c/NAME``: the page of condition NAME (also gives an id to a new visitor); ``/c/NAME/`` redirects there;
- ``GET /api/next?c=NAME``: the annotator's next image as JSON (its random token and URL, progress), or done; the
  first call records the annotator (429 past :data:`NEW_ANNOTATORS_PER_MINUTE` new ones a minute);
- ``GET /img/TOKEN``: that image, an uncompressed PNG of the loaded array padded to the study's one byte size
  (only to the annotator it was served to; the token says nothing about the image);
- ``POST /api/vote``: JSON ``{token, condition, answer: "real" | "generated", client_ms}``; 200 with the truth when
  the condition gives feedback (plain mode: no truth), 400 for a malformed vote or another condition's image,
  403 without an annotator id, 404 for an image not served to this annotator, 409 for one already answered, 413
  for a body over :data:`MAX_BODY_BYTES`;
- ``GET /static/turing.js``, ``GET /static/turing.css``: the page's script and style.
"""
import collections
import math
import struct
import threading
import time
import zlib

import numpy as np
from flask import Flask, Response, jsonify, redirect, request

from improved_gan_tf2.turing import page
from improved_gan_tf2.turing.store import NEW_ANNOTATORS_PER_MINUTE, VoteRejected

COOKIE = "turing_annotator"
COOKIE_MAX_AGE = 365 * 24 * 3600
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


#: The largest request body taken (a vote is about 150 bytes): a larger one is refused with 413 before it is read,
#: by waitress (``max_request_body_size``) and by Flask (``MAX_CONTENT_LENGTH``).
MAX_BODY_BYTES = 8192

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The chunk that pads every image of a study to one byte size: ancillary, private, safe to copy (PNG 1.2,
#: Sec. 3.3); decoders skip it.
PAD_CHUNK = b"paDd"
CHUNK_OVERHEAD = 12  # length, type, CRC
STORED_BLOCK = 65535  # the most a stored (uncompressed) deflate block holds


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_size(shape):
    """The byte size of :func:`encode_png` of an ``(H, W, C)`` image without padding: a function of the shape
    alone."""
    height, width, channels = shape
    raw = height * (1 + width * channels)  # a filter byte per row
    idat = 2 + raw + 5 * -(-raw // STORED_BLOCK) + 4  # zlib header, stored blocks, Adler-32
    return len(PNG_SIGNATURE) + (CHUNK_OVERHEAD + 13) + (CHUNK_OVERHEAD + idat) + CHUNK_OVERHEAD


def encode_png(image, size=None):
    """PNG bytes of one HxWxC uint8 image (C = 1: grayscale), uncompressed (zlib stored blocks, no filter), so
    that the size depends on the shape alone, never on the pixels (a compressed PNG's size tells a noisy generated
    image from a clean real one). ``size``: pad with a :data:`PAD_CHUNK` to exactly this many bytes (at least
    ``png_size(image.shape) + 12``)."""
    height, width, channels = image.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, width * channels)], axis=1)
    raw = rows.tobytes()
    blocks = [raw[start:start + STORED_BLOCK] for start in range(0, len(raw), STORED_BLOCK)]
    zlib_stream = b"".join(
        [b"\x78\x01"]
        + [struct.pack("<BHH", index == len(blocks) - 1, len(block), len(block) ^ 0xFFFF) + block
           for index, block in enumerate(blocks)]
        + [struct.pack(">I", zlib.adler32(raw))])
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    parts = [PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", zlib_stream)]
    if size is not None:
        padding = size - png_size(image.shape) - CHUNK_OVERHEAD
        if padding < 0:
            raise ValueError("size %d is less than the %d bytes of a padded %s image"
                             % (size, png_size(image.shape) + CHUNK_OVERHEAD, "x".join(map(str, image.shape))))
        parts.append(_chunk(PAD_CHUNK, bytes(padding)))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


class StudyImages:
    """The PNG bytes of the images of a study, every one of them :attr:`size` bytes long (the largest image shape
    of the study, padded): neither the size nor the work of serving an image depends on its pixels or on whether
    it is real. Encoded at each request (microseconds), so that no image is served faster for having been served
    before (a generated pool smaller than the real set would be cached sooner)."""

    def __init__(self, study):
        self.study = study
        shapes = [s.shape for c in study.conditions.values() for s in (c.generated, c.real)]
        self.size = max(png_size(shape) for shape in shapes) + CHUNK_OVERHEAD

    def get(self, condition, image_id):
        cond = self.study.conditions[condition]
        images = cond.generated.images if image_id[0] == "g" else cond.real.images
        return encode_png(images[int(image_id[1:])], self.size)


class RateLimit:
    """At most ``per_minute`` events in any 60 seconds, shared by the server's threads."""

    def __init__(self, per_minute):
        self.per_minute = per_minute
        self._times = collections.deque()
        self._lock = threading.Lock()

    def take(self):
        """0 when an event may happen now (and counts it), else the seconds until one may."""
        with self._lock:
            now = time.monotonic()
            while self._times and now - self._times[0] >= 60.0:
                self._times.popleft()
            if len(self._times) < self.per_minute:
                self._times.append(now)
                return 0
            return max(1, math.ceil(60.0 - (now - self._times[0])))


def create_app(study, store, new_annotators_per_minute=NEW_ANNOTATORS_PER_MINUTE):
    """The Flask app serving ``study`` (a loaded :class:`~improved_gan_tf2.turing.study.Study` whose generated
    pools are set) with votes in ``store`` (a :class:`~improved_gan_tf2.turing.store.Store`).

    A visitor gets a signed annotator id in a cookie without anything being written; the annotator is recorded
    when their first image is drawn (``/api/next``), at most ``new_annotators_per_minute`` a minute, so that
    neither a crawler opening pages nor a script drawing images can fill the database."""
    missing = [c.name for c in study.conditions.values() if c.generated_pool is None]
    if missing:
        raise ValueError("the generated pools of %s are not selected yet (select_top)" % ", ".join(missing))
    app = Flask(__name__)
    app.config["TURING_STUDY"] = study
    app.config["TURING_STORE"] = store
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    images = StudyImages(study)
    new_annotators = RateLimit(new_annotators_per_minute)
    names = list(study.conditions)

    def annotator():
        """The annotator id of the request's cookie, or None (no cookie, or one this server did not sign)."""
        return store.annotator_of_cookie(request.cookies.get(COOKIE))

    def with_annotator(response, current):
        """Set the annotator cookie on ``response`` for a visitor who has none (or an invalid one)."""
        if current is None:
            response.set_cookie(COOKIE, store.new_annotator_cookie(), max_age=COOKIE_MAX_AGE, httponly=True,
                                samesite="Lax", path="/")
        return response

    def error(status, message):
        response = jsonify(error=message)
        response.status_code = status
        return response

    @app.after_request
    def headers(response):
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if request.path.startswith(("/api/", "/c/")) or request.path == "/":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def index():
        current = annotator()
        name = store.condition_for(current or "", names)
        return with_annotator(redirect("/c/" + name, code=303), current)

    @app.get("/c/<name>")
    def condition_page(name):
        if name not in study.conditions:
            return Response(page.render_not_found("There is no condition of this name."), status=404,
                            mimetype="text/html")
        cond = study.conditions[name]
        body = page.render_page(study.title, study.instructions, name, cond.feedback)
        return with_annotator(Response(body, mimetype="text/html"), annotator())

    @app.get("/c/<name>/")
    def condition_page_with_slash(name):
        if name not in study.conditions:
            return condition_page(name)
        return redirect("/c/" + name, code=308)

    @app.get("/static/turing.js")
    def script():
        return Response(page.JS, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})

    @app.get("/static/turing.css")
    def style():
        return Response(page.CSS, mimetype="text/css", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico")
    def favicon():
        return Response(status=204)

    @app.get("/api/next")
    def next_image():
        current = annotator()
        if current is None:
            return error(403, "no annotator id: open the study's page first")
        name = request.args.get("c", "")
        if name not in study.conditions:
            return error(404, "no condition named %r" % name[:80])
        cond = study.conditions[name]
        if not store.annotator_recorded(current):
            wait = new_annotators.take()
            if wait:
                response = jsonify(error="too many new annotators in the last minute; try again in %d s" % wait,
                                   retry_after=wait)
                response.status_code = 429
                response.headers["Retry-After"] = str(wait)
                return response
        state = store.next_image(current, cond)
        out = {"condition": name, "feedback": cond.feedback, "answered": state["answered"], "total": state["total"],
               "done": state["token"] is None}
        if cond.feedback:
            out["correct"] = state["correct"]
        if state["token"] is not None:
            out.update(token=state["token"], image="/img/" + state["token"], position=state["position"])
        return jsonify(out)

    @app.get("/img/<token>")
    def image(token):
        found = store.served_image(annotator(), token)  # None for a missing or invalid cookie
        if found is None or found[0] not in study.conditions:
            return error(404, "no such image")
        return Response(images.get(*found), mimetype="image/png",
                        headers={"Cache-Control": "private, max-age=86400"})

    @app.post("/api/vote")
    def vote():
        current = annotator()
        if current is None:
            return error(403, "no annotator id: open the study's page first")
        data = request.get_json(silent=True)
        if not request.is_json or not isinstance(data, dict):
            return error(400, "expected a JSON object {token, condition, answer}")
        name = data.get("condition")
        if not isinstance(name, str) or name not in study.conditions:
            return error(400, "unknown condition")
        cond = study.conditions[name]
        try:
            result = store.vote(current, data.get("token"), cond, data.get("answer"), data.get("client_ms"))
        except VoteRejected as e:
            return error(e.status, str(e))
        out = {"accepted": True, "answered": result["answered"], "total": result["total"],
               "done": result["answered"] >= result["total"]}
        if cond.feedback:
            out.update(correct=result["correct"], truth=result["truth"], correct_so_far=result["correct_so_far"])
        return jsonify(out)

    return app
