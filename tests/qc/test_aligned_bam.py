"""An aligned BAM given as reads: warned about, secondary and supplementary records skipped and
counted, reverse-strand reads turned back to the orientation sequenced (issue 13)."""

from __future__ import annotations

import json
import random

import dnaio
import pysam
import pytest
from conftest import READS, write_fastq

from microbiome.cli.main import main
from microbiome.io.reads import AlignmentSummary, read_paired_batches

N = 400
COMPLEMENT = str.maketrans("ACGTNRYKMSWBDHV", "TGCANYRMKSWVHDB")  # IUPAC codes too


def revcomp(seq: str) -> str:
    return seq[::-1].translate(COMPLEMENT)


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    """400 real reads with Nextera read-through (ERR878216) as FASTQ, and as an aligned BAM:
    every other read mapped to the reverse strand (stored reverse-complemented), plus 30
    secondary alignments without sequence and 20 supplementary ones."""
    folder = tmp_path_factory.mktemp("aligned")
    records = list(dnaio.open(READS / "ERR878216_R1.fastq.gz"))[:N]
    fastq = write_fastq(
        folder / "reads.fq", [(r.name.split()[0], r.sequence, r.qualities) for r in records]
    )
    header = {"HD": {"VN": "1.6", "SO": "unsorted"}, "SQ": [{"SN": "chr1", "LN": 100_000}]}
    bam = folder / "aligned.bam"
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for i, rec in enumerate(records):
            reverse = i % 2 == 1
            seq = revcomp(rec.sequence) if reverse else rec.sequence
            qual = rec.qualities[::-1] if reverse else rec.qualities
            a = pysam.AlignedSegment()
            a.query_name = rec.name.split()[0]
            a.query_sequence = seq
            a.query_qualities = pysam.qualitystring_to_array(qual)
            a.flag = 16 if reverse else 0
            a.reference_id, a.reference_start, a.mapping_quality = 0, 100 * i, 60
            a.cigarstring = f"{len(seq)}M"
            out.write(a)
            if i < 30:  # secondary: no sequence stored (SEQ '*'), as aligners write them
                s = pysam.AlignedSegment()
                s.query_name, s.flag = a.query_name, 256
                s.reference_id, s.reference_start, s.cigarstring = 0, 50_000 + i, "10M"
                out.write(s)
            if 100 <= i < 120:  # supplementary: part of the read, hard-clipped
                p = pysam.AlignedSegment()
                p.query_name, p.flag = a.query_name, 2048
                p.query_sequence = rec.sequence[:20]
                p.query_qualities = pysam.qualitystring_to_array(rec.qualities[:20])
                p.reference_id, p.reference_start = 0, 70_000 + i
                p.cigarstring = f"20M{len(rec.sequence) - 20}H"
                out.write(p)
    return fastq, bam


EXPECTED = {
    "aligned": True,
    "reference_sequences": 1,
    "records": N + 30 + 20,
    "mapped": N,
    "reverse_strand_restored": N // 2,
    "secondary_skipped": 30,
    "supplementary_skipped": 20,
}


def warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "aligned SAM/BAM/CRAM" in line]


def test_stats_of_an_aligned_bam(tmp_path, capsys, aligned):
    fastq, bam = aligned
    assert main(["stats", str(bam), "-o", str(tmp_path / "bam.json")]) == 0
    err = capsys.readouterr().err
    assert main(["stats", str(fastq), "-o", str(tmp_path / "fq.json")]) == 0
    (line,) = warning_lines(err)
    assert line.startswith(f"microbiome: warning: {bam} is an aligned SAM/BAM/CRAM (1 @SQ")
    assert "30 secondary and 20 supplementary records skipped" in line
    from_bam = json.loads((tmp_path / "bam.json").read_text())["files"][0]
    from_fastq = json.loads((tmp_path / "fq.json").read_text())["files"][0]
    assert from_bam.pop("alignment") == EXPECTED
    # Same reads, same orientation: quality by position and every histogram agree.
    assert from_bam | {"file": ""} == from_fastq | {"file": ""}


@pytest.mark.parametrize("threads", [1, 2])
def test_qc_of_an_aligned_bam_trims_as_sequenced(tmp_path, capsys, aligned, threads):
    fastq, bam = aligned
    common = ["--adapters", "nextera", "-t", str(threads)]
    assert main(["qc", "-1", str(bam), "-o", str(tmp_path / "bam"), "-s", "s", *common]) == 0
    (line,) = warning_lines(capsys.readouterr().err)
    assert "200 reverse-strand reads turned back" in line
    assert main(["qc", "-1", str(fastq), "-o", str(tmp_path / "fq"), "-s", "s", *common]) == 0
    from_bam = json.loads((tmp_path / "bam" / "s.qc.json").read_text())
    from_fastq = json.loads((tmp_path / "fq" / "s.qc.json").read_text())
    assert from_bam["alignment"] == EXPECTED
    assert from_bam["steps"] == from_fastq["steps"]
    adapter = next(s for s in from_bam["steps"] if s["step"] == "adapter_trimming")
    assert adapter["reads_with_adapter"] > 50  # read-through is at the 3' end as sequenced
    kept_bam = [(r.name, r.sequence) for r in dnaio.open(tmp_path / "bam" / "s.fastq.gz")]
    kept_fastq = [(r.name, r.sequence) for r in dnaio.open(tmp_path / "fq" / "s.fastq.gz")]
    assert kept_bam == kept_fastq


