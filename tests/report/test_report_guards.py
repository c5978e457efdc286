"""Reports that never overstate (issue 14): the two badges, the classified share and the
unclassified share, greyed-out indices, the responder model's small-number guard, the one
exclusion list and one name per taxon. Rendered for (a) a sample with 3 % of its reads
classified, (b) a reference group of 3, (c) a 6-sample cohort, (d) tables mode."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microbiome.cli.main import main
from microbiome.report.indices import gmhi_species

#: Ten GMHI species (6 health-prevalent, 4 health-scarce), so that the index is not greyed
#: out for its species coverage, and taxa of the notable list.
GMHI_TAXA = [
    *gmhi_species().table.query("group == 'health_prevalent'")["name"][:6],
    *gmhi_species().table.query("group == 'health_scarce'")["name"][:4],
]
TAXA = [
    ("411483", "Faecalibacterium duncaniae", "Bacillota;Clostridia;Eubacteriales;"
     "Oscillospiraceae;Faecalibacterium"),
    ("573", "Klebsiella pneumoniae", "Pseudomonadota;Gammaproteobacteria;Enterobacterales;"
     "Enterobacteriaceae;Klebsiella"),
    *[(str(9000 + i), name, f"Bacillota;Clostridia;Order{i};Family{i};{name.split()[0]}")
      for i, name in enumerate(GMHI_TAXA)],
]  # fmt: skip


def write_cohort(
    folder: Path,
    patients: list[tuple[str, str, str]],
    classified: dict[str, float],
    *,
    qc: bool = True,
    unclassified_row: bool = False,
    integrate: bool = False,
    config: str = "",
) -> dict[str, Path]:
    """Files of a cohort: ``patients`` = (sample, patient, diagnosis); ``classified`` = the
    classified percent of each sample (its classification summary, or with
    ``unclassified_row`` the taxa table's taxid-0 row)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    ids = [p[0] for p in patients]
    counts = np.vstack(
        [rng.multinomial(20_000, rng.dirichlet(np.full(len(TAXA), 2.0))) for _ in ids]
    ).astype(float)
    table = pd.DataFrame(counts.T, columns=ids)
    table.insert(0, "lineage", [
        "k__Bacteria;" + ";".join(f"{r}__{n}" for r, n in zip("pcofg", lin.split(";"),
                                                               strict=True)) + f";s__{name}"
        for _, name, lin in TAXA])  # fmt: skip
    table.insert(0, "name", [t[1] for t in TAXA])
    table.insert(0, "taxid", [t[0] for t in TAXA])
    paths = {}
    if unclassified_row:
        totals = counts.sum(axis=1)
        unclassified = [
            t * (100 - classified[x]) / classified[x] for x, t in zip(ids, totals, strict=True)
        ]
        row = pd.DataFrame([["0", "unclassified", "", *np.round(unclassified)]],
                           columns=table.columns)  # fmt: skip
        table = pd.concat([row, table], ignore_index=True)
    else:
        reads = 25_000
        cls = pd.DataFrame(
            {
                "sample_id": ids,
                "reads_total": reads,
                "reads_classified": [round(reads * classified[x] / 100) for x in ids],
                "classified_percent": [classified[x] for x in ids],
                "reads_species": [round(reads * classified[x] / 110) for x in ids],
                "species_percent": [classified[x] / 1.1 for x in ids],
            }
        )
        paths["classification"] = folder / "classification_summary.tsv"
        cls.to_csv(paths["classification"], sep="\t", index=False)
    paths["taxa"] = folder / "species.counts.tsv"
    table.to_csv(paths["taxa"], sep="\t", index=False)
    if qc:
        pd.DataFrame(
            {
                "sample_id": ids,
                "layout": "paired",
                "reads_in": 26_000,
                "reads_out": 25_000,
                "kept_read_percent": 96.2,
                "host_read_percent": 0.5,
            }
        ).to_csv(folder / "qc_summary.tsv", sep="\t", index=False)
        paths["qc"] = folder / "qc_summary.tsv"
    meta = pd.DataFrame(patients, columns=["sample_id", "patient_id", "diagnosis"])
    meta["response"] = ["responder" if i % 2 else "non-responder" for i in range(len(ids))]
    paths["metadata"] = folder / "clinical.tsv"
    meta.to_csv(paths["metadata"], sep="\t", index=False)
    if integrate:
        g = folder / "integrate" / "biomarkers"
        g.mkdir(parents=True)
        pd.DataFrame(
            [["taxa", "random_forest", 1.0, 1.0, 1.0, 0.05, len(ids), len(ids) // 2, 2, 3],
             ["taxa", "l1_logistic", 0.5, 0.2, 0.8, 0.6, len(ids), len(ids) // 2, 2, 3]],
            columns=["feature_set", "model", "auroc_mean", "auroc_ci_low", "auroc_ci_high",
                     "permutation_p", "n_samples", "n_positive", "n_splits", "n_repeats"],
        ).to_csv(g / "performance.tsv", sep="\t", index=False)  # fmt: skip
        pd.DataFrame(
            {"sample_id": ids, "patient_id": meta["patient_id"], "feature_set": "taxa",
             "model": "random_forest", "probability": 0.9,
             "outcome": [int(r == "responder") for r in meta["response"]]}
        ).to_csv(g / "predictions.tsv", sep="\t", index=False)  # fmt: skip
        (g / "model.json").write_text(json.dumps({
            "outcome": "response", "positive_class": ["responder"],
            "negative_class": ["non-responder"],
            "chosen": {"feature_set": "taxa", "model": "random_forest"}}))  # fmt: skip
        (folder / "integrate" / "parameters.json").write_text("{}")
        paths["integrate"] = folder / "integrate"
    paths["config"] = folder / "config.yaml"
    paths["config"].write_text(
        "report:\n  reference: {variable: diagnosis, levels: [Control]}\n"
        "  qc: {min_reads_fail: 1000, min_reads_warn: 5000}\n" + config
    )
    return paths


def render(paths: dict[str, Path], out: Path, *extra: str, pdf: bool = False) -> Path:
    args = ["report", "--taxa", str(paths["taxa"]), "--metadata", str(paths["metadata"]),
            "--config", str(paths["config"]), "-o", str(out), "-q", *extra]  # fmt: skip
    for key in ("qc", "classification", "integrate"):
        if key in paths:
            args += [f"--{key}", str(paths[key])]
    if not pdf:
        args.append("--no-pdf")
    assert main(args) == 0
    return out


def only(*patients: str) -> list[str]:
    """--patient flags: the reports the test reads (each takes seconds to draw)."""
    return [a for p in patients for a in ("--patient", p)]


def summary_line(html: str, key: str) -> str:
    """The page-1 summary row of ``key`` (quality, coverage, gmhi, dysbiosis, ...)."""
    match = re.search(rf'<tr class="line[^"]*" data-line="{key}".*?</tr>', html, re.S)
    assert match, f"no summary line {key}"
    return match[0]


def badge(line: str) -> tuple[str, str]:
    """(class, text) of a line's badge."""
    status, text = re.search(r'<span class="badge ([A-Z]+)">([^<]*)</span>', line).groups()
    return status, text


def greyed(line: str) -> bool:
    flag = re.search(r'data-greyed="(yes|no)"', line)[1]
    assert (flag == "yes") == ("Greyed out, not a result:" in line)
    return flag == "yes"


def cohort_of(n_control: int, n_case: int) -> list[tuple[str, str, str]]:
    return [(f"C{i}", f"PC{i}", "Control") for i in range(n_control)] + [
        (f"D{i}", f"PD{i}", "Case") for i in range(n_case)
    ]


# --------------------------------------------------------------------------------------------
# (a) a sample with 3 % of its reads classified (and one with 30 %)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def low_coverage(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("low_coverage")
    patients = cohort_of(20, 4)
    classified = {p[0]: 85.0 for p in patients} | {"D0": 3.0, "D1": 30.0}
    return render(
        write_cohort(folder, patients, classified), folder / "out", *only("PD0", "PD1", "PD2")
    )


def test_a_3_percent_classified_fails_coverage_not_quality(low_coverage):
    html = (low_coverage / "patients" / "PD0.html").read_text()
    quality, coverage = summary_line(html, "quality"), summary_line(html, "coverage")
    assert badge(quality) == ("PASS", "PASS")
    assert "25,000 clean reads, 0.5 % host, 3.8 % removed by QC" in quality
    assert badge(coverage) == ("FAIL", "3.0 % classified")
    assert (
        "3.0 % of reads classified (750 of 25,000; below 20 %): the reference database does not "
        "cover this sample" in coverage
    )
    assert badge(summary_line(html, "results")) == ("FAIL", "not shown")
    for key in ("gmhi", "dysbiosis", "diversity", "notable"):
        assert f'data-line="{key}"' not in html  # nothing of the sample is shown
    assert "no reads were classified" not in html and "FAILED quality control" not in html
    # the cohort leaves it out and says why
    cohort = (low_coverage / "cohort.html").read_text()
    left_out = re.search(r'<table class="excluded-list">.*?</table>', cohort, re.S)[0]
    assert "<td>D0</td><td>PD0</td><td>profiling coverage failed: 3.0 % of reads" in left_out
    assert "D1" not in left_out
    indices = pd.read_csv(low_coverage / "indices.tsv", sep="\t", index_col=0)
    assert indices.loc["D0", ["gmhi", "dysbiosis_score"]].isna().all()
    assert indices.loc["D0", "excluded"] == "yes"
    assert indices.loc["D0", "classified_percent"] == 3.0


def test_a_coverage_warning_greys_out_the_indices(low_coverage):
    html = (low_coverage / "patients" / "PD1.html").read_text()
    assert badge(summary_line(html, "quality")) == ("PASS", "PASS")
    assert badge(summary_line(html, "coverage")) == ("WARN", "30.0 % classified")
    for key in ("gmhi", "dysbiosis", "diversity"):
        line = summary_line(html, key)
        if key == "diversity":  # no diversity stage in this cohort
            assert badge(line) == ("NA", "not available") and not greyed(line)
            continue
        assert greyed(line), key
        assert badge(line)[0] == "NA"
        assert "only 30.0 % of reads classified (7,500 of 25,000; below 50 %)" in line
    assert greyed(summary_line(html, "notable")) is False
    assert "Only 30.0 % of the reads were classified" in summary_line(html, "notable")
    assert 'data-greyed="yes"' in re.search(r"<table class=\"keep.*?>", html)[0]
    assert "Not shown: only 30.0 % of reads classified" in html  # the cohort position figure
    # a well-covered patient of the same cohort: nothing greyed (reference of 20 controls)
    ok = (low_coverage / "patients" / "PD2.html").read_text()
    for key in ("gmhi", "dysbiosis"):
        assert not greyed(summary_line(ok, key)), key
    assert badge(summary_line(ok, "coverage")) == ("PASS", "85.0 % classified")
    assert "20 samples" not in ok and "percentile of the reference group" in ok


# --------------------------------------------------------------------------------------------
# (b) a reference group of 3
# --------------------------------------------------------------------------------------------


def test_b_reference_group_of_3_greys_out_what_rests_on_it(tmp_path):
    patients = cohort_of(3, 22)
    out = render(write_cohort(tmp_path, patients, {p[0]: 90.0 for p in patients}),
                 tmp_path / "out", *only("PD0"))  # fmt: skip
    html = (out / "patients" / "PD0.html").read_text()
    reason = (
        "the reference group (diagnosis: Control (n = 3)) has 3 sample(s), fewer than the 20 "
        "needed for a usable range"
    )
    dysbiosis = summary_line(html, "dysbiosis")
    assert greyed(dysbiosis) and badge(dysbiosis)[0] == "NA" and reason in dysbiosis
    assert "usual range (cut-off" not in dysbiosis
    gmhi = summary_line(html, "gmhi")
    assert not greyed(gmhi)  # the index itself does not rest on the reference group
    assert f"no percentile: {reason}" in gmhi and "percentile of the reference group" not in gmhi
    assert badge(summary_line(html, "quality")) == ("PASS", "PASS")
    assert badge(summary_line(html, "coverage")) == ("PASS", "90.0 % classified")
    # the cohort (25 usable samples) is large enough for "higher/lower than most"
    assert 'data-greyed="no"' in re.search(r"<table class=\"keep.*?>", html)[0]
    cohort = (out / "cohort.html").read_text()
    assert f"Percentiles and the dysbiosis cut-off are rough: {reason}" in cohort


# --------------------------------------------------------------------------------------------
# (c) a 6-sample cohort
# --------------------------------------------------------------------------------------------


def test_c_six_samples_no_auroc_no_probability_everything_greyed(tmp_path):
    patients = cohort_of(3, 3)
    paths = write_cohort(tmp_path, patients, {p[0]: 90.0 for p in patients}, integrate=True)
    out = render(paths, tmp_path / "out", *only("PD1"))
    html = (out / "patients" / "PD1.html").read_text()
    responder = summary_line(html, "responder")
    assert badge(responder) == ("NA", "not estimable")
    assert greyed(responder)
    assert "The responder model is not estimable on this cohort" in responder
    assert (
        "Greyed out, not a result: 3 patients with responder and 3 with non-responder, "
        "fewer than the 10 per class needed" in responder
    )
    assert "0.90" not in responder and "AUROC" not in html.split("About this report")[0]
    for key in ("dysbiosis",):
        assert greyed(summary_line(html, key))
    taxa = re.search(r"<table class=\"keep.*?</table>", html, re.S)[0]
    assert 'data-greyed="yes"' in taxa
    assert "higher than most" not in taxa and "lower than most" not in taxa
    assert "the cohort has 6 usable sample(s), fewer than the 20 needed" in html
    cohort = (out / "cohort.html").read_text()
    assert "The responder model is not estimable on this cohort" in cohort
    assert "1.00" not in cohort.split("<h3>Biomarker model performance</h3>")[1].split("<h3>")[0]


def test_an_auroc_shown_carries_its_p_value_and_the_model_selection(tmp_path):
    patients = cohort_of(3, 3)
    paths = write_cohort(tmp_path, patients, {p[0]: 90.0 for p in patients}, integrate=True,
                         config="  min_patients_per_class: 3\n")  # fmt: skip
    out = render(paths, tmp_path / "out", *only("PD1"))
    statement = (
        "The model's cross-validated AUROC is 1.00 (1.00-1.00; 0.5 = chance, 1 = perfect; "
        "permutation p = 0.05) on 6 samples; it is the best of 2 models, selected on the same "
        "data (optimistic)."
    )
    html = (out / "patients" / "PD1.html").read_text()
    assert statement.replace("'", "&#39;") in summary_line(html, "responder")
    assert statement.replace("'", "&#39;") in (out / "cohort.html").read_text()


def test_the_auroc_corrected_for_model_selection_is_stated_when_estimated(tmp_path):
    patients = cohort_of(3, 3)
    paths = write_cohort(tmp_path, patients, {p[0]: 90.0 for p in patients}, integrate=True,
                         config="  min_patients_per_class: 3\n")  # fmt: skip
    model_json = paths["integrate"] / "biomarkers" / "model.json"
    info = json.loads(model_json.read_text())
    info["chosen"].update(selection_optimism=0.26, auroc_selection_corrected=0.74)
    model_json.write_text(json.dumps(info))
    out = render(paths, tmp_path / "out", *only("PD1"))
    statement = (
        "it is the best of 2 models, selected on the same data (optimistic: corrected for that "
        "selection, about 0.74)."
    )
    assert statement in summary_line((out / "patients" / "PD1.html").read_text(), "responder")
    assert statement in (out / "cohort.html").read_text()


# --------------------------------------------------------------------------------------------
# (d) tables mode
# --------------------------------------------------------------------------------------------


def test_d_tables_mode_quality_not_available_coverage_from_the_unclassified_row(tmp_path):
    patients = cohort_of(20, 2)
    classified = {p[0]: 80.0 for p in patients} | {"D1": 40.0}
    paths = write_cohort(tmp_path, patients, classified, qc=False, unclassified_row=True)
    out = render(paths, tmp_path / "out", *only("PD0", "PD1"))
    html = (out / "patients" / "PD1.html").read_text()
    quality = summary_line(html, "quality")
    assert badge(quality) == ("NA", "not available")
    assert "Not available: QC was not run." in quality
    assert "WARN" not in quality
    coverage = summary_line(html, "coverage")
    assert badge(coverage) == ("WARN", "40.0 % classified")
    assert greyed(summary_line(html, "gmhi"))
    # the unclassified entry is a share of the reads, never a taxon
    assert "<i>unclassified</i>" not in html
    assert "unclassified reads (dark grey)" in html and "Share of all reads" in html
    ok = (out / "patients" / "PD0.html").read_text()
    assert badge(summary_line(ok, "coverage")) == ("PASS", "80.0 % classified")
    assert not greyed(summary_line(ok, "gmhi"))
    cohort = (out / "cohort.html").read_text()
    assert "QC was not run here: sample quality is not available" in cohort
    assert "WARN: QC was not run" not in cohort


def test_d_tables_mode_without_an_unclassified_share_says_renormalised(tmp_path):
    patients = cohort_of(20, 1)
    paths = write_cohort(tmp_path, patients, {p[0]: 80.0 for p in patients}, qc=False)
    del paths["classification"]
    out = render(paths, tmp_path / "out", *only("PD0"))
    html = (out / "patients" / "PD0.html").read_text()
    assert badge(summary_line(html, "quality")) == ("NA", "not available")
    assert badge(summary_line(html, "coverage")) == ("NA", "not available")
    assert "renormalised over the classified reads" in html
    assert not greyed(summary_line(html, "gmhi"))


# --------------------------------------------------------------------------------------------
# One status table, one name per taxon
# --------------------------------------------------------------------------------------------


def test_the_status_table_decides_who_is_left_out(tmp_path):
    patients = cohort_of(20, 2)
    paths = write_cohort(tmp_path, patients, {p[0]: 90.0 for p in patients})
    status = tmp_path / "sample_status.tsv"
    assert main(["sample-status", "--qc", str(paths["qc"]), "--taxa", str(paths["taxa"]),
                 "--config", str(paths["config"]), "-o", str(status)]) == 0  # fmt: skip
    text = status.read_text()
    for old, new in (
        ("C3\tPASS\t\tNA\tnot available: the classified share of reads is unknown\tNA\tNA\tno\t",
         "C3\tPASS\t\tFAIL\tset by hand\tNA\tNA\tyes\tprofiling coverage failed: set by hand"),
        # excluded by hand with passing verdicts: the table's word stands
        ("C4\tPASS\t\tNA\tnot available: the classified share of reads is unknown\tNA\tNA\tno\t",
         "C4\tPASS\t\tNA\tnot available\tNA\tNA\tyes\tcontaminated, left out by hand"),
    ):  # fmt: skip
        assert old in text, old  # the edit below must change the table
        text = text.replace(old, new)
    status.write_text(text)
    del paths["classification"]
    out = render(paths, tmp_path / "out", "--status", str(status), *only("PD0"))
    indices = pd.read_csv(out / "indices.tsv", sep="\t", index_col=0)
    assert indices.loc["C3", "excluded"] == "yes" and pd.isna(indices.loc["C3", "gmhi"])
    assert indices.loc["C4", "excluded"] == "yes" and pd.isna(indices.loc["C4", "gmhi"])
    cohort = (out / "cohort.html").read_text()
    assert "(n = 18)" in cohort  # C3 and C4 left out of the reference
    assert "profiling coverage failed: set by hand" in cohort
    assert "contaminated, left out by hand" in cohort


def test_one_name_per_taxon_with_the_lists_name_in_brackets(low_coverage):
    html = (low_coverage / "patients" / "PD2.html").read_text()
    notable = summary_line(html, "notable")
    assert "Faecalibacterium duncaniae (Faecalibacterium prausnitzii)" in notable
    assert "<i>Faecalibacterium duncaniae</i> (Faecalibacterium prausnitzii)" in html
    # apart from the titles of the papers cited, the list's name only follows the database's
    body = re.sub(r'<span class="muted">.*?</span>', "", html.split("<h3>References</h3>")[0])
    body = body.replace("<i>", "").replace("</i>", "")
    assert body.count("prausnitzii") == body.count("duncaniae (Faecalibacterium prausnitzii)")
    assert "doi:10.1073/pnas.0804812105" in html
