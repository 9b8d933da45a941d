"""The web application (Flask, served by waitress): one image at a time, a vote, the next image.

Routes:

- ``GET /``: gives a new visitor an annotator id (cookie) and sends them to a condition's page;
- ``GET /c/NAME``: the page of condition NAME (also gives an id to a new visitor);
- ``GET /api/next?c=NAME``: the annotator's next image as JSON (its random token and URL, progress), or done;
- ``GET /img/TOKEN``: that image, PNG-encoded in memory from the loaded arrays (only to the annotator it was
  served to; the token says nothing about the image);
- ``POST /api/vote``: JSON ``{token, condition, answer: "real" | "generated", client_ms}``; 200 with the truth when
  the condition gives feedback (plain mode: no truth), 400 for a malformed vote or another condition's image,
  403 without an annotator id, 404 for an image not served to this annotator, 409 for one already answered;
- ``GET /static/turing.js``, ``GET /static/turing.css``: the page's script and style.
"""
import io

from flask import Flask, Response, jsonify, redirect, request

from improved_gan_tf2.turing import page
from improved_gan_tf2.turing.store import VoteRejected

COOKIE = "turing_annotator"
COOKIE_MAX_AGE = 365 * 24 * 3600
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def encode_png(image):
    """PNG bytes of one HxWxC uint8 image (C = 1: grayscale)."""
    from PIL import Image

    array = image[..., 0] if image.shape[-1] == 1 else image
    buffer = io.BytesIO()
    Image.fromarray(array, "L" if array.ndim == 2 else "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


class ImageCache:
    """PNG bytes by (condition, image id), encoded on first use from the condition's arrays. Shared by the
    server's threads without a lock: a dict's get and item assignment are atomic, and two threads encoding the same
    image at once store the same bytes."""

    def __init__(self, study):
        self.study = study
        self._cache = {}

    def get(self, condition, image_id):
        key = (condition, image_id)
        data = self._cache.get(key)
        if data is None:
            cond = self.study.conditions[condition]
            images = cond.generated.images if image_id[0] == "g" else cond.real.images
            data = encode_png(images[int(image_id[1:])])
            self._cache[key] = data
        return data


def create_app(study, store):
    """The Flask app serving ``study`` (a loaded :class:`~improved_gan_tf2.turing.study.Study` whose generated
    pools are set) with votes in ``store`` (a :class:`~improved_gan_tf2.turing.store.Store`)."""
    missing = [c.name for c in study.conditions.values() if c.generated_pool is None]
    if missing:
        raise ValueError("the generated pools of %s are not selected yet (select_top)" % ", ".join(missing))
    app = Flask(__name__)
    app.config["TURING_STUDY"] = study
    app.config["TURING_STORE"] = store
    images = ImageCache(study)
    names = list(study.conditions)

    def annotator():
        value = request.cookies.get(COOKIE)
        return value if store.annotator_exists(value) else None

    def with_annotator(response, current):
        """Set the annotator cookie on ``response`` for a visitor who has none (or an unknown one)."""
        if current is None:
            response.set_cookie(COOKIE, store.create_annotator(), max_age=COOKIE_MAX_AGE, httponly=True,
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
        found = store.served_image(request.cookies.get(COOKIE), token)  # None for a missing or unknown cookie
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
