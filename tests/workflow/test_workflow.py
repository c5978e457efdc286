"""The Snakemake workflow: lint, dry runs of several scenarios, and a full run of the demo."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from conftest import KRAKEN2, READS, ROOT, TEST_DATA, kraken2_database
from workflow_helpers import (
    EXPECTED,
    assert_same_text,
    make_workdir,
    snakemake,
    without_file_column,
)


def test_snakefmt_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", str(ROOT / "workflow")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + result.stdout


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


def set_profile(work, **settings):
    """Change keys of the profile: section of a work directory's config."""
    path = work / "config" / "config.yaml"
    text = path.read_text()
    for key, value in settings.items():
        text, n = re.subn(rf"^(  {key}:) [^#\n]*", rf"\1 {value}  ", text, count=1, flags=re.M)
        assert n == 1, key
    path.write_text(text)


def job_counts(stdout: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stdout, re.M)}


def test_dry_run_profile_variants(tmp_path):
    # Default: the database is built once, each sample classified, the tables merged.
    work = make_workdir(tmp_path, name="build")
    result = snakemake(work, "--dry-run")
    assert result.returncode == 0, result.stderr
    jobs = job_counts(result.stdout)
    assert (jobs["profile_database"], jobs["classify"], jobs["merge_profiles"]) == (1, 6, 1)
    # A prebuilt database: nothing is built.
    work = make_workdir(tmp_path, name="prebuilt")
    db = tmp_path / "prebuilt.mbdb"
    db.write_bytes(b"")
    set_profile(work, database=db)
    jobs = job_counts(snakemake(work, "--dry-run").stdout)
    assert "profile_database" not in jobs and jobs["classify"] == 6
    # Kraken 2: the kraken2 program, then the import, for each sample.
    work = make_workdir(tmp_path, name="kraken2")
    k2 = tmp_path / "k2db"
    k2.mkdir()
    for name in ("hash.k2d", "opts.k2d", "taxo.k2d"):
        (k2 / name).write_bytes(b"")
    set_profile(work, profiler="kraken2", kraken2_db=k2, per_read_output="true")
    result = snakemake(work, "--dry-run")
    assert result.returncode == 0, result.stderr
    jobs = job_counts(result.stdout)
    assert (jobs["kraken2"], jobs["profile_import"], jobs["merge_profiles"]) == (6, 6, 1)
    assert "classify" not in jobs and "profile_database" not in jobs
    # The stage switched off; and switched on without a database, a clear message.
    work = make_workdir(tmp_path, name="off")
    set_profile(work, activate="false")
    jobs = job_counts(snakemake(work, "--dry-run").stdout)
    assert "classify" not in jobs and "merge_profiles" not in jobs and jobs["merge_qc"] == 1
    work = make_workdir(tmp_path, name="nodb")
    set_profile(work, taxonomy='""')
    result = snakemake(work, "--dry-run")
    assert result.returncode != 0
    assert "set profile.references and profile.taxonomy" in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.skipif(not KRAKEN2, reason="kraken2 is not installed (apt-get install kraken2)")
def test_kraken2_profiler_run(tmp_path):
    """The kraken2 backend end to end on one paired and one single-end sample."""
    k2 = kraken2_database(tmp_path / "k2db")
    rows = [
        f"sim01\t{READS / 'sim01_R1.fastq.gz'}\t{READS / 'sim01_R2.fastq.gz'}",
        f"se\t{READS / 'SRR514303_SE.fastq.gz'}\t",
    ]
    work = make_workdir(tmp_path, rows)
    set_profile(work, profiler="kraken2", kraken2_db=k2, per_read_output="true")
    result = snakemake(work)
    assert result.returncode == 0, result.stderr
    for sample in ("sim01", "se"):
        for ext in ("kreport", "cami", "tsv", "reads.gz"):
            assert (work / "results" / "profile" / f"{sample}.{ext}").exists(), (sample, ext)
    tables = work / "results" / "tables"
    species = pd.read_csv(tables / "species.relative_classified.tsv", sep="\t")
    assert list(species.columns[3:]) == ["sim01", "se"]
    summary = pd.read_csv(tables / "classification_summary.tsv", sep="\t")
    assert summary["sample_id"].tolist() == ["sim01", "se"]
    truth = pd.read_csv(TEST_DATA / "truth" / "sim01.profile.tsv", sep="\t")
    got = dict(zip(species["taxid"], species["sim01"], strict=True))
    assert got[411483] == pytest.approx(0.25, abs=0.01)  # F. duncaniae
    assert len(truth) == sum(v > 0 for v in got.values())


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
    assert "microbiome_classification-classified_percent" in general
    assert all(sample in general for sample in ("ERR878216", "SRR514303", "sim04"))
    # Profiles: the database once, every sample classified, the cohort tables.
    assert (work / "resources" / "db" / "profile.mbdb").exists()
    for sample in ("ERR878216", "SRR514303", "sim01", "sim02", "sim03", "sim04"):
        for ext in ("kreport", "cami", "tsv"):
            assert (work / "results" / "profile" / f"{sample}.{ext}").exists(), (sample, ext)
    tables = work / "results" / "tables"
    for name in ("genus.counts.tsv", "profiles.long.tsv", "profiles.biom"):
        assert (tables / name).exists()
    # relative over all reads (the unclassified row first), and renormalised over the classified
    for name in ("species.relative.tsv", "species.relative_classified.tsv"):
        species = (tables / name).read_text()
        header = species.splitlines()[0].split("\t")
        assert header[3:] == ["ERR878216", "SRR514303", "sim01", "sim02", "sim03", "sim04"]
        assert_same_text(species, (EXPECTED / name).read_text(), name)
    assert species.splitlines()[1].startswith("411483\t")  # no unclassified row
    summary = pd.read_csv(tables / "classification_summary.tsv", sep="\t").set_index("sample_id")
    relative = pd.read_csv(tables / "species.relative.tsv", sep="\t").set_index("taxid")
    assert relative.index[0] == 0 and relative.iloc[:, 2:].sum().round(9).eq(1).all()
    # unclassified at species: at least what the classifier left unclassified (98.9 % and
    # 99.8 % of the two real samples against the 13 demo references; 0 for the simulated ones)
    unclassified = 1 - summary["reads_classified"] / summary["reads_total"]
    assert (relative.loc[0, summary.index] >= unclassified - 1e-9).all()
    assert summary.loc["ERR878216", "classified_percent"] == pytest.approx(
        100 * 96 / 8928, rel=1e-5
    )
    assert (summary.loc[["sim01", "sim02", "sim03", "sim04"], "classified_percent"] == 100).all()
    # Nothing to do on a second run: outputs are complete and recognised as such.
    again = snakemake(work, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
