"""The pages a user reads -- ``README.md`` and ``docs/*.md`` -- as the tests read them (imported as ``from
docs_pages import ...``, like ``helpers``): their fenced blocks, their inline code, the commands in them, and a
checkout-like working directory to run those commands in as written."""
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass

from helpers import ENV, ROOT

#: Every page, relative to the repository's root: the README first, then ``docs/`` in name order.
PAGES = ["README.md"] + sorted(os.path.join("docs", name) for name in os.listdir(os.path.join(ROOT, "docs"))
                               if name.endswith(".md"))
#: The languages of the blocks that are commands or programs (a block of another language is output or a file).
RUNNABLE = ("bash", "python")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: ``line`` is the line of its opening fence (1-based), ``heading`` the nearest
    heading above it (without the ``#``s)."""
    page: str
    line: int
    language: str
    text: str
    heading: str

    @property
    def where(self):
        return f"{self.page}:{self.line}"


def read(page):
    """The text of ``page`` (a path relative to the root, e.g. ``docs/evaluation.md``)."""
    with open(os.path.join(ROOT, page), encoding="utf-8") as stream:
        return stream.read()


def blocks_of_text(page, text):
    """The fenced blocks of the Markdown ``text`` of ``page``, in order."""
    found, heading, fence = [], "", None
    for number, line in enumerate(text.splitlines(), 1):
        if fence is None:
            if line.startswith("```"):
                fence = (number, line[3:].strip(), [])
            elif re.match(r"#{1,6} ", line):
                heading = line.lstrip("#").strip()
        elif line.startswith("```"):
            start, language, body = fence
            found.append(Block(page, start, language, "".join(body), heading))
            fence = None
        else:
            fence[2].append(line + "\n")
    assert fence is None, f"{page}:{fence[0]}: a fenced block is never closed"
    return found


def blocks(page=None, language=None):
    """The fenced blocks of ``page`` (every page when None), of ``language`` when given."""
    return [block for name in ([page] if page else PAGES) for block in blocks_of_text(name, read(name))
            if language is None or block.language == language]


def block(page, heading, language="bash", index=0):
    """The ``index``-th block of ``language`` under the heading ``heading`` of ``page`` (an error naming both if
    there is none: a test that reads a page fails when the page moves the block)."""
    chosen = [b for b in blocks(page, language) if b.heading == heading]
    assert len(chosen) > index, f"{page} has no {language} block number {index} under the heading {heading!r}"
    return chosen[index]


def code_spans_of_text(text):
    """``(line, code)`` of every inline code span of the Markdown ``text`` outside fenced blocks (a span may run
    over a line break: it is joined with a space)."""
    spans, offset = [], 0
    for part in re.split(r"(^```.*?^```[^\n]*$)", text, flags=re.S | re.M):
        if not part.startswith("```"):
            for match in re.finditer(r"(?<!`)`([^`]+)`(?!`)", part):
                line = text[:offset + match.start()].count("\n") + 1
                spans.append((line, " ".join(match.group(1).split())))
        offset += len(part)
    return spans


def commands(text):
    """The commands of a shell block: continuation lines joined, comments and blank lines dropped, each split as
    the shell splits it (a list of words)."""
    joined = text.replace("\\\n", " ")
    return [words for words in (shlex.split(line, comments=True) for line in joined.splitlines()) if words]


def checkout(work, runs=None):
    """``work`` made to look like the repository's root for a page's commands: ``improved_gan_tf2/`` (the shipped
    sample), ``mnist_svhn_cifar/`` and ``imagenet/`` linked, and each ``{name: run_dir}`` of ``runs`` copied to
    ``runs/name`` (commands may write into a run). Returns ``work`` as a string."""
    import shutil

    work = str(work)
    os.makedirs(os.path.join(work, "runs"), exist_ok=True)
    for name in ("improved_gan_tf2", "mnist_svhn_cifar", "imagenet"):
        os.symlink(os.path.join(ROOT, name), os.path.join(work, name))
    for name, run_dir in (runs or {}).items():
        shutil.copytree(run_dir, os.path.join(work, "runs", name))
    return work


def run(words, cwd, timeout=600, env=None):
    """A page's command (its words) run in ``cwd``: ``python``/``python3`` is this interpreter, ``bash`` runs
    with ``PYTHON`` set to it. Its CompletedProcess (text stdout and stderr)."""
    env = dict(env or ENV)
    if words[0] in ("python", "python3"):
        words = [sys.executable] + list(words[1:])
    elif words[0] == "bash":
        env["PYTHON"] = sys.executable
    return subprocess.run(words, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)
