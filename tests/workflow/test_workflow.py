"""The Snakemake workflow: lint, dry runs of several scenarios, and a full run of the demo."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from conftest import KRAKEN2, READS, ROOT, TEST_DATA, kraken2_database
from workflow_helpers import make_workdir, microbiome_run, shared_demo_run, snakemake


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
    """The kraken2 backend on one paired and one single-end sample, up to the merged tables (the
    stages after them read the same tables whichever profiler made them)."""
    k2 = kraken2_database(tmp_path / "k2db")
    rows = [
        f"sim01\t{READS / 'sim01_R1.fastq.gz'}\t{READS / 'sim01_R2.fastq.gz'}",
        f"se\t{READS / 'SRR514303_SE.fastq.gz'}\t",
    ]
    work = make_workdir(tmp_path, rows)
    set_profile(work, profiler="kraken2", kraken2_db=k2, per_read_output="true")
    tables = work / "results" / "tables"
    targets = ("species.relative_classified.tsv", "classification_summary.tsv")
    result = snakemake(work, *(f"results/tables/{name}" for name in targets))
    assert result.returncode == 0, result.stderr
    for sample in ("sim01", "se"):
        for ext in ("kreport", "cami", "tsv", "reads.gz"):
            assert (work / "results" / "profile" / f"{sample}.{ext}").exists(), (sample, ext)
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


def _clinical_sheet(work, edits):
    """The demo's clinical sheet in ``work`` with (line, column, value) edits, named in the
    config."""
    rows = [
        r.split("\t") for r in (TEST_DATA / "metadata" / "clinical.tsv").read_text().splitlines()
    ]
    for line, column, value in edits:
        rows[line - 1][rows[0].index(column)] = value
    sheet = work / "config" / "clinical.tsv"
    sheet.write_text("\n".join("\t".join(r) for r in rows) + "\n")
    config = work / "config" / "config.yaml"
    demo = f"table: {TEST_DATA}/metadata/clinical.tsv"
    config.write_text(config.read_text().replace(demo, f"table: {sheet}"))
    return sheet


def test_start_up_reports_every_problem_of_the_config_and_both_sheets(tmp_path):
    """The start-up check is `microbiome validate`'s: every problem at once, with did-you-mean
    and the config file's line for mistyped keys."""
    work = make_workdir(tmp_path, ["A\tmissing.fq\t", "A\tother.fq\t"])
    sheet = _clinical_sheet(work, [(3, "bmi", "290"), (5, "antibiotics", "maybe")])
    config = work / "config" / "config.yaml"
    text = config.read_text().replace("  min_length: 50 ", "  min_lenght: 50 ")
    config.write_text(text + "profle: {}\n")
    typo = 1 + next(i for i, line in enumerate(text.splitlines()) if "min_lenght" in line)
    profle = len(text.splitlines()) + 1
    result = snakemake(work, "--dry-run")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for message in (
        f"config/config.yaml, line {typo}: key qc.min_lenght: unknown key; did you mean"
        " 'min_length'?",
        f"config/config.yaml, line {profle}: key profle: unknown key; did you mean 'profile'?",
        "line 2, column fastq_1: file not found",
        "line 3, column sample_id: duplicate sample ID 'A'",
        f"{sheet}, line 3, column bmi: 290 is outside the declared range 10..80",
        f"{sheet}, line 5, column antibiotics: 'maybe' is not one of the declared levels no, yes",
    ):
        assert message in output, (message, output)


