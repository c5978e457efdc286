"""An interleaved FASTQ (both mates in one file, alternating) given alone is read as paired-end
by stats, qc and classify, and reported by validate (issue 13)."""

from __future__ import annotations

import gzip

import dnaio
import pytest
from conftest import READS, TEST_DATA, write_fastq

from microbiome.cli.main import main
from microbiome.errors import ValidationErrors
from microbiome.io.samplesheet import load_sample_sheet

R1, R2 = READS / "sim01_R1.fastq.gz", READS / "sim01_R2.fastq.gz"


@pytest.fixture(scope="module")
def interleaved(tmp_path_factory):
    """sim01's 4,000 pairs as one gzip FASTQ, mate 1 then mate 2."""
    path = tmp_path_factory.mktemp("inter") / "sim01_interleaved.fastq.gz"
    with gzip.open(path, "wt") as out:
        for a, b in zip(dnaio.open(R1), dnaio.open(R2), strict=True):
            out.write(a.fastq_bytes().decode() + b.fastq_bytes().decode())
    return path


def records(n, name):
    return [(name(i), "ACGTTGCAAC", "IIIIIIIIII") for i in range(n)]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (lambda i: f"r{i // 2}/{i % 2 + 1}", True),  # /1 /2 suffixes
        (lambda i: f"r{i // 2} {i % 2 + 1}:N:0:ACGT", True),  # Illumina comments
        (lambda i: f"SRR1.{i // 2} length=10", True),  # fastq-dump --split-spot: same names
        (lambda i: f"r{i}", False),  # single-end
        (lambda i: f"r{i}/1", False),  # single-end mate 1
        (lambda i: "read", False),  # every name the same: no evidence of pairs
        (lambda i: f"r{i // 2}/{2 - i % 2}", False),  # mates in the wrong order
        # /1 /3 (an index read in between): the IDs the pairing check uses (it strips /3)
        (lambda i: f"r{i // 2}/{1 + 2 * (i % 2)}", True),
        (lambda i: f"r{i // 2} {1 + 2 * (i % 2)}:N:0:ACGT", True),
        (lambda i: f"r{i // 2}/3", False),  # no mate 1
    ],
    ids=[
        "suffix",
        "illumina",
        "same_names",
        "single",
        "mate1_only",
        "all_same",
        "swapped",
        "suffix_3",
        "illumina_3",
        "mate3_only",
    ],
)
def test_detection(tmp_path, names, expected):
    from microbiome.io.reads import is_interleaved

    path = write_fastq(tmp_path / "r.fq.gz", records(40, names))
    assert is_interleaved(path) is expected


def test_detection_of_fasta(tmp_path):
    from microbiome.io.reads import is_interleaved

    fasta = tmp_path / "r.fa"
    fasta.write_text("".join(f">r{i // 2}/{i % 2 + 1}\nACGTACGT\n" for i in range(10)))
    assert is_interleaved(fasta)


def test_stats_same_as_two_files(tmp_path, interleaved, threads):
    from microbiome.stats import sample_stats

    one = sample_stats("s", interleaved, threads=threads, chunk_bytes=100_000)
    two = sample_stats("s", R1, R2, threads=threads)
    assert one["layout"] == "paired" and one["pairs"] == two["pairs"] == 4000
    assert [f | {"file": ""} for f in one["files"]] == [f | {"file": ""} for f in two["files"]]


def test_stats_cli_reads_it_as_pairs(tmp_path, capsys, interleaved):
    assert main(["stats", str(interleaved), "-o", str(tmp_path / "s.json")]) == 0
    assert "interleaved paired-end reads (mates alternate): read as pairs" in (
        capsys.readouterr().err
    )
    assert '"layout": "paired"' in (tmp_path / "s.json").read_text()


def test_mates_1_and_3_are_read_as_pairs(tmp_path):
    from microbiome.stats import sample_stats

    path = write_fastq(tmp_path / "r.fq", records(40, lambda i: f"r{i // 2}/{1 + 2 * (i % 2)}"))
    result = sample_stats("s", path)
    assert result["layout"] == "paired" and result["pairs"] == 20


