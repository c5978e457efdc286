"""The workflow's tables mode: everything after profiling from given tables, no reads."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from conftest import TEST_DATA
from workflow_helpers import make_workdir, snakemake

KIM = TEST_DATA / "multiomics"


def _tables_config(work, tables=None, **integrate):
    path = work / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["samples"] = str(work / "no_such_sheet.tsv")  # tables mode reads no sample sheet
    config["profile"].update(references=[], taxonomy="", seqid2taxid="")  # nor references
    config["diversity"].update(rank="genus", variables=["Study.Group"], permutations=99)
    config["metadata"] = {
        "table": str(KIM / "kim_integrate_metadata.tsv"),
        "sample_column": "Sample",
        "patient_column": "Subject",
        "variables": {
            "Study.Group": {"type": "categorical", "levels": ["Control", "Adenoma", "Carcinoma"]}
        },
    }
    config["mode"] = "tables"
    config["tables"].update({"taxa": str(KIM / "kim_integrate_genera.tsv")} | (tables or {}))
    config["integrate"].update(
        {
            "metabolites": str(KIM / "kim_mtb_subset.tsv"),
            "metabolite_annotation": str(KIM / "kim_mtb_subset_map.tsv"),
            "variables": ["Study.Group"],
            "covariates": [],
        }
        | integrate
    )
    # The reports of this cohort: its controls as the reference group; HTML only (speed).
    config["report"].update(reference={"variable": "Study.Group", "levels": ["Control"]}, pdf=False)
    config["integrate"]["biomarkers"].update(
        outcome="Study.Group", positive=["Adenoma", "Carcinoma"], folds=3, repeats=2,
        permutations=9, bootstrap=100, trees=25,
    )  # fmt: skip
    path.write_text(yaml.safe_dump(config))


@pytest.mark.slow
def test_tables_mode_runs_end_to_end_without_reads(tmp_path):
    work = make_workdir(tmp_path)
    _tables_config(work)
    result = snakemake(work)
    assert result.returncode == 0, result.stderr
    out = work / "results" / "integrate"
    for name in (
        "join_report.tsv",
        "associations.tsv",
        "correlations.tsv",
        "parameters.json",
        "config.json",
        "biomarkers/performance.tsv",
        "biomarkers/model.joblib",
        "figures/roc.svg",
        "harmonised/multiomics.biom",
    ):
        assert (out / name).is_file(), name
    perf = pd.read_csv(out / "biomarkers" / "performance.tsv", sep="\t")
    assert len(perf) == 6 and (perf["n_samples"] == 32).all()
    assert not (work / "results" / "stats").exists() and not (work / "results" / "qc").exists()
    assert (work / "logs" / "integrate" / "integrate.log").is_file()
    # Diversity runs from the same table (no read sketches without reads).
    alpha = pd.read_csv(work / "results" / "diversity" / "alpha.tsv", sep="\t")
    assert len(alpha) == 32
    assert not (work / "results" / "diversity" / "beta" / "kmer_jaccard.distances.tsv").exists()
    # Reports: the cohort's and one per patient of the clinical sheet (HTML only here).
    report = work / "results" / "report"
    assert "genus is shown instead" in (report / "cohort.html").read_text()
    assert len(list((report / "patients").glob("*.html"))) == 32
    assert not list((report / "patients").glob("*.pdf"))
    # One status table without QC: sample quality is not available, never a warning.
    status = pd.read_csv(work / "results" / "tables" / "sample_status.tsv", sep="\t",
                         keep_default_na=False)  # fmt: skip
    assert len(status) == 32 and (status["qc_verdict"] == "NA").all()
    assert (
        "QC was not run here: sample quality is not available"
        in (report / "cohort.html").read_text()
    )


def test_tables_mode_from_profiler_outputs_dry_run(tmp_path):
    work = make_workdir(tmp_path)
    reports = sorted((TEST_DATA / "profiler_outputs").glob("kraken2__*"))
    _tables_config(work, {"taxa": "", "profiler_outputs": [str(p) for p in reports]}, rank="genus")
    result = snakemake(work, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "import_profiles" in result.stdout and "results/tables/imported.genus.tsv" in (
        result.stdout
    )
    assert "read_stats" not in result.stdout and "classify" not in result.stdout
    # the reports' unclassified lines give the classified fraction of each sample
    assert "import_classification_summary" in result.stdout
    assert "results/tables/classification_summary.tsv" in result.stdout


def test_tables_mode_without_a_table_says_which_keys_to_set(tmp_path):
    work = make_workdir(tmp_path)
    _tables_config(work, {"taxa": ""})
    result = snakemake(work, "--dry-run")
    assert result.returncode != 0
    assert "set tables.taxa" in result.stdout + result.stderr


def test_tables_mode_passes_the_declared_orientation(tmp_path):
    """tables.orientation reaches both readers of the taxa table (diversity and integrate)."""
    work = make_workdir(tmp_path)
    _tables_config(work, {"orientation": "samples-as-rows"})
    result = snakemake(work, "--dry-run", "--printshellcmds")
    assert result.returncode == 0, result.stderr
    assert "microbiome diversity" in result.stdout
    assert "--orientation samples-as-rows" in result.stdout
    assert "--taxa-orientation samples-as-rows" in result.stdout
