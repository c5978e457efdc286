"""microbiome qc end to end on the bundled real and simulated reads, and its bad inputs."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import dnaio
import numpy as np
import pytest
from conftest import READS, TEST_DATA, random_records, write_fastq

from microbiome.cli.main import main
from microbiome.errors import ConfigError, DatabaseError, InputError
from microbiome.qc.host import build_host_index
from microbiome.qc.pipeline import QCSettings, run_qc

HOST = [
    TEST_DATA / "host" / "human_GRCh38_KI270762.1_altcontig.fa.gz",
    TEST_DATA / "host" / "human_chrM__MT-human.fa.gz",
]
NEXTERA = "CTGTCTCTTATACACATCT"


@pytest.fixture(scope="module")
def host_index(tmp_path_factory):
    path = tmp_path_factory.mktemp("host") / "host.idx"
    build_host_index(HOST, path)
    return path


def names(path):
    return [r.name.split()[0] for r in dnaio.open(path)]


def settings(**changes) -> QCSettings:
    return QCSettings.from_mapping(changes)


def balanced(result) -> bool:
    c = result.counts
    removed = sum(c.removed_reads.values())
    return c.reads_in == removed + c.reads_out + c.singleton_reads


def test_nextera_read_through_is_trimmed(tmp_path):
    result = run_qc(
        "ERR878216",
        READS / "ERR878216_R1.fastq.gz",
        READS / "ERR878216_R2.fastq.gz",
        tmp_path,
        threads=2,
    )
    assert result.adapters.kind == "nextera"
    probes = {NEXTERA[i : i + 12] for i in range(len(NEXTERA) - 11)}
    total = with_adapter = 0
    for path in result.outputs.values():
        for record in dnaio.open(path):
            total += 1
            with_adapter += any(p in record.sequence for p in probes)
    assert total > 15_000
    assert with_adapter / total < 0.001
    assert balanced(result)
    assert names(result.outputs["R1"]) == names(result.outputs["R2"]) or [
        n.removesuffix("/1") for n in names(result.outputs["R1"])
    ] == [n.removesuffix("/2") for n in names(result.outputs["R2"])]


def test_human_reads_are_removed_and_bacteria_kept(tmp_path, host_index, threads):
    result = run_qc(
        "sim04",
        READS / "sim04_R1.fastq.gz",
        READS / "sim04_R2.fastq.gz",
        tmp_path,
        host_index=host_index,
        threads=threads,
    )
    with gzip.open(TEST_DATA / "truth" / "sim04.reads.tsv.gz", "rt") as f:
        truth = {row["read_id"]: row["taxid"] for row in csv.DictReader(f, delimiter="\t")}
    kept = [n.split("/")[0] for n in names(result.outputs["R1"])]
    human = [r for r, t in truth.items() if t == "9606"]
    bacteria = len(truth) - len(human)
    kept_human = sum(truth[r] == "9606" for r in kept)
    assert len(human) >= 100
    assert kept_human / len(human) <= 0.01
    assert (bacteria - (len(kept) - kept_human)) / bacteria <= 0.001
    assert result.counts.removed_reads["host"] == 2 * (len(truth) - len(kept))


def test_pairs_stay_in_sync_and_threads_agree(tmp_path):
    runs = {}
    for t in (1, 2):
        out = tmp_path / f"t{t}"
        result = run_qc(
            "ERR",
            READS / "ERR878216_R1.fastq.gz",
            READS / "ERR878216_R2.fastq.gz",
            out,
            settings(min_length=70),
            threads=t,
        )
        r1, r2 = names(result.outputs["R1"]), names(result.outputs["R2"])
        assert len(r1) == len(r2) and [n[:-2] for n in r1] == [n[:-2] for n in r2]
        runs[t] = (r1, result.to_dict()["steps"])
    assert runs[1] == runs[2]


def test_qc_of_its_own_output_removes_almost_nothing(tmp_path, host_index):
    first = run_qc(
        "a",
        READS / "ERR878216_R1.fastq.gz",
        READS / "ERR878216_R2.fastq.gz",
        tmp_path / "1",
        host_index=host_index,
    )
    second = run_qc(
        "a",
        first.outputs["R1"],
        first.outputs["R2"],
        tmp_path / "2",
        settings(adapters="nextera"),
        host_index=host_index,
    )
    assert second.counts.reads_in == first.counts.reads_out
    assert second.counts.reads_out >= 0.995 * second.counts.reads_in


def test_low_complexity_reads_go(tmp_path):
    rng = np.random.default_rng(1)
    good = random_records(rng, 20, min_len=120, max_len=120, alphabet="ACGT")
    bad = [("poly/1", "A" * 120, "I" * 120), ("dinuc/1", "CA" * 60, "I" * 120)]
    path = write_fastq(tmp_path / "r.fq.gz", good + bad)
    result = run_qc("lc", path, None, tmp_path / "out", settings(quality_cutoff=0))
    assert result.counts.removed_reads["low_complexity"] == 2
    assert names(result.outputs["reads"]) == [n for n, _, _ in good]


def test_dedup_and_singletons(tmp_path):
    rng = np.random.default_rng(2)
    r1 = random_records(rng, 6, min_len=80, max_len=80, alphabet="ACGT", mate=1)
    r2 = random_records(rng, 6, min_len=80, max_len=80, alphabet="ACGT", mate=2)
    r1[3] = ("r3/1", r1[0][1], r1[0][2])  # pair 3 duplicates pair 0
    r2[3] = ("r3/2", r2[0][1], r2[0][2])
    r2[5] = ("r5/2", "ACGTTGCA", "IIIIIIII")  # too short: pair 5 broken
    p1 = write_fastq(tmp_path / "a_R1.fq.gz", r1)
    p2 = write_fastq(tmp_path / "a_R2.fq.gz", r2)
    result = run_qc(
        "a", p1, p2, tmp_path / "o", settings(dedup=True, keep_singletons=True, quality_cutoff=0)
    )
    assert names(result.outputs["R1"]) == ["r0/1", "r1/1", "r2/1", "r4/1"]
    assert names(result.outputs["singletons"]) == ["r5/1"]
    assert result.counts.removed_reads["duplicate"] == 2
    assert result.counts.removed_reads["too_short"] == 1
    assert balanced(result)


def test_interleaved_bam_equals_fastq(tmp_path):
    pysam = pytest.importorskip("pysam")
    records1 = list(dnaio.open(READS / "sim01_R1.fastq.gz"))[:500]
    records2 = list(dnaio.open(READS / "sim01_R2.fastq.gz"))[:500]
    bam = tmp_path / "s.bam"
    with pysam.AlignmentFile(str(bam), "wb", header={"HD": {"VN": "1.6"}}) as out:
        for a, b in zip(records1, records2, strict=True):
            for rec, flag in ((a, 77), (b, 141)):
                seg = pysam.AlignedSegment()
                seg.query_name = rec.name.split("/")[0]
                seg.query_sequence = rec.sequence
                seg.query_qualities = pysam.qualitystring_to_array(rec.qualities)
                seg.flag = flag
                out.write(seg)
    fq1 = write_fastq(tmp_path / "s_R1.fq", [(r.name, r.sequence, r.qualities) for r in records1])
    fq2 = write_fastq(tmp_path / "s_R2.fq", [(r.name, r.sequence, r.qualities) for r in records2])
    from_bam = run_qc("s", bam, None, tmp_path / "bam")
    from_fastq = run_qc("s", fq1, fq2, tmp_path / "fq")
    assert from_bam.layout == "paired"
    assert from_bam.to_dict()["steps"] == from_fastq.to_dict()["steps"]


def test_cli_writes_reads_and_statistics(tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "qc",
                "-1",
                str(READS / "sim04_R1.fastq.gz"),
                "-2",
                str(READS / "sim04_R2.fastq.gz"),
                "--host",
                *map(str, HOST),
                "-t",
                "2",
                "-o",
                str(out),
                "-s",
                "sim04",
                "--min-length",
                "60",
            ]
        )
        == 0
    )
    stats = json.loads((out / "sim04.qc.json").read_text())
    assert stats["settings"]["min_length"] == 60
    assert {s["step"] for s in stats["steps"]} >= {"input", "host", "output"}
    assert sorted(p.name for p in out.iterdir()) == [
        "sim04.qc.json",
        "sim04_R1.fastq.gz",
        "sim04_R2.fastq.gz",
    ]
    assert (
        main(
            [
                "merge-qc",
                str(out / "sim04.qc.json"),
                "-o",
                str(out / "qc.tsv"),
                "--multiqc",
                str(out / "mqc"),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((out / "qc.tsv").read_text().splitlines(), delimiter="\t"))
    assert rows[0]["sample_id"] == "sim04" and rows[0]["host_read_percent"] == "3.0"
    assert (out / "mqc" / "microbiome_qc_general_stats_mqc.tsv").read_text().startswith("# id:")


# ---------------------------------------------------------------- bad input


def test_missing_adapter_file():
    with pytest.raises(ConfigError, match="adapter FASTA file not found"):
        run_qc(
            "x", READS / "SRR514303_SE.fastq.gz", None, "/nonexistent", settings(adapters="nope.fa")
        )


def test_host_reference_missing_or_not_fasta(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        build_host_index([tmp_path / "missing.fa"], tmp_path / "h.idx")
    with pytest.raises(InputError, match="must be FASTA"):
        build_host_index([READS / "SRR514303_SE.fastq.gz"], tmp_path / "h.idx")
    (tmp_path / "junk.idx").write_bytes(b"garbage")
    with pytest.raises(DatabaseError, match="bad magic"):
        run_qc(
            "x", READS / "SRR514303_SE.fastq.gz", None, tmp_path, host_index=tmp_path / "junk.idx"
        )


def test_reads_shorter_than_k_are_counted_not_fatal(tmp_path, host_index):
    records = [("a", "ACGTAC", "IIIIII"), ("b", "ACGTACGTAC", "IIIIIIIIII")]
    path = write_fastq(tmp_path / "short.fq", records)
    result = run_qc("s", path, None, tmp_path / "o", settings(min_length=1), host_index=host_index)
    assert result.counts.reads_out == 2 and result.counts.removed_reads["host"] == 0


@pytest.mark.parametrize("case", ["truncated", "fasta", "unpaired"])
def test_bad_reads_leave_no_output(tmp_path, capsys, case):
    out = tmp_path / "out"
    args = ["qc", "-o", str(out), "-s", "bad", "-q"]
    if case == "truncated":
        data = (READS / "SRR514303_SE.fastq.gz").read_bytes()
        (tmp_path / "t.fq.gz").write_bytes(data[: len(data) // 2])
        args += ["-1", str(tmp_path / "t.fq.gz")]
    elif case == "fasta":
        (tmp_path / "r.fa").write_text(">a\nACGT\n")
        args += ["-1", str(tmp_path / "r.fa")]
    else:
        write_fastq(tmp_path / "a_1.fq", [("x/1", "ACGT", "IIII")])
        write_fastq(tmp_path / "a_2.fq", [("y/2", "ACGT", "IIII")])
        args += ["-1", str(tmp_path / "a_1.fq"), "-2", str(tmp_path / "a_2.fq")]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("microbiome: error: ")
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.skipif(
    shutil.which("fastp") is None, reason="fastp not installed (Debian package 'fastp')"
)
def test_fastp_engine_gives_the_same_outputs_and_statistics(tmp_path):
    common = dict(min_length=60)
    ours = run_qc(
        "e",
        READS / "ERR878216_R1.fastq.gz",
        READS / "ERR878216_R2.fastq.gz",
        tmp_path / "c",
        settings(**common),
        threads=2,
    )
    theirs = run_qc(
        "e",
        READS / "ERR878216_R1.fastq.gz",
        READS / "ERR878216_R2.fastq.gz",
        tmp_path / "f",
        settings(engine="fastp", **common),
        threads=2,
    )
    assert theirs.engine.startswith("fastp")
    assert sorted(theirs.outputs) == sorted(ours.outputs)
    a, b = ours.to_dict(), theirs.to_dict()
    assert [s["step"] for s in a["steps"]] == [s["step"] for s in b["steps"]]
    assert a["before"] == b["before"]
    assert b["steps"][2]["reads_with_adapter"] > 3000
    # Both remove the read-through: similar numbers of reads survive.
    assert abs(theirs.counts.reads_out - ours.counts.reads_out) < 0.02 * ours.counts.reads_in
    assert balanced(theirs)
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["e_R1.fastq.gz", "e_R2.fastq.gz"]


@pytest.mark.skipif(
    shutil.which("bowtie2") is None, reason="bowtie2 not installed (Debian 'bowtie2')"
)
def test_bowtie2_host_method_removes_the_human_reads(tmp_path, capsys):
    assert (
        main(["qc-index", "--bowtie2", *map(str, HOST), "-o", str(tmp_path / "bt2" / "host"), "-q"])
        == 0
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "qc",
                "-1",
                str(READS / "sim04_R1.fastq.gz"),
                "-2",
                str(READS / "sim04_R2.fastq.gz"),
                "--host-method",
                "bowtie2",
                "--host-index",
                str(tmp_path / "bt2" / "host"),
                "-t",
                "2",
                "-o",
                str(out),
                "-s",
                "sim04",
                "-q",
            ]
        )
        == 0
    )
    stats = json.loads((out / "sim04.qc.json").read_text())
    host = next(s for s in stats["steps"] if s["step"] == "host")
    assert 235 <= host["reads"] <= 245  # 120 simulated human pairs
    kept = names(out / "sim04_R1.fastq.gz")
    assert len(kept) == stats["steps"][-1]["reads"] / 2 == len(names(out / "sim04_R2.fastq.gz"))
    assert sorted(p.name for p in out.iterdir()) == [
        "sim04.qc.json",
        "sim04_R1.fastq.gz",
        "sim04_R2.fastq.gz",
    ]


def test_error_lines_count_from_the_start_of_the_file(tmp_path, capsys, threads):
    rng = np.random.default_rng(5)
    good = random_records(rng, 30_000, min_len=100, max_len=100, alphabet="ACGT")
    text = "".join(f"@{n}\n{s}\n+\n{q}\n" for n, s, q in good) + "@bad\nACGT\n+\nIII\n"
    path = tmp_path / "late.fq"
    path.write_text(text)
    assert main(["qc", "-1", str(path), "-o", str(tmp_path / "o"), "-t", str(threads), "-q"]) == 1
    err = capsys.readouterr().err
    assert f"late.fq, line {4 * 30_000 + 4}: quality string and sequence differ" in err


def test_outputs_are_reproducible_and_valid_when_empty(tmp_path, host_index):
    import time

    first = run_qc("s", READS / "SRR514303_SE.fastq.gz", None, tmp_path / "a", threads=2)
    time.sleep(1.1)  # a gzip timestamp would now differ
    second = run_qc("s", READS / "SRR514303_SE.fastq.gz", None, tmp_path / "b", threads=1)
    assert Path(first.outputs["reads"]).read_bytes() == Path(second.outputs["reads"]).read_bytes()
    human = write_fastq(tmp_path / "human.fq", [("h1", "ACGT" * 5, "I" * 20)])
    empty = run_qc("h", human, None, tmp_path / "c", settings(min_length=30))
    assert empty.counts.reads_out == 0
    assert gzip.decompress(Path(empty.outputs["reads"]).read_bytes()) == b""
