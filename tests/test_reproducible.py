"""The date that outputs carry: SOURCE_DATE_EPOCH, else the newest input's, never the clock's."""

from __future__ import annotations

import datetime
import os

import pytest

from microbiome.errors import ConfigError
from microbiome.reproducible import SOURCE_DATE_EPOCH, newest_mtime, pinned_clock, source_date


def touch(path, mtime):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    os.utime(path, (mtime, mtime))
    return path


def test_newest_mtime_of_files_and_folders(tmp_path):
    a = touch(tmp_path / "a.tsv", 1_000)
    touch(tmp_path / "refs" / "sub" / "g.fa", 3_000)
    touch(tmp_path / "refs" / ".g.fa.x1.tmp", 9_000)  # an unfinished output is not an input
    touch(tmp_path / "refs" / ".hidden" / "f", 9_000)
    assert newest_mtime([a]) == 1_000
    assert newest_mtime([a, None, tmp_path / "missing", tmp_path / "refs"]) == 3_000
    assert newest_mtime([None, tmp_path / "missing"]) is None


def test_source_date_prefers_source_date_epoch(tmp_path, monkeypatch):
    a = touch(tmp_path / "a.tsv", 1_600_000_000)
    monkeypatch.delenv(SOURCE_DATE_EPOCH, raising=False)
    utc = datetime.UTC
    assert source_date([a]) == datetime.datetime(2020, 9, 13, 12, 26, 40, tzinfo=utc)
    assert source_date([]) == datetime.datetime(1970, 1, 1, tzinfo=utc)
    monkeypatch.setenv(SOURCE_DATE_EPOCH, "1700000000")
    assert source_date([a]) == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=utc)
    monkeypatch.setenv(SOURCE_DATE_EPOCH, "")  # empty counts as unset
    assert source_date([a]).year == 2020


@pytest.mark.parametrize("value", ["2024-01-01", "1.5", "9" * 30])
def test_bad_source_date_epoch_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv(SOURCE_DATE_EPOCH, value)
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH must be a whole number"):
        source_date()


def test_pinned_clock_sets_and_restores_source_date_epoch(monkeypatch):
    from fontTools.misc.timeTools import epoch_diff, timestampNow

    monkeypatch.delenv(SOURCE_DATE_EPOCH, raising=False)
    when = datetime.datetime(2021, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    with pinned_clock(when):
        assert timestampNow() + epoch_diff == when.timestamp()
    assert SOURCE_DATE_EPOCH not in os.environ
    monkeypatch.setenv(SOURCE_DATE_EPOCH, "5")
    with pinned_clock(when):
        assert os.environ[SOURCE_DATE_EPOCH] == str(int(when.timestamp()))
    assert os.environ[SOURCE_DATE_EPOCH] == "5"
