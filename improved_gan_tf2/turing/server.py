"""Serving a study with waitress: everything that can fail (study file, database, port, Inception graph) fails
before the first request is taken, and a start that fails leaves no votes database it created."""
import os
import sys
import threading

from improved_gan_tf2.turing.study import TuringError


def lazy_app(study, store, new_annotators_per_minute=None):
    """A WSGI app that builds the Flask app at its first request, once the generated pools are selected (the
    port is bound before the top_percent ranking, which can take minutes, so that a busy port fails first)."""
    from improved_gan_tf2.turing.app import create_app
    from improved_gan_tf2.turing.store import NEW_ANNOTATORS_PER_MINUTE

    state, lock = {}, threading.Lock()

    def app(environ, start_response):
        if "app" not in state:
            with lock:
                if "app" not in state:
                    state["app"] = create_app(study, store, new_annotators_per_minute or NEW_ANNOTATORS_PER_MINUTE)
        return state["app"](environ, start_response)

    return app


def listen_addresses(server):
    """[(host, port)] a waitress server listens on."""
    if hasattr(server, "effective_listen"):  # several sockets (e.g. 'localhost' on IPv4 and IPv6)
        return list(server.effective_listen)
    return [(server.effective_host, server.effective_port)]


def url(server, path="/"):
    host, port = listen_addresses(server)[0]
    return "http://%s:%s%s" % ("[%s]" % host if ":" in str(host) else host, port, path)


def prepare(study_path, db_path, host="127.0.0.1", port=8000, threads=8, batch_size=100, log=sys.stderr,
            new_annotators_per_minute=None):
    """Load and check the study, open the votes database, bind the port, rank the generated images of the
    top_percent conditions; returns ``(server, study, store)`` with ``server.run()`` left to the caller.
    Raises :class:`TuringError` (one line) for any user error; a database this call created is removed then."""
    from improved_gan_tf2.turing.study import load_study

    study = load_study(study_path)
    created = not os.path.exists(db_path)
    try:
        return _prepare(study, db_path, host, port, threads, batch_size, log, new_annotators_per_minute)
    except BaseException:
        if created:
            remove_database(db_path)
        raise


def remove_database(db_path):
    """Remove a votes database and its WAL files (after a start that failed)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(db_path + suffix)
        except OSError:  # not there (or never could be: a path under a file)
            pass


def _prepare(study, db_path, host, port, threads, batch_size, log, new_annotators_per_minute):
    import waitress

    from improved_gan_tf2.turing.app import MAX_BODY_BYTES
    from improved_gan_tf2.turing.store import Store
    from improved_gan_tf2.turing.study import select_top

    store = Store(db_path)
    try:
        cached = store.register_conditions(study)
        for cond in study.conditions.values():
            if cond.n_generated != cond.n_real and log:
                print("note: condition '%s' shows %d generated and %d real images: chance accuracy is not 50 %%"
                      % (cond.name, cond.n_generated, cond.n_real), file=log)
        try:
            server = waitress.create_server(lazy_app(study, store, new_annotators_per_minute), host=host, port=port,
                                            threads=threads, ident="turing", max_request_body_size=MAX_BODY_BYTES)
        except (OSError, ValueError) as e:
            raise TuringError("cannot listen on %s:%s (%s)" % (host, port, getattr(e, "strerror", None) or e))
    except BaseException:
        store.close()
        raise
    try:
        if study.needs_inception():
            if log:
                print("Ranking the generated images by their Inception-score terms (top_percent) ...", file=log)
            select_top(study, cached, batch_size=batch_size, verbose=bool(log))
            store.save_pools(study)
    except BaseException:
        stop(server)
        store.close()
        raise
    return server, study, store


def stop(server):
    """Close a waitress server: its listening sockets, its open (keep-alive) connections and its worker threads;
    its ``run`` loop ends once nothing is left in its map."""
    dispatchers = getattr(server, "map", None) or getattr(server, "_map", None) or {}
    for dispatcher in list(dispatchers.values()):
        try:
            dispatcher.close()
        except OSError:
            pass
    if hasattr(server, "close") and server not in dispatchers.values():
        server.close()
    server.task_dispatcher.shutdown(timeout=5)
