"""`microbiome integrate` end to end on a small real cohort (KIM subset in test_data)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TEST_DATA

from microbiome.cli.main import main

KIM = TEST_DATA / "multiomics"
GENERA = KIM / "kim_integrate_genera.tsv"
MTB = KIM / "kim_mtb_subset.tsv"
MTB_MAP = KIM / "kim_mtb_subset_map.tsv"
META = KIM / "kim_integrate_metadata.tsv"

CONTRACT = {
    "join_report.tsv": [
        "sample_id",
        "patient_id",
        "has_taxa",
        "has_metabolites",
        "has_metadata",
        "note",
    ],
    "associations.tsv": [
        "feature",
        "feature_type",
        "variable",
        "level",
        "coefficient",
        "std_error",
        "n",
        "n_nonzero",
        "p_value",
        "q_value",
        "model",
    ],
    "correlations.tsv": ["taxon", "metabolite", "rho", "p_value", "q_value", "n"],
    "biomarkers/performance.tsv": [
        "feature_set",
        "model",
        "auroc_mean",
        "auroc_ci_low",
        "auroc_ci_high",
        "permutation_p",
        "n_samples",
        "n_positive",
        "n_splits",
        "n_repeats",
    ],
    "biomarkers/predictions.tsv": [
        "sample_id",
        "patient_id",
        "feature_set",
        "model",
        "probability",
        "outcome",
    ],
    "biomarkers/importance.tsv": [
        "feature_set",
        "model",
        "feature",
        "importance",
        "selection_frequency",
    ],
}


def _config(tmp_path, **biomarkers):
    config = {
        "metadata": {
            "sample_column": "Sample",
            "patient_column": "Subject",
            "variables": {
                "Study.Group": {
                    "type": "categorical",
                    "levels": ["Control", "Adenoma", "Carcinoma"],
                },
                "Gender": {"type": "categorical", "levels": ["Female", "Male"]},
            },
        },
        "integrate": {
            "rank": "genus",
            "variables": ["Study.Group"],
            "covariates": ["Gender"],
            "biomarkers": {
                "outcome": "Study.Group",
                "positive": ["Adenoma", "Carcinoma"],
                "folds": 3,
                "repeats": 2,
                "permutations": 9,
                "bootstrap": 100,
                "trees": 25,
                **biomarkers,
            },
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(tmp_path, *extra, config=None, metadata=META):
    out = tmp_path / "out"
    code = main(
        [
            "integrate",
            "--taxa",
            str(GENERA),
            "--metabolites",
            str(MTB),
            "--annotation",
            str(MTB_MAP),
            "--metadata",
            str(metadata),
            "--config",
            str(config or _config(tmp_path)),
            "-o",
            str(out),
            *extra,
        ]
    )
    return code, out


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kim")
    code, out = _run(tmp)
    assert code == 0
    return out


def test_contract_files_and_columns(result):
    for name, columns in CONTRACT.items():
        table = pd.read_csv(result / name, sep="\t", keep_default_na=False)
        assert set(columns) <= set(table.columns), name
    for name in ("volcano", "associations_heatmap", "correlations_heatmap", "roc"):
        assert (result / "figures" / f"{name}.svg").stat().st_size > 0
        assert (result / "figures" / f"{name}.png").stat().st_size > 0
    params = json.loads((result / "parameters.json").read_text())
    assert params["settings"]["biomarkers"]["permutations"] == 9
    assert params["settings"]["prevalence"] == 0.1
    assert params["derived"]["metabolite_transform_used"] == "none"
    assert "scikit-learn" in params["versions"]


def test_join_and_associations(result):
    join = pd.read_csv(result / "join_report.tsv", sep="\t")
    assert len(join) == 32 and join["has_taxa"].all() and join["has_metadata"].all()
    assoc = pd.read_csv(result / "associations.tsv", sep="\t", keep_default_na=False)
    assert set(assoc["feature_type"]) == {"taxon", "metabolite"}
    assert set(assoc["level"]) == {"Adenoma"}  # no carcinoma in the subset
    assert set(assoc["model"]) == {"ols"} and set(assoc["n"]) == {32}
    q = pd.to_numeric(assoc["q_value"])
    assert (q >= pd.to_numeric(assoc["p_value"]) - 1e-12).all() and (q <= 1).all()
    # One metabolite re-fitted directly (already log-scale, no missing values here).
    import statsmodels.formula.api as smf

    meta = pd.read_csv(META, sep="\t")
    mtb = pd.read_csv(MTB, sep="\t", index_col=0)
    name = mtb.columns[0]
    data = meta.assign(y=mtb.loc[meta["Sample"], name].to_numpy())
    fit = smf.ols("y ~ C(Q('Study.Group'), Treatment('Control')) + C(Gender)", data).fit()
    row = assoc[assoc["feature"] == name].iloc[0]
    term = "C(Q('Study.Group'), Treatment('Control'))[T.Adenoma]"
    assert float(row["coefficient"]) == pytest.approx(fit.params[term], rel=1e-5)
    assert float(row["p_value"]) == pytest.approx(fit.pvalues[term], rel=1e-4)


def test_biomarker_outputs_and_saved_model(result):
    perf = pd.read_csv(result / "biomarkers/performance.tsv", sep="\t")
    assert set(perf["feature_set"]) == {"taxa", "metabolites", "combined"}
    assert set(perf["model"]) == {"l1_logistic", "random_forest"}
    assert (perf["n_samples"] == 32).all() and (perf["n_positive"] == 16).all()
    described = json.loads((result / "biomarkers/model.json").read_text())
    assert described["positive_class"] == ["Adenoma", "Carcinoma"]
    chosen = described["chosen"]
    assert chosen["candidates"] == 6 and chosen["selection_optimism"] >= 0
    assert chosen["auroc_selection_corrected"] == pytest.approx(
        chosen["auroc_mean"] - chosen["selection_optimism"]
    )
    assert "Besag and Clifford" in described["permutation_p"]
    saved = joblib.load(result / "biomarkers/model.joblib")
    key = described["chosen"]["key"]
    assert saved["versions"]["scikit-learn"] and key in saved["models"]
    feature_set = described["chosen"]["feature_set"]
    from microbiome.io.feature_table import read_feature_table

    assert described["taxa_rank"] == "genus"
    taxa = read_feature_table(GENERA).at_rank("genus").data
    mtb = pd.read_csv(MTB, sep="\t", index_col=0)
    both = pd.concat([taxa, mtb], axis=1)
    columns = saved["feature_names"][feature_set]
    proba = saved["models"][key].predict_proba(both[columns])[:, 1]
    assert proba.shape == (32,) and np.all((proba >= 0) & (proba <= 1))


def test_harmonised_tables_biom_and_parquet(result):
    from biom import load_table

    table = load_table(str(result / "harmonised/multiomics.biom"))
    assert table.shape == (40 + 30, 32) or table.shape[1] == 32
    # the biom program accepts it (its creation date has no UTC offset: biom refuses one)
    biom = shutil.which("biom") or str(Path(sys.executable).parent / "biom")
    done = subprocess.run(
        [biom, "validate-table", "-i", str(result / "harmonised/multiomics.biom")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "is a valid BIOM-formatted file" in done.stdout, done.stdout
    assert table.metadata(table.ids()[0])["Study.Group"] in {"Control", "Adenoma"}
    for name in ("samples", "taxa", "metabolites", "features"):
        tsv = pd.read_csv(
            result / f"harmonised/{name}.tsv", sep="\t", keep_default_na=False, na_values=["NA"]
        )
        parquet = pd.read_parquet(result / f"harmonised/{name}.parquet")
        assert tsv.shape == parquet.shape


def test_value_outside_declared_levels_is_an_error(tmp_path, capsys):
    bad = tmp_path / "meta.tsv"
    bad.write_text(META.read_text().replace("\tControl\t", "\tcontrol\t", 1))
    code, _ = _run(tmp_path, metadata=bad)
    assert code == 1
    err = capsys.readouterr().err
    assert "line 18, column Study.Group: 'control' is not one of the declared levels" in err


def test_one_class_outcome_is_a_reported_skip(tmp_path):
    meta = pd.read_csv(META, sep="\t")
    controls = tmp_path / "controls.tsv"
    meta[meta["Study.Group"] == "Control"].to_csv(controls, sep="\t", index=False)
    code, out = _run(tmp_path, "--permutations", "0", metadata=controls)
    assert code == 0
    skipped = pd.read_csv(out / "skipped.tsv", sep="\t")
    assert skipped["reason"].str.contains("single class").any()
    join = pd.read_csv(out / "join_report.tsv", sep="\t", keep_default_na=False)
    unmatched = join[~join["has_metadata"]]
    assert len(unmatched) == 16
    assert unmatched["note"].str.contains("not in the clinical sheet").all()


def test_usage_errors(tmp_path, capsys):
    code, _ = _run(tmp_path, "--variables", "Nope")
    assert code == 2 and "variable 'Nope' is not a column" in capsys.readouterr().err
    code, _ = _run(tmp_path, "--permutation-alpha", "1.5")
    assert code == 2 and "--permutation-alpha 1.5 is not in [0, 1]" in capsys.readouterr().err
    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("Sample\tSubject\tStudy.Group\tGender\nX1\tX1\tControl\tMale\n")
    code, _ = _run(tmp_path, metadata=wrong)
    assert code == 1 and "no sample of the table is in the clinical sheet" in (
        capsys.readouterr().err
    )


def test_flags_alone_infer_types_and_contrast_against_the_negative_level(tmp_path):
    out = tmp_path / "flags"
    code = main(["integrate", "--taxa", str(GENERA), "--metabolites", str(MTB), "--metadata",
                 str(META), "--sample-column", "Sample", "--patient-column", "Subject",
                 "--outcome", "Study.Group", "--positive", "Adenoma", "--folds", "3",
                 "--repeats", "1", "--permutations", "0", "-o", str(out)])  # fmt: skip
    assert code == 0
    assoc = pd.read_csv(out / "associations.tsv", sep="\t")
    # Inferred levels sort Adenoma first; the outcome's effects are against its negative level.
    assert set(zip(assoc["level"], assoc["reference"], strict=True)) == {("Adenoma", "Control")}
    params = json.loads((out / "parameters.json").read_text())
    assert params["settings"]["rank"] == ""  # without --config a table is taken as it is
    perf = pd.read_csv(out / "biomarkers/performance.tsv", sep="\t")
    assert (perf["n_permutations"] == 0).all() and perf["permutation_p"].isna().all()


def test_taxa_of_too_few_samples_still_give_metabolite_results(tmp_path):
    taxa = pd.read_csv(GENERA, sep="\t", index_col=0)
    few = tmp_path / "few.tsv"
    taxa.iloc[:2].to_csv(few, sep="\t")  # 2 samples: no taxa model, metabolites as usual
    out = tmp_path / "few_out"
    code = main(["integrate", "--taxa", str(few), "--metabolites", str(MTB), "--metadata",
                 str(META), "--sample-column", "Sample", "--patient-column", "Subject",
                 "--variables", "Study.Group", "-o", str(out)])  # fmt: skip
    assert code == 0
    assoc = pd.read_csv(out / "associations.tsv", sep="\t")
    assert set(assoc["feature_type"]) == {"metabolite"}
    skipped = pd.read_csv(out / "skipped.tsv", sep="\t")
    assert "taxon ~ Study.Group" in set(skipped["item"])
    assert (out / "figures" / "volcano.svg").is_file()


def test_exclude_leaves_samples_out_of_every_analysis(tmp_path, capsys):
    """--exclude: samples the status table excludes are not linked, modelled or tested; the
    join report says why; --progress shows the biomarker models' progress."""
    reason = "QC FAIL: 120 clean reads (below 1000)"
    status = tmp_path / "status.tsv"
    status.write_text(
        "sample_id\tqc_verdict\tqc_reason\tcoverage_verdict\tcoverage_reason\t"
        "classified_percent\tspecies_percent\texcluded\texclusion_reason\n"
        f"A001\tFAIL\t{reason}\tNA\t\tNA\tNA\tyes\t{reason}\n"
        "A002\tPASS\t\tNA\t\tNA\tNA\tno\t\n"
    )
    config = _config(tmp_path, permutations=2, repeats=1)
    code, out = _run(tmp_path, "--exclude", str(status), "--progress", config=config)
    assert code == 0
    err = capsys.readouterr().err
    assert (
        f"1 samples excluded by the sample status, left out of every analysis: A001 ({reason})"
        in err
    )
    progress = [
        line for line in err.splitlines() if "progress: integrate: biomarker models" in line
    ]
    assert progress and progress[-1].endswith(", done")
    join = pd.read_csv(out / "join_report.tsv", sep="\t", keep_default_na=False)
    row = join[join["sample_id"] == "A001"].iloc[0]
    assert row["note"] == f"excluded by the sample status: {reason}" and len(join) == 32
    assoc = pd.read_csv(out / "associations.tsv", sep="\t")
    assert set(assoc["n"]) == {31}
    perf = pd.read_csv(out / "biomarkers/performance.tsv", sep="\t")
    assert (perf["n_samples"] == 31).all() and (perf["n_positive"] == 15).all()
    predictions = pd.read_csv(out / "biomarkers/predictions.tsv", sep="\t")
    assert "A001" not in set(predictions["sample_id"])
    samples = pd.read_csv(out / "harmonised/samples.tsv", sep="\t")
    assert "A001" not in set(samples["sample_id"])
