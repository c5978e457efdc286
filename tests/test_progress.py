"""Progress lines of long steps: on a terminal or with --progress, never in a job's log."""

from __future__ import annotations

import io

import pytest
from conftest import TEST_DATA

from microbiome import progress
from microbiome.cli.main import main


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _default():
    progress.configure(None)
    yield
    progress.configure(None)


def test_lines_on_a_terminal_only(monkeypatch):
    terminal, log = _Terminal(), io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with progress.Progress("step", total=3, unit="things", interval=0) as p:
        p.update(2)
    assert log.getvalue() == ""  # a file (a Snakemake log) stays clean
    monkeypatch.setattr("sys.stderr", terminal)
    with progress.Progress("step", total=3, unit="things", interval=0) as p:
        p.update(2)
        p.update()
    lines = terminal.getvalue().splitlines()
    assert lines[0] == "microbiome: progress: step: 0/3 things (0 %), 0 s"
    assert lines[1] == "microbiome: progress: step: 2/3 things (67 %), 0 s"
    assert lines[-1] == "microbiome: progress: step: 3/3 things (100 %), 0 s, done"
    # forced on where stderr is a file; forced off on a terminal
    progress.configure(True)
    monkeypatch.setattr("sys.stderr", log)
    assert list(progress.track([1, 2], "items")) == [1, 2]
    assert log.getvalue().splitlines()[-1].startswith("microbiome: progress: items: 2/2 items")
    progress.configure(False)
    terminal.seek(0), terminal.truncate()
    with progress.Progress("quiet") as p:
        p.update()
    assert terminal.getvalue() == ""


def test_quiet_silences_progress_on_a_terminal(monkeypatch, tmp_path):
    """-q means only warnings and errors on stderr, a terminal included; --progress wins."""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    db = ["db", "build", "--sequences", str(TEST_DATA / "references"), "--taxonomy",
          str(TEST_DATA / "taxonomy"), "--seqid2taxid", str(TEST_DATA / "references" /
          "genomes.tsv"), "-o", str(tmp_path / "a.mbdb")]  # fmt: skip
    assert main([*db, "-q"]) == 0
    assert "progress:" not in terminal.getvalue()
    assert main([*db]) == 0
    assert "microbiome: progress: db build:" in terminal.getvalue()


def test_interval_limits_the_lines(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    progress.configure(True)
    with progress.Progress("many", unit="reads", interval=3600) as p:
        for _ in range(1000):
            p.update(10)
    assert log.getvalue().splitlines() == [
        "microbiome: progress: many: 0 reads, 0 s",
        "microbiome: progress: many: 10,000 reads, 0 s, done",
    ]


def test_db_build_progress_with_the_option_only(tmp_path, capsys):
    references = TEST_DATA / "references"
    args = [
        "db",
        "build",
        "--sequences",
        str(references),
        "--taxonomy",
        str(TEST_DATA / "taxonomy"),
    ]
    args += ["--seqid2taxid", str(references / "genomes.tsv"), "-o", str(tmp_path / "a.mbdb")]
    assert main([*args, "-q"]) == 0
    assert "progress:" not in capsys.readouterr().err
    assert main([*args, "-q", "--progress"]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "progress:" in x]
    assert lines[0].startswith("microbiome: progress: db build: minimizers: 0/")
    assert any(x.startswith("microbiome: progress: db build: minimizers: ") and
               "reference files (100 %)" in x and x.endswith(", done") for x in lines)  # fmt: skip
    assert any(x.startswith("microbiome: progress: db build: k-mer distribution: ") and
               "species (100 %)" in x and x.endswith(", done") for x in lines)  # fmt: skip
