"""The Snakemake workflow: lint, dry runs of several scenarios, and a full run of the demo."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import READS, ROOT
from workflow_helpers import (
    EXPECTED,
    assert_same_text,
    make_workdir,
    snakemake,
    without_file_column,
)


def test_lint_is_clean():
    result = snakemake(ROOT, "--lint")
    assert result.returncode == 0, result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


SCENARIOS = {
    "demo": None,
    "single_end_only": [f"se\t{READS / 'SRR514303_SE.fastq.gz'}\t"],
    "paired_only": [
        f"p{i}\t{READS / f'sim0{i}_R1.fastq.gz'}\t{READS / f'sim0{i}_R2.fastq.gz'}" for i in (1, 2)
    ],
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_dry_run(tmp_path, scenario):
    rows = SCENARIOS[scenario]
    result = snakemake(make_workdir(tmp_path, rows), "--dry-run")
    assert result.returncode == 0, result.stderr
    n = 6 if rows is None else len(rows)
    assert f"read_stats {n:>14}" in result.stdout or f"read_stats{n:>15}" in result.stdout, (
        result.stdout
    )


def test_invalid_sheet_stops_the_workflow_at_start(tmp_path):
    rows = ["A\tmissing.fq\t", "A\tother.fq\t"]
    result = snakemake(make_workdir(tmp_path, rows), "--dry-run")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "line 3, column sample_id: duplicate sample ID 'A'" in output
    assert "line 2, column fastq_1: file not found" in output


@pytest.mark.slow
def test_full_demo_run(tmp_path):
    work = make_workdir(tmp_path)
    result = snakemake(work)
    assert result.returncode == 0, result.stderr
    for sample in ("ERR878216", "SRR514303", "sim01", "sim02", "sim03", "sim04"):
        data = json.loads((work / "results" / "stats" / f"{sample}.json").read_text())
        assert data["sample_id"] == sample
        assert (work / "logs" / "stats" / f"{sample}.log").exists()
        assert (work / "results" / "benchmarks" / "stats" / f"{sample}.tsv").exists()
    merged = (work / "results" / "stats" / "read_stats.tsv").read_text()
    assert_same_text(
        without_file_column(merged), (EXPECTED / "read_stats.tsv").read_text(), "read_stats.tsv"
    )
    qc = work / "results" / "qc"
    assert (work / "resources" / "host" / "host.idx").exists()
    for sample in ("ERR878216", "sim01", "sim02", "sim03", "sim04"):
        assert (qc / f"{sample}_R1.fastq.gz").exists() and (qc / f"{sample}_R2.fastq.gz").exists()
    assert (qc / "SRR514303.fastq.gz").exists()
    summary = (qc / "qc_summary.tsv").read_text()
    assert_same_text(summary, (EXPECTED / "qc_summary.tsv").read_text(), "qc_summary.tsv")
    # MultiQC finds the custom content of every sample.
    multiqc = subprocess.run(
        [sys.executable, "-m", "multiqc", str(work / "results"), "-o", str(tmp_path / "mqc"), "-q"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert multiqc.returncode == 0, multiqc.stderr
    general = (tmp_path / "mqc" / "multiqc_data" / "multiqc_general_stats.txt").read_text()
    assert "microbiome_qc-kept_read_percent" in general
    assert all(sample in general for sample in ("ERR878216", "SRR514303", "sim04"))
    # Nothing to do on a second run: outputs are complete and recognised as such.
    again = snakemake(work, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
