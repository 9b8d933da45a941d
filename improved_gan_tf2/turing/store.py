"""The votes database (SQLite in WAL mode): annotators, each annotator's plan of images per condition, the images
served and the votes.

A vote is accepted only for an image served to that annotator and not yet answered: the lookup of the served
row and the insert of the vote happen in one ``BEGIN IMMEDIATE`` transaction, and ``votes.served_id`` is
``UNIQUE``, so reloads, double clicks, concurrent posts and forged tokens cannot add a vote. An annotator never
sees an image twice in a condition: ``plan`` and ``served`` are ``UNIQUE(annotator, condition, image_id)``.

Times are Unix seconds (``REAL``); ``server_ms`` runs from the moment the server handed the image out (its
``/api/next`` answer) to the vote's arrival, ``client_ms`` (optional, as reported by the page) from the image's
``load`` event to the click or key press.
"""
import contextlib
import hashlib
import hmac
import json
import math
import os
import random
import secrets
import sqlite3
import threading
import time

from improved_gan_tf2.turing.study import TuringError

SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conditions (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,               -- JSON: feedback, counts, top_percent, the image files' sha256 and keys
    generated_pool TEXT,                -- JSON list of the generated indices that may be shown (top_percent)
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS annotators (id TEXT PRIMARY KEY, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS plan (       -- each annotator's random balanced order, drawn at the first image
    annotator TEXT NOT NULL REFERENCES annotators(id),
    condition TEXT NOT NULL REFERENCES conditions(name),
    position INTEGER NOT NULL,
    image_id TEXT NOT NULL,             -- 'g<index>' / 'r<index>': row of the generated / real array
    truth TEXT NOT NULL CHECK (truth IN ('real', 'generated')),
    PRIMARY KEY (annotator, condition, position),
    UNIQUE (annotator, condition, image_id)
);
CREATE TABLE IF NOT EXISTS served (     -- images handed out; the page only ever sees the random token
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    annotator TEXT NOT NULL REFERENCES annotators(id),
    condition TEXT NOT NULL REFERENCES conditions(name),
    position INTEGER NOT NULL,
    image_id TEXT NOT NULL,
    truth TEXT NOT NULL CHECK (truth IN ('real', 'generated')),
    served_at REAL NOT NULL,
    UNIQUE (annotator, condition, image_id),
    UNIQUE (annotator, condition, position)
);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY,
    served_id INTEGER NOT NULL UNIQUE REFERENCES served(id),
    annotator TEXT NOT NULL REFERENCES annotators(id),
    condition TEXT NOT NULL REFERENCES conditions(name),
    position INTEGER NOT NULL,
    image_id TEXT NOT NULL,
    truth TEXT NOT NULL CHECK (truth IN ('real', 'generated')),
    answer TEXT NOT NULL CHECK (answer IN ('real', 'generated')),
    correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
    server_ms REAL NOT NULL,
    client_ms REAL,
    feedback INTEGER NOT NULL CHECK (feedback IN (0, 1)),
    answered_at REAL NOT NULL,
    UNIQUE (annotator, condition, image_id)
);
CREATE INDEX IF NOT EXISTS votes_by_condition ON votes (condition, annotator, position);
"""

ANSWERS = ("real", "generated")
COOKIE_SIGNATURE_LENGTH = 32  # hex digits of HMAC-SHA256
#: New annotators recorded per minute at most by the app (their first image drawn); past it ``/api/next`` answers
#: 429, so that a script drawing images under ever new cookies cannot fill the database.
NEW_ANNOTATORS_PER_MINUTE = 60


class VoteRejected(Exception):
    """A vote that is not stored: ``status`` is the HTTP status to answer with."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


#: What to do about a votes database that cannot be used.
DAMAGED_FIX = ("restore it from a copy (what is readable can be saved with: sqlite3 %s .recover | sqlite3 "
               "recovered.sqlite), or give another --db")


def connect(path, must_exist=False):
    """A connection in autocommit mode (transactions are explicit), WAL journal, foreign keys on."""
    if os.path.isdir(path):
        raise TuringError("%s is a directory, not a votes database; give the database file with --db" % path)
    if must_exist and not os.path.isfile(path):
        raise TuringError("%s: no such database; give the --db that serve wrote" % path)
    try:
        db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 30000")
        db.execute("PRAGMA foreign_keys = ON")
        if not must_exist:
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise TuringError("%s: SQLite could not switch to WAL mode (journal mode %s)" % (path, mode))
        return db
    except sqlite3.DatabaseError as e:
        raise TuringError("%s: cannot open the votes database (%s); %s" % (path, e, DAMAGED_FIX % path))


def check_integrity(db, path):
    """Refuse a damaged votes database before anything reads or writes it (SQLite's ``integrity_check``: the
    pages, the indexes against their tables, the NOT NULL and CHECK constraints). A byte changed inside a value
    that breaks none of these goes unnoticed: SQLite keeps no checksums."""
    try:
        problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as e:
        problems = [str(e)]
    if problems != ["ok"]:
        raise TuringError("%s: the votes database is damaged (%s); %s"
                          % (path, "; ".join(problems[:2])[:200], DAMAGED_FIX % path))


class Store:
    """Thread-safe access to the votes database: one connection per thread."""

    def __init__(self, path):
        self.path = path
        self._local = threading.local()
        db = self.conn()
        check_integrity(db, path)
        try:
            db.executescript(SCHEMA)
            version = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if version is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif version[0] != SCHEMA_VERSION:
                raise TuringError("%s: votes database of schema %s, expected %s" % (path, version[0], SCHEMA_VERSION))
            # the key that signs annotator cookies: kept in the database, so that cookies outlive a restart
            db.execute("INSERT OR IGNORE INTO meta VALUES ('cookie_key', ?)", (secrets.token_hex(32),))
            self._cookie_key = db.execute("SELECT value FROM meta WHERE key = 'cookie_key'").fetchone()[0].encode()
        except sqlite3.DatabaseError as e:
            raise TuringError("%s: not a votes database (%s); %s" % (path, e, DAMAGED_FIX % path))

    def close(self):
        """Close this thread's connection (the others close with their threads)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def conn(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db

    @contextlib.contextmanager
    def write(self):
        """A write transaction taken at its start (``BEGIN IMMEDIATE``), so concurrent writers queue instead of
        failing when a read would have to turn into a write."""
        db = self.conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # ----------------------------------------------------------------------------------------------- conditions

    def register_conditions(self, study):
        """Record the study's conditions; refuse one recorded before with other images or settings (its votes
        would be mixed with the new ones). Returns {name: generated pool} of the pools already computed."""
        cached = {}
        with self.write() as db:
            for cond in study.conditions.values():
                config = cond.config()
                row = db.execute("SELECT config, generated_pool FROM conditions WHERE name = ?",
                                 (cond.name,)).fetchone()
                if row is None:
                    db.execute("INSERT INTO conditions (name, config, created_at) VALUES (?, ?, ?)",
                               (cond.name, json.dumps(config, sort_keys=True), time.time()))
                    continue
                old = json.loads(row["config"])
                changed = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
                if changed:
                    files = ["%s is not the file its votes were cast on" % getattr(cond, kind).path
                             for kind in ("generated", "real") if kind + "_sha256" in changed]
                    raise TuringError(
                        "%s already holds condition '%s' with other settings (%s differ)%s: its votes would be "
                        "mixed; %suse another --db or rename the condition"
                        % (self.path, cond.name, ", ".join(changed), " (%s)" % ", ".join(files) if files else "",
                           "put back the files the votes were cast on, or " if files else ""))
                if row["generated_pool"] is not None:
                    cached[cond.name] = json.loads(row["generated_pool"])
        return cached

    def save_pools(self, study):
        with self.write() as db:
            for cond in study.conditions.values():
                if cond.top_percent is not None:
                    db.execute("UPDATE conditions SET generated_pool = ? WHERE name = ? AND generated_pool IS NULL",
                               (json.dumps([int(i) for i in cond.generated_pool]), cond.name))

    # ----------------------------------------------------------------------------------------------- annotators

    def _signature(self, annotator):
        return hmac.new(self._cookie_key, annotator.encode(), hashlib.sha256).hexdigest()[:COOKIE_SIGNATURE_LENGTH]

    def new_annotator_cookie(self):
        """A new annotator's cookie value, ``<id>.<signature>``; nothing is written (the annotator is recorded by
        :meth:`next_image`, when their first image is drawn)."""
        annotator = secrets.token_hex(16)
        return "%s.%s" % (annotator, self._signature(annotator))

    def annotator_of_cookie(self, value):
        """The annotator id of a cookie value this database signed (or, from before signed cookies, of a recorded
        annotator), else None."""
        if not value or len(value) > 100:
            return None
        annotator, _, signature = value.partition(".")
        if signature:
            if len(annotator) == 32 and hmac.compare_digest(signature, self._signature(annotator)):
                return annotator
            return None
        return annotator if self.annotator_recorded(annotator) else None

    def annotator_recorded(self, annotator):
        if not annotator or len(annotator) > 64:
            return False
        return self.conn().execute("SELECT 1 FROM annotators WHERE id = ?", (annotator,)).fetchone() is not None

    def condition_for(self, annotator, names):
        """Where ``/`` sends an annotator: the first of their conditions with images left, else their last one,
        else (a new annotator) the condition with the fewest annotators so far (ties: file order)."""
        db = self.conn()
        rows = db.execute(
            "SELECT p.condition, COUNT(*) AS n, (SELECT COUNT(*) FROM votes v WHERE v.annotator = p.annotator "
            "AND v.condition = p.condition) AS answered FROM plan p WHERE p.annotator = ? GROUP BY p.condition",
            (annotator,)).fetchall()
        mine = {r["condition"]: (r["n"], r["answered"]) for r in rows if r["condition"] in names}
        for name in names:
            if name in mine and mine[name][1] < mine[name][0]:
                return name
        if mine:
            return [n for n in names if n in mine][-1]
        counts = dict(db.execute("SELECT condition, COUNT(DISTINCT annotator) FROM plan GROUP BY condition"))
        return min(names, key=lambda n: (counts.get(n, 0), names.index(n)))

    # ------------------------------------------------------------------------------------------ images and votes

    def next_image(self, annotator, cond):
        """The annotator's next image in ``cond`` (recording the annotator and drawing their plan at the first
        call): a dict with ``token``,
        ``position``, ``answered``, ``total``, ``correct``; ``token`` is None when all are answered. Until it is
        answered the same image (same token) is returned, so a reload shows it again."""
        rng = random.SystemRandom()
        with self.write() as db:
            db.execute("INSERT OR IGNORE INTO annotators VALUES (?, ?)", (annotator, time.time()))
            total = db.execute("SELECT COUNT(*) FROM plan WHERE annotator = ? AND condition = ?",
                               (annotator, cond.name)).fetchone()[0]
            if total == 0:
                items = ([("g%d" % i, "generated") for i in rng.sample(list(map(int, cond.generated_pool)),
                                                                        cond.n_generated)]
                         + [("r%d" % i, "real") for i in rng.sample(range(len(cond.real.images)), cond.n_real)])
                rng.shuffle(items)
                db.executemany("INSERT INTO plan VALUES (?, ?, ?, ?, ?)",
                               [(annotator, cond.name, k, image_id, truth) for k, (image_id, truth) in enumerate(items)])
                total = len(items)
            answered, correct = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(correct), 0) FROM votes WHERE annotator = ? AND condition = ?",
                (annotator, cond.name)).fetchone()
            out = {"total": total, "answered": answered, "correct": correct, "token": None, "position": None}
            row = db.execute(
                "SELECT position, image_id, truth FROM plan p WHERE annotator = ? AND condition = ? AND NOT EXISTS "
                "(SELECT 1 FROM votes v WHERE v.annotator = p.annotator AND v.condition = p.condition "
                "AND v.position = p.position) ORDER BY position LIMIT 1", (annotator, cond.name)).fetchone()
            if row is None:
                return out
            served = db.execute("SELECT token FROM served WHERE annotator = ? AND condition = ? AND position = ?",
                                (annotator, cond.name, row["position"])).fetchone()
            if served is not None:
                token = served["token"]
            else:
                token = secrets.token_urlsafe(18)
                db.execute("INSERT INTO served (token, annotator, condition, position, image_id, truth, served_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (token, annotator, cond.name, row["position"], row["image_id"], row["truth"], time.time()))
            out.update(token=token, position=row["position"])
            return out

    def served_image(self, annotator, token):
        """(condition, image_id) of a token served to this annotator, or None (also for a missing or unknown
        annotator id, and for malformed ids and tokens, as :meth:`annotator_recorded` and :meth:`vote` check them)."""
        if not annotator or len(annotator) > 64 or not token or len(token) > 64:
            return None
        row = self.conn().execute("SELECT condition, image_id FROM served WHERE token = ? AND annotator = ?",
                                  (token, annotator)).fetchone()
        return None if row is None else (row["condition"], row["image_id"])

    def vote(self, annotator, token, cond, answer, client_ms=None):
        """Store a vote on an image of the :class:`~improved_gan_tf2.turing.study.Condition` ``cond``, or raise
        :class:`VoteRejected`. Returns a dict with ``truth``, ``correct``, ``answered``, ``total`` and
        ``correct_so_far``. ``total`` is ``cond.n_total``, the length of every plan of ``cond``: a plan is
        inserted whole (:meth:`next_image`) and :meth:`register_conditions` refuses other counts for a name."""
        if answer not in ANSWERS:
            raise VoteRejected(400, "answer must be 'real' or 'generated'")
        if not isinstance(token, str) or not 0 < len(token) <= 64:
            raise VoteRejected(400, "missing or malformed image token")
        if isinstance(client_ms, bool) or not isinstance(client_ms, (int, float)) or not (
                math.isfinite(client_ms) and 0 <= client_ms <= 86_400_000):
            client_ms = None
        with self.write() as db:
            served = db.execute("SELECT * FROM served WHERE token = ? AND annotator = ?",
                                (token, annotator)).fetchone()
            if served is None:
                raise VoteRejected(404, "this image was not served to you")
            if served["condition"] != cond.name:
                raise VoteRejected(400, "this image belongs to condition '%s', not '%s'"
                                   % (served["condition"], cond.name))
            now = time.time()
            correct = int(answer == served["truth"])
            try:
                db.execute(
                    "INSERT INTO votes (served_id, annotator, condition, position, image_id, truth, answer, correct, "
                    "server_ms, client_ms, feedback, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (served["id"], annotator, cond.name, served["position"], served["image_id"], served["truth"],
                     answer, correct, max(0.0, (now - served["served_at"]) * 1000.0), client_ms,
                     int(bool(cond.feedback)), now))
            except sqlite3.IntegrityError:
                raise VoteRejected(409, "this image has already been answered")
            answered, so_far = db.execute(
                "SELECT COUNT(*), SUM(correct) FROM votes WHERE annotator = ? AND condition = ?",
                (annotator, cond.name)).fetchone()
        return {"truth": served["truth"], "correct": bool(correct), "answered": answered, "total": cond.n_total,
                "correct_so_far": so_far}
