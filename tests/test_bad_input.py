"""Bad input: one line naming the file and line (or sample), a non-zero exit, no finished-looking
output left behind."""

from __future__ import annotations

import gzip

import pytest
from conftest import READS, write_fastq

from microbiome.cli.main import main

GOOD = [("r1/1", "ACGTACGT", "IIIIIIII"), ("r2/1", "GGCCAATT", "IIIIIIII")]


def run_stats(tmp_path, capsys, *args):
    out = tmp_path / "out" / "stats.json"
    code = main(["stats", *map(str, args), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    leftovers = list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
    return code, err, out, leftovers


def assert_one_line_error(code, err, out, leftovers, *fragments, exit_code=1):
    assert code == exit_code
    assert len(err) == 1, err
    assert err[0].startswith("microbiome: error: ")
    for fragment in fragments:
        assert fragment in err[0], (fragment, err[0])
    assert not out.exists()
    assert leftovers == []


def test_truncated_gzip(tmp_path, capsys):
    data = (READS / "SRR514303_SE.fastq.gz").read_bytes()
    bad = tmp_path / "trunc.fq.gz"
    bad.write_bytes(data[: len(data) // 2])
    result = run_stats(tmp_path, capsys, bad)
    assert_one_line_error(*result, "trunc.fq.gz", "truncated")


def test_quality_shorter_than_sequence(tmp_path, capsys):
    bad = tmp_path / "short_qual.fq"
    bad.write_text("@a\nACGT\n+\nIIII\n@b\nACGT\n+\nIII\n")
    result = run_stats(tmp_path, capsys, bad)
    assert_one_line_error(*result, "short_qual.fq, line 8", "quality string and sequence differ")


def test_header_without_at(tmp_path, capsys):
    bad = tmp_path / "no_at.fq.gz"
    with gzip.open(bad, "wt") as f:
        f.write("@a\nACGT\n+\nIIII\nb\nACGT\n+\nIIII\n")
    result = run_stats(tmp_path, capsys, bad)
    assert_one_line_error(*result, "no_at.fq.gz, line 5", "does not start with '@'")


def test_first_byte_not_fastq(tmp_path, capsys):
    bad = tmp_path / "table.txt"
    bad.write_text("sample\tvalue\n")
    result = run_stats(tmp_path, capsys, bad)
    assert_one_line_error(*result, "table.txt, line 1", "not a FASTQ")


def test_paired_files_with_different_counts(tmp_path, capsys):
    r1 = write_fastq(tmp_path / "a_R1.fq", GOOD)
    r2 = write_fastq(tmp_path / "a_R2.fq", [("r1/2", "ACGT", "IIII")])
    result = run_stats(tmp_path, capsys, r1, r2, "--paired")
    assert_one_line_error(*result, "a_R2.fq", "has 1 records", "a_R1.fq has more")


def test_paired_files_with_unpaired_names(tmp_path, capsys):
    r1 = write_fastq(tmp_path / "a_R1.fq", GOOD)
    r2 = write_fastq(tmp_path / "a_R2.fq", [("r1/2", "ACGT", "IIII"), ("r9/2", "ACGT", "IIII")])
    result = run_stats(tmp_path, capsys, r1, r2, "--paired")
    assert_one_line_error(*result, "a_R2.fq, line 5", "'r9/2' does not pair with read 'r2/1'")


@pytest.mark.parametrize("compressed", [False, True])
def test_empty_file(tmp_path, capsys, compressed):
    bad = tmp_path / ("empty.fq.gz" if compressed else "empty.fq")
    if compressed:
        with gzip.open(bad, "wt"):
            pass
    else:
        bad.write_text("")
    result = run_stats(tmp_path, capsys, bad)
    assert_one_line_error(*result, bad.name, "empty" if not compressed else "no reads")


def test_missing_file(tmp_path, capsys):
    result = run_stats(tmp_path, capsys, tmp_path / "nothere.fq.gz")
    assert_one_line_error(*result, "nothere.fq.gz", "file not found")


def test_bad_quality_character(tmp_path, capsys):
    bad = tmp_path / "q.fq"
    bad.write_text("@a\nACGT\n+\nII I\n")
    result = run_stats(tmp_path, capsys, bad)
    assert_one_line_error(*result, "q.fq, line 4", "outside the Phred+33 range")


def test_duplicate_sample_id(tmp_path, capsys):
    write_fastq(tmp_path / "a.fq", GOOD)
    write_fastq(tmp_path / "b.fq", GOOD)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample_id\tfastq_1\tfastq_2\nS1\ta.fq\t\nS1\tb.fq\t\n")
    code = main(["validate", "--samples", str(sheet)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        f"microbiome: error: {sheet}, line 3, column sample_id: duplicate sample ID 'S1' "
        "(first on line 2)"
    ]


def test_usage_error_exit_code(capsys):
    assert main(["stats"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "required: READS" in err[0]


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="file not found"):
        main(["stats", str(tmp_path / "missing.fq"), "--debug"])
