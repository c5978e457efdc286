"""``microbiome kmer ...`` in-process through ``main(argv)``: outputs, exit codes, messages."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import READS, random_records, write_fastq
from naive import (
    naive_containment,
    naive_count,
    naive_dump,
    naive_histogram,
    naive_jaccard,
    naive_sketch,
    naive_unpack,
)

from microbiome.cli import kmer as kmer_cli
from microbiome.cli import main as cli_main


@pytest.fixture
def run_kmer(monkeypatch):
    """``microbiome kmer ARGS...`` through the real ``main(argv)``; returns the exit code.

    Registers the kmer subcommand if the main parser does not list it (yet).
    """
    if kmer_cli not in cli_main.SUBCOMMANDS:
        monkeypatch.setattr(cli_main, "SUBCOMMANDS", (*cli_main.SUBCOMMANDS, kmer_cli))

    def run(*args) -> int:
        return cli_main.main(["kmer", *[str(a) for a in args]])

    return run


@pytest.fixture
def sample(tmp_path):
    rng = np.random.default_rng(11)
    records = random_records(rng, 120, min_len=1, max_len=150, alphabet="ACGTNacgt")
    path = write_fastq(tmp_path / "sample.fastq.gz", records)
    return path, [s for _, s, _ in records]


def test_count_dump_histo_query(tmp_path, capsys, run_kmer, sample, threads):
    path, seqs = sample
    out = tmp_path / "c.kmers"
    assert run_kmer("count", "-k", 15, "-t", threads, "-o", out, path) == 0
    expected = naive_count(seqs, 15)
    capsys.readouterr()
    assert run_kmer("dump", out) == 0
    assert capsys.readouterr().out == naive_dump(expected, 15)
    assert run_kmer("dump", "-m", 2, "-o", tmp_path / "d.tsv", out) == 0
    assert (tmp_path / "d.tsv").read_text() == naive_dump(expected, 15, min_count=2)
    assert run_kmer("histo", out) == 0
    assert capsys.readouterr().out == "".join(f"{c}\t{n}\n" for c, n in naive_histogram(expected))
    first = naive_unpack(min(expected), 15)
    assert run_kmer("query", out, first, first.lower(), "T" * 15) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{first}\t{expected[min(expected)]}"
    assert lines[1] == lines[0]
    assert lines[2] == f"{'T' * 15}\t{expected.get(0, 0)}"  # TTT... is canonical AAA... = 0


def test_count_several_files_and_min_count(tmp_path, capsys, run_kmer):
    a, b = READS / "sim01_R1.fastq.gz", READS / "sim01_R2.fastq.gz"
    out = tmp_path / "two.kmers"
    assert run_kmer("count", "-k", 25, "-m", 2, "-t", 2, "-o", out, a, b) == 0
    capsys.readouterr()
    assert run_kmer("histo", out) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert rows and int(rows[0][0]) >= 2


def test_count_to_a_fifo_is_the_regular_file(tmp_path, run_kmer, sample):
    # The count file is written at offsets (pwrite), which a FIFO refuses ("Illegal seek"):
    # it is made in a temporary file and copied into the FIFO.
    path, _ = sample
    assert run_kmer("count", "-k", 15, "-t", 2, "-o", tmp_path / "c.kmers", path) == 0
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    try:
        assert run_kmer("count", "-k", 15, "-t", 2, "-o", fifo, path) == 0
    finally:
        if reader.is_alive():  # the command failed before opening the FIFO: let the reader end
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(60)
    assert got == [(tmp_path / "c.kmers").read_bytes()]


def test_count_to_dev_stdout_piped(tmp_path, run_kmer, sample):
    # `microbiome kmer count ... -o /dev/stdout | cat`: the same bytes as a regular file.
    path, _ = sample
    assert run_kmer("count", "-k", 15, "-o", tmp_path / "c.kmers", path) == 0
    command = Path(sys.executable).parent / "microbiome"
    result = subprocess.run(
        f"'{command}' kmer count -k 15 -q -o /dev/stdout '{path}' | cat",
        shell=True,
        capture_output=True,
        timeout=300,
    )
    assert result.stderr == b""
    assert result.returncode == 0
    assert result.stdout == (tmp_path / "c.kmers").read_bytes()


def test_usage_and_input_errors(tmp_path, capsys, run_kmer, sample):
    path, _ = sample
    assert run_kmer("count", "-k", 32, "-o", tmp_path / "x.kmers", path) == 2
    assert "from 1 to 31" in capsys.readouterr().err
    assert run_kmer("count", "-k", 0, "-o", tmp_path / "x.kmers", path) == 2
    assert run_kmer("count", "-t", 0, "-o", tmp_path / "x.kmers", path) == 2
    assert run_kmer("count", "-m", 0, "-o", tmp_path / "x.kmers", path) == 2
    capsys.readouterr()
    assert run_kmer("count", "-o", tmp_path / "x.kmers", tmp_path / "nope.fq") == 1
    err = capsys.readouterr().err
    assert "microbiome: error: " in err and "nope.fq" in err and "not found" in err
    assert not (tmp_path / "x.kmers").exists()
    assert run_kmer("dump", tmp_path / "nope.kmers") == 1
    assert run_kmer("count", "-k", 5, "-o", tmp_path / "x.kmers", path) == 0
    assert run_kmer("query", tmp_path / "x.kmers", "ACGTAA") == 2  # wrong length
    assert run_kmer("query", tmp_path / "x.kmers", "ACGNA") == 2  # not ACGT
    assert run_kmer("count") == 2  # missing arguments: usage error


def test_help_lists_subcommands(capsys, run_kmer):
    assert run_kmer("--help") == 0
    out = capsys.readouterr().out
    for name in ("count", "dump", "histo", "query", "sketch", "compare"):
        assert name in out


def test_sketch_and_compare(tmp_path, capsys, run_kmer):
    rng = np.random.default_rng(3)
    genome = "".join(rng.choice(list("ACGT"), size=5000))
    other = "".join(rng.choice(list("ACGT"), size=3000))
    (tmp_path / "g.fa").write_text(f">g\n{genome}\n")
    reads = [(f"r{i}", genome[i * 40 : i * 40 + 100], "I" * 100) for i in range(60)]
    reads += [(f"o{i}", other[i * 50 : i * 50 + 100], "I" * 100) for i in range(40)]
    write_fastq(tmp_path / "s.fq", reads)
    for name, src in (("g", "g.fa"), ("s", "s.fq")):
        code = run_kmer(
            "sketch", "-k", 21, "--scaled", 4, "--seed", 9, "-o", tmp_path / f"{name}.sketch",
            tmp_path / src,
        )  # fmt: skip
        assert code == 0
    capsys.readouterr()
    jac, con = tmp_path / "j.tsv", tmp_path / "c.tsv"
    sketches = [tmp_path / "g.sketch", tmp_path / "s.sketch"]
    assert run_kmer("compare", "--jaccard", jac, "--containment", con, *sketches) == 0
    a = set(naive_sketch([genome], 21, 4, 9))
    b = set(naive_sketch([s for _, s, _ in reads], 21, 4, 9))
    j_rows = [line.split("\t") for line in jac.read_text().splitlines()]
    c_rows = [line.split("\t") for line in con.read_text().splitlines()]
    assert j_rows[0] == ["sample", "g", "s"] and c_rows[0] == ["sample", "g", "s"]
    assert float(j_rows[1][2]) == pytest.approx(naive_jaccard(a, b), rel=1e-5)
    assert float(c_rows[1][2]) == pytest.approx(naive_containment(a, b), rel=1e-5)
    assert float(c_rows[2][1]) == pytest.approx(naive_containment(b, a), rel=1e-5)
    assert run_kmer("compare", *sketches) == 0
    out = capsys.readouterr().out
    assert out.startswith("# jaccard\n") and "# containment\n" in out
    assert run_kmer("sketch", "-k", 15, "-o", tmp_path / "k15.sketch", tmp_path / "g.fa") == 0
    assert run_kmer("compare", tmp_path / "k15.sketch", tmp_path / "g.sketch") == 1
    assert "same parameters" in capsys.readouterr().err