def test_unaligned_bam_is_not_warned_about(tmp_path, capsys):
    bam = tmp_path / "u.bam"
    with pysam.AlignmentFile(str(bam), "wb", header={"HD": {"VN": "1.6"}}) as out:
        a = pysam.AlignedSegment()
        a.query_name, a.query_sequence, a.flag = "r1", "ACGTACGTAC", 4
        a.query_qualities = pysam.qualitystring_to_array("IIIIIIIIII")
        out.write(a)
    assert main(["stats", str(bam), "-o", str(tmp_path / "u.json")]) == 0
    assert warning_lines(capsys.readouterr().err) == []
    entry = json.loads((tmp_path / "u.json").read_text())["files"][0]
    assert entry["alignment"]["aligned"] is False and entry["alignment"]["records"] == 1


def test_coordinate_sorted_paired_bam_is_refused(tmp_path, capsys):
    bam = tmp_path / "sorted.bam"
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 1000}]}
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for i, flag in enumerate((1 | 2 | 64, 1 | 2 | 128 | 16)):
            a = pysam.AlignedSegment()
            a.query_name, a.query_sequence, a.flag = "p1", "ACGTACGTAC", flag
            a.query_qualities = pysam.qualitystring_to_array("IIIIIIIIII")
            a.reference_id, a.reference_start, a.cigarstring = 0, 100 * i, "10M"
            out.write(a)
    assert main(["stats", str(bam), "-o", str(tmp_path / "s.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"microbiome: error: {bam}: a coordinate-sorted BAM/CRAM cannot be read as interleaved "
        "mates (mates are apart); group the mates first: samtools collate, or samtools sort -n"
    )
    assert not (tmp_path / "s.json").exists()


def test_paired_bam_counts_and_restores_every_reverse_read(tmp_path, capsys):
    """An interleaved (paired) aligned BAM: one mate of each of 20 pairs on the reverse strand,
    half of them mate 2. All 20 are counted (mate 2 is read in a pass of its own) and turned
    back, IUPAC codes complemented (R stored as Y)."""
    rng = random.Random(13)
    header = {"HD": {"VN": "1.6", "SO": "queryname"}, "SQ": [{"SN": "chr1", "LN": 100_000}]}
    bam = tmp_path / "paired.bam"
    sequenced: dict[int, list[tuple[str, str, str]]] = {1: [], 2: []}
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for i in range(20):
            for mate in (1, 2):
                seq = "".join(rng.choice("ACGT") for _ in range(30))
                if i == 0:
                    seq = "RRK" + seq[3:]  # IUPAC codes at the 5' end of a reverse mate 2
                qual = "".join(rng.choice("#+5?I") for _ in range(30))
                reverse = (mate == 2) == (i % 2 == 0)
                sequenced[mate].append((f"p{i}/{mate}", seq, qual))
                a = pysam.AlignedSegment()
                a.query_name = f"p{i}"
                a.query_sequence = revcomp(seq) if reverse else seq
                a.query_qualities = pysam.qualitystring_to_array(qual[::-1] if reverse else qual)
                a.flag = 1 | 2 | (64 if mate == 1 else 128) | (16 if reverse else 32)
                a.reference_id, a.reference_start, a.mapping_quality = 0, 100 * i, 60
                a.cigarstring = "30M"
                out.write(a)
    summary = AlignmentSummary(str(bam))
    got: dict[int, list[tuple[str, str, str]]] = {1: [], 2: []}
    for b1, b2 in read_paired_batches(bam, None, alignment=summary):
        for mate, batch in ((1, b1), (2, b2)):
            for i in range(len(batch)):
                a, b = batch.offsets[i], batch.offsets[i + 1]
                seq, qual = batch.seq[a:b].tobytes().decode(), batch.qual[a:b].tobytes().decode()
                got[mate].append((batch.name(i), seq, qual))
    assert got == sequenced
    assert got[2][0][1].startswith("RRK")
    assert summary.reversed == 20 and summary.records == summary.mapped == 40
    assert main(["stats", str(bam), "-o", str(tmp_path / "s.json")]) == 0
    assert "20 reverse-strand reads turned back" in capsys.readouterr().err
    entry = json.loads((tmp_path / "s.json").read_text())["files"][0]
    assert entry["alignment"]["reverse_strand_restored"] == 20


def test_paired_bam_with_unpaired_mates_names_the_pair(tmp_path, capsys):
    bam = tmp_path / "unpaired.bam"
    with pysam.AlignmentFile(str(bam), "wb", header={"HD": {"VN": "1.6"}}) as out:
        for name, flag in (("p1", 64), ("p1", 128), ("p2", 64), ("p3", 128)):
            a = pysam.AlignedSegment()
            a.query_name, a.query_sequence, a.flag = name, "ACGTACGTAC", 1 | 4 | 8 | flag
            a.query_qualities = pysam.qualitystring_to_array("IIIIIIIIII")
            out.write(a)
    assert main(["stats", str(bam), "-o", str(tmp_path / "s.json")]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"microbiome: error: {bam}: read 'p3/2' does not pair with read 'p2/1' (interleaved "
        "reads hold mate 1 and mate 2 of each pair; pair 2)"
    )