def test_odd_number_of_records_is_an_error(tmp_path, capsys):
    path = write_fastq(tmp_path / "odd.fq", records(7, lambda i: f"r{i // 2}/{i % 2 + 1}"))
    assert main(["stats", str(path), "-o", str(tmp_path / "s.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"microbiome: error: {path}: interleaved paired-end reads end with a read without its "
        "mate: record 7 (r3/1) is the last (an odd number of records)"
    )


def test_broken_pair_names_its_line(tmp_path, capsys):
    reads = records(300, lambda i: f"r{i // 2}/{i % 2 + 1}")
    reads[251] = ("x125/2", *reads[251][1:])  # after the records that detection looks at
    path = write_fastq(tmp_path / "broken.fq.gz", reads)
    assert main(["stats", str(path), "-o", str(tmp_path / "s.json"), "-t", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"microbiome: error: {path}, line 1005: read 'x125/2' does not pair with read 'r125/1' "
        "before it (interleaved reads hold mate 1 then mate 2 of each pair; record 252)"
    )


@pytest.mark.parametrize("command", ["stats", "qc"])
def test_bad_base_names_its_line_in_the_file(tmp_path, capsys, command):
    reads = records(300, lambda i: f"r{i // 2}/{i % 2 + 1}")
    reads[261] = (reads[261][0], "ACGT!TGCAA", reads[261][2])  # mate 2 of pair 131
    path = write_fastq(tmp_path / "bad.fq.gz", reads)
    args = ["stats", str(path), "-o", str(tmp_path / "s.json")]
    if command == "qc":
        args = ["qc", "-1", str(path), "-o", str(tmp_path / "qc"), "-t", "2"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"microbiome: error: {path}, line 1046: sequence contains an invalid")


@pytest.mark.parametrize("threads", [1, 2])
def test_qc_same_as_two_files(tmp_path, interleaved, threads):
    from microbiome.qc.pipeline import run_qc

    one = run_qc("s", interleaved, None, tmp_path / "one", threads=threads)
    two = run_qc("s", R1, R2, tmp_path / "two", threads=threads)
    assert one.layout == "paired" and set(one.outputs) == {"R1", "R2"}
    a, b = one.to_dict(), two.to_dict()
    assert a["steps"] == b["steps"] and a["steps"][0]["reads"] == 8000
    for key in ("before", "after"):
        assert [s | {"file": ""} for s in a[key]] == [s | {"file": ""} for s in b[key]]
    for mate in ("R1", "R2"):
        got = [(r.name, r.sequence, r.qualities) for r in dnaio.open(one.outputs[mate])]
        want = [(r.name, r.sequence, r.qualities) for r in dnaio.open(two.outputs[mate])]
        assert got == want


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    from microbiome.profile.database import build_database

    out = tmp_path_factory.mktemp("db") / "demo.mbdb"
    refs = TEST_DATA / "references"
    build_database([refs], TEST_DATA / "taxonomy", refs / "genomes.tsv", out, threads=1)
    return out


def test_classify_same_as_two_files(interleaved, demo_db):
    from microbiome.profile.classify import classify_reads

    one = classify_reads(demo_db, interleaved, None, threads=2)
    two = classify_reads(demo_db, R1, R2, threads=2)
    assert one.paired and one.total_reads == two.total_reads == 4000
    assert one.direct_counts == two.direct_counts


def test_sheet_and_validate(tmp_path, capsys, interleaved):
    sheet = tmp_path / "samples.tsv"
    single = READS / "SRR514303_SE.fastq.gz"
    sheet.write_text(f"sample_id\tfastq_1\tfastq_2\nS\t{interleaved}\t\nSE\t{single}\t\n")
    table = load_sample_sheet(sheet)
    assert table.loc["S", "layout"] == "paired" and table.loc["SE", "layout"] == "single"
    assert main(["validate", "--samples", str(sheet)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert "microbiome: note: sample S: fastq_1 is interleaved paired-end; treated as paired" in err
    assert not any("sample SE" in line for line in err)


def test_sheet_reports_unreadable_reads(tmp_path):
    bad = tmp_path / "bad.fq"
    bad.write_text("not a fastq\n")
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample_id\tfastq_1\nS\t{bad}\n")
    with pytest.raises(ValidationErrors, match="not a FASTQ"):
        load_sample_sheet(sheet)
