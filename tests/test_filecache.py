"""pyharness.filecache: what was read of a file, per version of the file on disk (the
cost models of profiles and the check of event files keep theirs in one)."""

import os

import pytest

from pyharness.filecache import FileCache


class Reader:
    """Reads a file's text and counts the reads; text "bad" raises ValueError."""

    def __init__(self):
        self.reads = []

    def __call__(self, path):
        self.reads.append(os.path.basename(path))
        text = open(path).read()
        if text == "bad":
            raise ValueError(f"{path} is bad")
        return text


def _write(path, text):
    """Written as pyharness writes every file: under another name, renamed into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_one_read_per_file_version_by_any_name(tmp_path):
    cache, read = FileCache(4), Reader()
    a = tmp_path / "a"
    _write(a, "one")
    assert cache.get(a, read) == "one"
    assert cache.get(os.path.join(str(tmp_path), ".", "a"), read) == "one"   # the same file
    os.symlink(a, tmp_path / "link")
    assert cache.get(tmp_path / "link", read) == "one"
    assert read.reads == ["a"]
    _write(a, "two")                          # a new file under the same name: read again
    assert cache.get(a, read) == "two" and read.reads == ["a", "a"]


def test_the_least_recently_used_goes_first(tmp_path):
    cache, read = FileCache(2), Reader()
    paths = {n: tmp_path / n for n in "abc"}
    for n, p in paths.items():
        _write(p, n)
    cache.get(paths["a"], read)
    cache.get(paths["b"], read)
    cache.get(paths["a"], read)               # a is now the most recent
    cache.get(paths["c"], read)               # b goes
    assert len(cache) == 2
    assert [cache.get(paths[n], read) for n in "ac"] == ["a", "c"]
    assert read.reads == ["a", "b", "c"]
    cache.get(paths["b"], read)
    assert read.reads == ["a", "b", "c", "b"]
    cache.clear()
    assert len(cache) == 0


def test_errors_kept_only_of_the_types_asked_and_a_missing_file_never(tmp_path):
    bad = tmp_path / "bad"
    _write(bad, "bad")
    for keep_errors, reads in (((ValueError,), 1), ((), 2)):
        cache, read = FileCache(4, keep_errors), Reader()
        for _ in range(2):
            with pytest.raises(ValueError, match="is bad"):
                cache.get(bad, read)
        assert len(read.reads) == reads
    cache, read = FileCache(4, (OSError,)), Reader()
    gone = tmp_path / "gone"
    for _ in range(2):
        with pytest.raises(FileNotFoundError):
            cache.get(gone, read)             # the reader says what is wrong, every time
        assert cache.get(gone, read, missing=lambda p: None) is None
    assert read.reads == ["gone", "gone"] and len(cache) == 0
