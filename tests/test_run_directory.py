"""A run directory whose start is refused leaves nothing behind (not even its lock file or the directories made for
it), and removing a lock file cannot let two processes hold the same run directory."""
import fcntl
import os

from improved_gan_tf2.training import LOCK_NAME, RunDirectory, run_directory

FLAGS = {"seed": 1, "experiment": "train_mnist_feature_matching"}


def test_a_start_refused_before_it_began_leaves_nothing(tmp_path):
    run = RunDirectory(str(tmp_path / "a" / "b" / "run"), FLAGS)
    assert os.path.exists(tmp_path / "a" / "b" / "run" / LOCK_NAME)
    run.close()  # e.g. the data was refused
    assert os.listdir(tmp_path) == []


def test_a_started_run_keeps_its_directory_and_lock_file(tmp_path):
    run = RunDirectory(str(tmp_path / "run"), FLAGS)
    run.start()
    run.close()
    assert sorted(os.listdir(tmp_path / "run")) == [LOCK_NAME, "flags.json"]


def test_a_directory_holding_other_files_is_left_as_it_was(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    RunDirectory(str(tmp_path), FLAGS).close()
    assert os.listdir(tmp_path) == ["notes.txt"]


class ReplacingFlock:
    """``fcntl`` whose first ``flock`` finds the lock file replaced: a refused start removed it after this process
    opened it, and another process made a new one (which it would then lock)."""

    LOCK_EX, LOCK_NB = fcntl.LOCK_EX, fcntl.LOCK_NB

    def __init__(self, path):
        self.path, self.calls = path, 0

    def flock(self, fd, operation):
        self.calls += 1
        if self.calls == 1:
            os.unlink(self.path)
            with open(self.path, "w"):
                pass
        fcntl.flock(fd, operation)


def test_a_lock_file_replaced_before_it_is_locked_is_locked_anew(tmp_path, monkeypatch):
    (tmp_path / LOCK_NAME).write_text("")
    shim = ReplacingFlock(str(tmp_path / LOCK_NAME))
    monkeypatch.setattr(run_directory, "fcntl", shim)  # the module that locks
    run = RunDirectory(str(tmp_path), FLAGS)
    try:
        assert shim.calls == 2  # the first lock was on a file no longer at the path: dropped, and taken again
        assert os.fstat(run._lock_fd).st_ino == os.stat(tmp_path / LOCK_NAME).st_ino
    finally:
        run.close()