def test_start_up_lists_the_cleaned_labels(tmp_path):
    work = make_workdir(tmp_path)
    sheet = _clinical_sheet(work, [(2, "diagnosis", "Control "), (4, "diagnosis", "Control ")])
    result = snakemake(work, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert (
        f"{sheet}, column diagnosis: 2 values had surrounding spaces removed ('Control ' ->"
        " 'Control', lines 2, 4)"
    ) in result.stdout + result.stderr


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    return shared_demo_run(tmp_path_factory)


@pytest.mark.slow
def test_full_demo_run(demo_run, tmp_path):
    work = demo_run  # shared with the SLURM test (test_slurm.py); nothing here changes it
    for sample in ("ERR878216", "SRR514303", "sim01", "sim02", "sim03", "sim04"):
        data = json.loads((work / "results" / "stats" / f"{sample}.json").read_text())
        assert data["sample_id"] == sample
        assert (work / "logs" / "stats" / f"{sample}.log").exists()
        assert (work / "results" / "benchmarks" / "stats" / f"{sample}.tsv").exists()
    # (every table's values: test_golden.py, on this same run)
    qc = work / "results" / "qc"
    assert (work / "resources" / "host" / "host.idx").exists()
    for sample in ("ERR878216", "sim01", "sim02", "sim03", "sim04"):
        assert (qc / f"{sample}_R1.fastq.gz").exists() and (qc / f"{sample}_R2.fastq.gz").exists()
    assert (qc / "SRR514303.fastq.gz").exists()
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
    # One status table: the two real samples' reads are nearly all unclassified by the demo's
    # 13 references (1.1 % and 0.2 %): their coverage fails, not their QC, and they are left out.
    status = pd.read_csv(tables / "sample_status.tsv", sep="\t", index_col=0,
                         keep_default_na=False)  # fmt: skip
    real = ["ERR878216", "SRR514303"]
    assert (status.loc[real, "coverage_verdict"] == "FAIL").all()
    assert (status.loc[real, "qc_verdict"] != "FAIL").all()
    assert (status.loc[real, "excluded"] == "yes").all()
    assert (status.drop(index=real)["excluded"] == "no").all()
    p03 = (work / "results" / "report" / "patients" / "P03.html").read_text()
    assert "no reads were classified" not in p03 and "Profiling coverage" in p03
    # Nothing to do on a second run: outputs are complete and recognised as such.
    again = microbiome_run(work, "--dry-run")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    # The browsable archive the README recommends: every caption is found.
    archive = microbiome_run(work, "--", "--report", str(tmp_path / "report.zip"))
    assert archive.returncode == 0, archive.stderr
    with zipfile.ZipFile(tmp_path / "report.zip") as z:
        names = z.namelist()
    assert any(n.endswith("sample_status.tsv") for n in names)
    assert any(n.endswith("cohort.html") for n in names)
    assert_resources_rerun_nothing(work, tmp_path)


def assert_resources_rerun_nothing(work, tmp_path):
    """After a complete run: changing only what sizes the jobs (threads, mem_mb, runtime and
    their *_per_gb, of every stage) leaves nothing to do (a SLURM user raising mem_mb after an
    out-of-memory kill reruns nothing); changing a setting of QC reruns QC and what follows.
    (Dry runs with edited copies of the config: the run itself is shared, and stays as it is.)"""
    original = (ROOT / "config" / "config.yaml").read_text()
    path = tmp_path / "config.yaml"
    resource = re.compile(r"^(\s+(?:threads|mem_mb|mem_mb_per_gb|runtime|runtime_per_gb): )(\d+)",
                          re.MULTILINE)  # fmt: skip
    changed, n = resource.subn(lambda m: f"{m[1]}{int(m[2]) * 2 + 1}", original)
    assert n >= 25, n  # of the six stages (diversity has no threads, integrate no *_per_gb)
    path.write_text(changed)
    again = microbiome_run(work, "--dry-run", config=path)
    assert again.returncode == 0, again.stderr
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout
    # A science key: QC of every sample reruns, and what depends on it; the read statistics not.
    path.write_text(original.replace("  min_length: 50 ", "  min_length: 60 "))
    rerun = microbiome_run(work, "--dry-run", config=path)
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, rerun.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.MULTILINE))
    assert jobs.get("qc_paired") == "5" and jobs.get("qc_single") == "1", out
    assert "read_stats" not in jobs and "host_index" not in jobs, out
    assert "Params have changed" in out, out
