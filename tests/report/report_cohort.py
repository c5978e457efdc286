"""Fixtures of the report tests: a small cohort whose files follow the output contract of the
QC, profile, diversity and integrate stages, and the reports made from it once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microbiome.cli.main import main

SCRIPT = "<script>alert(1)</script>"

#: name, taxid, lineage (phylum to genus)
TAXA = [
    ("Faecalibacterium prausnitzii", "853",
     "Bacillota;Clostridia;Eubacteriales;Oscillospiraceae;Faecalibacterium"),
    ("Bifidobacterium adolescentis", "1680",
     "Actinomycetota;Actinomycetes;Bifidobacteriales;Bifidobacteriaceae;Bifidobacterium"),
    ("Sutterella wadsworthensis", "40545",
     "Pseudomonadota;Betaproteobacteria;Burkholderiales;Sutterellaceae;Sutterella"),
    ("Mediterraneibacter gnavus", "33038",
     "Bacillota;Clostridia;Lachnospirales;Lachnospiraceae;Mediterraneibacter"),
    ("Klebsiella pneumoniae", "573",
     "Pseudomonadota;Gammaproteobacteria;Enterobacterales;Enterobacteriaceae;Klebsiella"),
    ("Escherichia coli", "562",
     "Pseudomonadota;Gammaproteobacteria;Enterobacterales;Enterobacteriaceae;Escherichia"),
    ("Akkermansia muciniphila", "239935",
     "Verrucomicrobiota;Verrucomicrobiia;Verrucomicrobiales;Akkermansiaceae;Akkermansia"),
    ("Bacteroides uniformis", "820",
     "Bacteroidota;Bacteroidia;Bacteroidales;Bacteroidaceae;Bacteroides"),
    ("Segatella copri", "165179",
     "Bacteroidota;Bacteroidia;Bacteroidales;Prevotellaceae;Segatella"),
    ("Eggerthella lenta", "84112",
     "Actinomycetota;Coriobacteriia;Eggerthellales;Eggerthellaceae;Eggerthella"),
]  # fmt: skip

#: sample, patient, timepoint, diagnosis, response, clean reads
SAMPLES = [
    ("S1", "P1", 0, "Control", "responder", 2_000_000),
    ("S2", "P1", 1, "Control", "responder", 2_500_000),
    ("S3", "P1", 2, "Control", "responder", 1_800_000),
    ("S4", "P2", 0, "Control", "non-responder", 3_000_000),
    ("S5", "P2", 1, "Control", "non-responder", 600_000),
    ("S6", "P3", 0, "Case", "non-responder", 2_200_000),
    ("S7", "P4", 0, "Case", "responder", 20_000),
    ("S8", "P4", 1, "Case", "responder", 2_100_000),
    ("S9" + SCRIPT, SCRIPT, 0, "Case", "non-responder", 1_500_000),
]


def write_cohort(folder: Path, *, diversity: bool = True, integrate: bool = True) -> dict:
    """Write the cohort's files; return their paths by name."""
    rng = np.random.default_rng(42)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [s[0] for s in SAMPLES]
    counts = np.vstack([rng.multinomial(50_000, rng.dirichlet(np.full(len(TAXA), 0.7)))
                        for _ in ids]).astype(float)  # fmt: skip
    counts[ids.index("S6"), [4, 5]] += 40_000  # pathobionts bloom in the case
    species = pd.DataFrame(counts.T, columns=ids)
    species.insert(0, "lineage", ["k__Bacteria;" + ";".join(
        f"{r}__{n}" for r, n in zip("pcofg", lin.split(";"), strict=True)) + f";s__{name}"
        for name, _, lin in TAXA])  # fmt: skip
    species.insert(0, "name", [t[0] for t in TAXA])
    species.insert(0, "taxid", [t[1] for t in TAXA])
    paths = {"taxa": folder / "species.counts.tsv"}
    species.to_csv(paths["taxa"], sep="\t", index=False)

    qc = pd.DataFrame(
        {
            "sample_id": ids,
            "layout": "paired",
            "reads_in": [int(s[5] * 1.1) for s in SAMPLES],
            "reads_out": [s[5] for s in SAMPLES],
            "kept_read_percent": [round(100 / 1.1, 2)] * len(ids),
            "host_read_percent": [1.0] * len(ids),
        }
    )
    paths["qc"] = folder / "qc_summary.tsv"
    qc.to_csv(paths["qc"], sep="\t", index=False)

    meta = pd.DataFrame(
        SAMPLES, columns=["sample_id", "patient_id", "timepoint", "diagnosis", "response", "r"]
    ).drop(columns="r")
    paths["metadata"] = folder / "clinical.tsv"
    meta.to_csv(paths["metadata"], sep="\t", index=False)

    metabolites = pd.DataFrame(
        rng.normal(size=(len(ids), 4)),
        index=pd.Index(ids, name="sample_id"),
        columns=["butyrate", "valerate", "deoxycholate", "tryptophan"],
    )
    paths["metabolites"] = folder / "metabolites.tsv"
    metabolites.to_csv(paths["metabolites"], sep="\t")
    annotation = pd.DataFrame(
        {
            "metabolite": ["butyrate", "valerate", "deoxycholate", "tryptophan"],
            "superpathway": ["Lipid", "Lipid", "Lipid", "Amino Acid"],
            "Subpathway": ["Short Chain Fatty Acid", "Short Chain Fatty Acid",
                           "Secondary Bile Acid Metabolism", "Tryptophan Metabolism"],
        }
    )  # fmt: skip
    paths["annotation"] = folder / "metabolites_annotation.tsv"
    annotation.to_csv(paths["annotation"], sep="\t", index=False)

    props = counts / counts.sum(axis=1, keepdims=True)
    shannon = -(props * np.log(props, where=props > 0, out=np.zeros_like(props))).sum(axis=1)
    if diversity:
        d = folder / "diversity"
        (d / "tests").mkdir(parents=True)
        (d / "figures").mkdir()
        pd.DataFrame(
            {
                "sample_id": ids,
                "depth": counts.sum(axis=1),
                "observed": (counts > 0).sum(axis=1),
                "shannon_ln": shannon,
                "simpson": 1 - (props**2).sum(axis=1),
                "inverse_simpson": 1 / (props**2).sum(axis=1),
                "chao1": (counts > 0).sum(axis=1),
                "pielou_evenness": shannon / np.log((counts > 0).sum(axis=1)),
            }
        ).to_csv(d / "alpha.tsv", sep="\t", index=False)
        pd.DataFrame(
            [["braycurtis", "diagnosis", 8, 2, 3.21, 0.314, 0.012, 999, 0.024,
              "patients' labels permuted, each patient's samples together (4 patients, 8"
              " samples); only 6 distinct labellings: p cannot go much below 0.17",
              "patients as blocks", "relative abundances"]],
            columns=["metric", "variable", "n_samples", "n_groups", "pseudo_f", "r2", "p_value",
                     "permutations", "q_value", "note", "permutation_scheme", "distances_of"],
        ).to_csv(d / "tests" / "permanova.tsv", sep="\t", index=False)  # fmt: skip
        pd.DataFrame(
            [["braycurtis", "diagnosis", 8, 2, 0.5, 0.49, 999]],
            columns=["metric", "variable", "n_samples", "n_groups", "f_statistic", "p_value",
                     "permutations"],
        ).to_csv(d / "tests" / "permdisp.tsv", sep="\t", index=False)  # fmt: skip
        pd.DataFrame(
            [["shannon_ln", "diagnosis", "categorical", "kruskal", 1.5, 8, 0.22, 0.22]],
            columns=["metric", "variable", "variable_type", "test", "statistic", "n_samples",
                     "p_value", "q_value"],
        ).to_csv(d / "tests" / "alpha_tests.tsv", sep="\t", index=False)  # fmt: skip
        (d / "excluded.tsv").write_text("sample_id\treason\n")
        for stem in ("pcoa_braycurtis_diagnosis", "pcoa_braycurtis_sex", "rarefaction",
                     "alpha_shannon_ln_diagnosis", "alpha_observed_diagnosis"):  # fmt: skip
            (d / "figures" / f"{stem}.svg").write_text(
                '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80">'
                '<circle cx="40" cy="40" r="20" fill="#0072B2"/></svg>'
            )
        (d / "parameters.json").write_text(json.dumps({"metrics": ["braycurtis"], "seed": 1}))
        paths["diversity"] = d
    if integrate:
        g = folder / "integrate"
        (g / "biomarkers").mkdir(parents=True)
        pd.DataFrame(
            {"sample_id": ids, "patient_id": [s[1] for s in SAMPLES], "has_taxa": True,
             "has_metabolites": True, "has_metadata": True, "note": ""}
        ).to_csv(g / "join_report.tsv", sep="\t", index=False)  # fmt: skip
        pd.DataFrame(
            [["573", "taxon", "diagnosis", "Case", 1.7, 0.4, 8, 8, 0.001, 0.01, "linear",
              "Klebsiella pneumoniae"],
             ["butyrate", "metabolite", "diagnosis", "Case", -0.9, 0.5, 8, 8, 0.09, 0.2, "linear",
              ""]],
            columns=["feature", "feature_type", "variable", "level", "coefficient", "std_error",
                     "n", "n_nonzero", "p_value", "q_value", "model", "name"],
        ).to_csv(g / "associations.tsv", sep="\t", index=False)  # fmt: skip
        pd.DataFrame(
            [["562", "butyrate", -0.71, 0.03, 0.06, 8, "Escherichia coli"]],
            columns=["taxon", "metabolite", "rho", "p_value", "q_value", "n", "taxon_name"],
        ).to_csv(g / "correlations.tsv", sep="\t", index=False)
        pd.DataFrame(
            [["taxa", "l1_logistic", 0.81, 0.62, 0.95, 0.02, 8, 5, 4, 10],
             ["combined", "random_forest", 0.7, 0.5, 0.9, 0.1, 8, 5, 4, 10]],
            columns=["feature_set", "model", "auroc_mean", "auroc_ci_low", "auroc_ci_high",
                     "permutation_p", "n_samples", "n_positive", "n_splits", "n_repeats"],
        ).to_csv(g / "biomarkers" / "performance.tsv", sep="\t", index=False)  # fmt: skip
        probability = np.round(np.linspace(0.15, 0.85, len(ids)), 3)
        pd.DataFrame(
            {"sample_id": ids, "patient_id": [s[1] for s in SAMPLES], "feature_set": "taxa",
             "model": "l1_logistic", "probability": probability,
             "outcome": [int(s[4] == "responder") for s in SAMPLES]}
        ).to_csv(g / "biomarkers" / "predictions.tsv", sep="\t", index=False)  # fmt: skip
        pd.DataFrame(
            [["taxa", "l1_logistic", "573", 0.9, 0.8, "Klebsiella pneumoniae"]],
            columns=[
                "feature_set",
                "model",
                "feature",
                "importance",
                "selection_frequency",
                "name",
            ],
        ).to_csv(g / "biomarkers" / "importance.tsv", sep="\t", index=False)
        (g / "biomarkers" / "model.json").write_text(
            json.dumps(
                {
                    "outcome": "response",
                    "positive_class": ["responder"],
                    "negative_class": ["non-responder"],
                    "chosen": {"feature_set": "taxa", "model": "l1_logistic", "auroc_mean": 0.81},
                }
            )
        )
        (g / "parameters.json").write_text(json.dumps({"outcome": "response", "seed": 1}))
        paths["integrate"] = g
    config = folder / "config.yaml"
    config.write_text(
        "report:\n  reference: {variable: diagnosis, levels: [Control]}\n"
        "  qc: {min_reads_fail: 100000, min_reads_warn: 1000000}\n"
        # small-number guards off: these tests check the values; tests of the guards use
        # the defaults
        "  min_reference_samples: 1\n  min_patients_per_class: 1\n"
    )
    paths["config"] = config
    return paths


def report_args(paths: dict, outdir: Path, *extra: str) -> list[str]:
    args = ["report", "--taxa", str(paths["taxa"]), "--qc", str(paths["qc"]),
            "--metadata", str(paths["metadata"]), "--metabolites", str(paths["metabolites"]),
            "--metabolite-annotation", str(paths["annotation"]), "--config", str(paths["config"]),
            "-o", str(outdir), "-q"]  # fmt: skip
    for stage in ("diversity", "integrate"):
        if stage in paths:
            args += [f"--{stage}", str(paths[stage])]
    return [*args, *extra]


@pytest.fixture(scope="session")
def cohort_files(tmp_path_factory) -> dict:
    return write_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture(scope="session")
def reports(tmp_path_factory, cohort_files) -> Path:
    """The cohort report and every patient's HTML and PDF, made once."""
    out = tmp_path_factory.mktemp("reports")
    assert main(report_args(cohort_files, out)) == 0
    return out
