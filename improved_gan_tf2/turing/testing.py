"""Helpers for tests and for checking a deployment: write a study of tiny images, run waitress in a background
thread, and a simulated annotator speaking HTTP (``http.client``, its own cookie and keep-alive connection).

Point :class:`HttpAnnotator` only at a server of your own (e.g. on 127.0.0.1).
"""
import contextlib
import http.client
import json
import os
import threading
import time

import numpy as np

from improved_gan_tf2.turing.study import write_study_file


def write_study(directory, conditions, shape=(8, 8, 3), n_images=40, seed=0, **top):
    """Write ``generated.npz`` (key ``samples``), ``real.npz`` (keys ``x`` and ``y``, as a labelled data set)
    of ``n_images`` random uint8 images of ``shape`` and ``study.toml`` with ``conditions``: a list of dicts of
    condition keys (``generated``/``real`` and the keys default to these files). ``top``: extra top-level keys.
    Returns the study file's path."""
    rng = np.random.RandomState(seed)
    os.makedirs(directory, exist_ok=True)
    np.savez(os.path.join(directory, "generated.npz"), samples=rng.randint(0, 256, (n_images,) + shape, np.uint8))
    np.savez(os.path.join(directory, "real.npz"), x=rng.randint(0, 256, (n_images,) + shape, np.uint8),
             y=rng.randint(0, 10, n_images))
    conditions = [dict({"generated": "generated.npz", "real": "real.npz", "real_key": "x"}, **c) for c in conditions]
    path = os.path.join(directory, "study.toml")
    write_study_file(path, conditions, **top)
    return path


@contextlib.contextmanager
def running_server(study_path, db_path, threads=8, log=None, new_annotators_per_minute=None):
    """``(base_url, study, store)`` of the study served by waitress on 127.0.0.1 on a free port, in a daemon
    thread, for the duration of the ``with`` block."""
    from improved_gan_tf2.turing.server import prepare, stop, url

    server, study, store = prepare(study_path, db_path, host="127.0.0.1", port=0, threads=threads, log=log,
                                   new_annotators_per_minute=new_annotators_per_minute)
    stopping = threading.Event()

    def run():
        try:
            server.run()
        except OSError:  # select() on a socket that stop() closed under it
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, name="waitress", daemon=True)
    thread.start()
    try:
        yield url(server).rstrip("/"), study, store
    finally:
        stopping.set()
        stop(server)
        thread.join(timeout=5)


class HttpAnnotator:
    """One simulated annotator: its own connection and cookie. Each call returns ``(status, parsed body)`` and
    appends ``(what, seconds)`` to ``timings``; ``last_headers`` holds the last response's headers."""

    def __init__(self, base_url, timeout=15.0):
        host_port = base_url.split("://", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
        self.cookie = None
        self.timings = []
        self.last_headers = []  #: the (name, value) headers of the last response

    def request(self, method, path, body=None, what=None):
        headers = {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        start = time.perf_counter()
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        self.last_headers = response.getheaders()
        self.timings.append((what or method + " " + path.split("?")[0], time.perf_counter() - start))
        for header in response.headers.get_all("Set-Cookie") or []:
            if header.startswith("turing_annotator="):
                self.cookie = header.split(";", 1)[0]
        if response.headers.get("Content-Type", "").startswith("application/json"):
            payload = json.loads(payload)
        return response.status, payload

    def start(self, path="/"):
        """Open the study (``/`` or ``/c/NAME``): the server gives this annotator its id."""
        status, _ = self.request("GET", path, what="page")
        return status

    def next(self, condition):
        return self.request("GET", "/api/next?c=" + condition, what="next")

    def image(self, token):
        return self.request("GET", "/img/" + token, what="image")

    def vote(self, token, condition, answer, client_ms=None):
        return self.request("POST", "/api/vote", {"token": token, "condition": condition, "answer": answer,
                                                  "client_ms": client_ms}, what="vote")

    def close(self):
        self.connection.close()
