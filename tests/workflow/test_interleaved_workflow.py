"""The workflow takes a sample whose fastq_1 is an interleaved FASTQ through the paired path
(issue 13)."""

from __future__ import annotations

import gzip
import json

import dnaio
import pytest
from conftest import READS
from workflow_helpers import make_workdir, snakemake

R1, R2 = READS / "sim01_R1.fastq.gz", READS / "sim01_R2.fastq.gz"


def interleaved_sheet(tmp_path):
    inter = tmp_path / "inter.fastq.gz"
    with gzip.open(inter, "wt") as out:
        for a, b in zip(dnaio.open(R1), dnaio.open(R2), strict=True):
            out.write(a.fastq_bytes().decode() + b.fastq_bytes().decode())
    return make_workdir(tmp_path, [f"inter\t{inter}\t", f"two\t{R1}\t{R2}"])


def test_dry_run_routes_it_to_paired_qc(tmp_path):
    work = interleaved_sheet(tmp_path)
    result = snakemake(work, "--dry-run", "results/qc/inter_R1.fastq.gz")
    assert result.returncode == 0, result.stderr
    assert "rule qc_paired:" in result.stdout and "results/qc/inter_R2.fastq.gz" in result.stdout


@pytest.mark.slow
def test_stats_and_qc_of_it_equal_the_two_files(tmp_path):
    work = interleaved_sheet(tmp_path)
    targets = [f"results/{stage}/{s}.{ext}" for s in ("inter", "two")
               for stage, ext in (("stats", "json"), ("qc", "qc.json"))]  # fmt: skip
    result = snakemake(work, *targets)
    assert result.returncode == 0, result.stderr

    def load(stage, sample, ext):
        return json.loads((work / "results" / stage / f"{sample}.{ext}").read_text())

    inter, two = load("stats", "inter", "json"), load("stats", "two", "json")
    assert inter["layout"] == "paired" and inter["pairs"] == two["pairs"] == 4000
    assert [f | {"file": ""} for f in inter["files"]] == [f | {"file": ""} for f in two["files"]]
    inter, two = load("qc", "inter", "qc.json"), load("qc", "two", "qc.json")
    assert inter["layout"] == "paired" and inter["steps"] == two["steps"]
    for mate in ("R1", "R2"):
        assert (work / "results" / "qc" / f"inter_{mate}.fastq.gz").stat().st_size > 0
