"""The cohort report's content: samples and QC, composition, indices by group, the diversity
and integrate stages' results, methods."""

from __future__ import annotations

import numpy as np
import pandas as pd

from microbiome.diversity.run import ALPHA_TEST_COLUMNS, PERMANOVA_COLUMNS, PERMDISP_COLUMNS
from microbiome.report import figures
from microbiome.report.cohort import (
    RESEARCH_USE,
    Cohort,
    auroc_text,
    chosen_model,
    composition_shares,
    methods,
    model_guard,
)
from microbiome.report.inputs import INTEGRATE_FILES, StageOutputs
from microbiome.report.patient_report import badge_value
from microbiome.report.text import fmt, pct, records, sci
from microbiome.status import coverage_thresholds

#: Columns of the diversity tests not shown: the permutations (in the methods) and the types.
NOT_SHOWN = ("permutations", "variable_type")


def _shown(columns: list[str]) -> list[str]:
    """The columns of a diversity tests table the report shows: with each p-value, how it was
    obtained (q-value, permutation scheme, what the distances are between, patients, the note
    with the few-labellings warning)."""
    return [c for c in columns if c not in NOT_SHOWN]


def cohort_context(cohort: Cohort) -> dict:
    """Values, tables and figures of the cohort report."""
    s = cohort.settings
    idx = cohort.indices
    samples_table = []
    qc = cohort.qc
    for sample, row in idx.iterrows():
        q = qc.loc[sample] if qc is not None and sample in qc.index else None
        samples_table.append(
            {
                "sample": sample,
                "patient": row["patient_id"],
                "time": row["time"],
                "reads_in": fmt(int(q["reads_in"])) if q is not None else "–",
                "reads_out": fmt(int(q["reads_out"])) if q is not None else "–",
                "kept": fmt(q["kept_read_percent"], 1) if q is not None else "–",
                "host": fmt(q["host_read_percent"], 1) if q is not None else "–",
                "verdict": row["qc_verdict"],
                "quality": badge_value(row["qc_verdict"]),
                "reason": row["qc_reason"],
                "coverage_verdict": row["coverage_verdict"],
                "coverage": badge_value(row["coverage_verdict"]),
                "coverage_reason": row["coverage_reason"],
                "classified": pct(row["classified_fraction"]),
                "excluded": row["excluded"] == "yes",
                "greyed": bool(cohort.index_guard(sample)),
                "gmhi": fmt(row["gmhi"]),
                "dysbiosis": fmt(row["dysbiosis_score"]),
                "diversity": fmt(row.get("diversity", np.nan)),
            }
        )
    not_profiled = []
    if qc is not None:
        not_profiled = [x for x in qc.index if x not in idx.index]
    comp, all_reads = composition_shares(cohort, cohort.usable)
    n_top = len(comp.columns.drop(["Other", "unclassified"], errors="ignore"))
    composition_figure = figures.composition(
        comp,
        comp.index.tolist(),
        f"Composition ({s['composition_rank']}), top {n_top}",
        ylabel="share of all reads (%)" if all_reads else "% of classified reads (renormalised)",
    )
    group_figures = []
    variable = s["reference"].get("variable")
    if cohort.metadata is not None and variable and variable in cohort.metadata.table:
        groups = cohort.metadata.table[variable].reindex(idx.index).astype("string")
        for column, label in (("gmhi", "GMHI"), ("dysbiosis_score", "dysbiosis score")):
            if idx[column].notna().any():
                group_figures.append(
                    (f"{label} by {variable}", figures.index_by_group(idx[column], groups, label))
                )
    div = cohort.diversity
    diversity = None
    if div.ran:
        diversity = {
            "alpha": _alpha_summary(div.get("alpha")),
            # every column of the diversity stage's tables but the bookkeeping ones
            "permanova": _table(div.get("permanova"), _shown(PERMANOVA_COLUMNS)),
            "permdisp": _table(div.get("permdisp"), _shown(PERMDISP_COLUMNS)),
            "alpha_tests": _table(div.get("alpha_tests"), _shown(ALPHA_TEST_COLUMNS)),
            "excluded": _table(div.get("excluded"), ["sample_id", "reason"]),
            "figures": _stage_figures(div, _diversity_figure(s)),
        }
    integ = cohort.integrate
    integrate = None
    if integ.ran:
        top = s["top_associations"]
        assoc = _named(integ.get("associations"), "feature", "name")
        corr = _named(integ.get("correlations"), "taxon", "taxon_name")
        integrate = {
            "associations": _table(
                assoc.sort_values(["q_value", "p_value"]).head(top) if assoc is not None else None,
                list(INTEGRATE_FILES["associations"][1]),
            ),
            "n_associations": 0 if assoc is None else len(assoc),
            "n_significant": 0 if assoc is None else int((assoc["q_value"] < 0.05).sum()),
            "correlations": _table(
                corr.sort_values(["q_value", "p_value"]).head(top) if corr is not None else None,
                list(INTEGRATE_FILES["correlations"][1]),
            ),
            "n_correlations": 0 if corr is None else len(corr),
            "performance": _table(
                integ.get("performance"),
                list(INTEGRATE_FILES["performance"][1]),
            ),
            "importance": _table(
                _named(integ.get("importance"), "feature", "name")
                .sort_values("importance", ascending=False)
                .head(top)
                if integ.get("importance") is not None
                else None,
                ["feature_set", "model", "feature", "importance"],
            ),
            "model": chosen_model(integ),
            "model_text": auroc_text(chosen_model(integ)) if chosen_model(integ) else "",
            "not_estimable": model_guard(cohort),
            "figures": _stage_figures(integ, lambda stem: True),
        }
        if integrate["not_estimable"]:
            integrate["performance"] = None
            integrate["figures"] = [f for f in integrate["figures"] if f[0] != "roc"]
    return {
        "title": "Cohort report",
        "n_samples": len(idx),
        "n_patients": int(idx["patient_id"].nunique()),
        "verdict_counts": {
            v: int((idx["qc_verdict"] == v).sum()) for v in ("PASS", "WARN", "FAIL", "NA")
        },
        "coverage_counts": {
            v: int((idx["coverage_verdict"] == v).sum()) for v in ("PASS", "WARN", "FAIL", "NA")
        },
        "excluded": [
            {"sample": x, "patient": r["patient_id"], "reason": r["exclusion_reason"]}
            for x, r in cohort.excluded.iterrows()
        ],
        "n_usable": len(cohort.usable),
        "composition_all_reads": all_reads,
        "reference_guard": cohort.reference_guard(),
        "coverage_limits": coverage_thresholds(s.get("coverage")),
        "samples": samples_table,
        "not_profiled": not_profiled,
        "reference_label": cohort.reference_label,
        "dysbiosis_cutoff": fmt(cohort.dysbiosis_cutoff, 3),
        "gmhi_matched": cohort.gmhi_matched,
        "composition_figure": composition_figure,
        "group_figures": group_figures,
        "diversity": diversity,
        "diversity_note": cohort.diversity.note,
        "integrate": integrate,
        "integrate_note": cohort.integrate.note,
        "qc_note": None
        if cohort.qc is not None
        else "QC was not run here: sample quality is not available",
        "metrics_label": s["diversity_metric"],
        "notes": cohort.notes,
        "methods": methods(cohort),
        "research_use": RESEARCH_USE,
    }


def _table(table: pd.DataFrame | None, columns: list[str]) -> dict | None:
    if table is None:
        return None
    columns = [c for c in columns if c in table.columns]
    return {"columns": columns, "rows": records(table, columns)}


def _alpha_summary(alpha: pd.DataFrame | None) -> dict | None:
    if alpha is None:
        return None
    metrics = [
        c for c in alpha.columns if c != "sample_id" and pd.api.types.is_numeric_dtype(alpha[c])
    ]
    rows = []
    for m in metrics:
        v = alpha[m].dropna()
        rows.append([m, sci(v.min()), sci(v.median()), sci(v.max()), str(len(v))])
    return {"columns": ["metric", "min", "median", "max", "samples"], "rows": rows}


def _named(table: pd.DataFrame | None, column: str, names: str) -> pd.DataFrame | None:
    """``column`` shown as 'name (ID)' where the table has a ``names`` column (the integrate
    stage adds the taxon names of its taxid features)."""
    if table is None or names not in table.columns:
        return table
    name = table[names].astype("string").fillna("")
    ids = table[column].astype(str)
    labelled = [f"{n} ({i})" if n and n != i else i for n, i in zip(name, ids, strict=True)]
    return table.assign(**{column: labelled})


def _stage_figures(stage: StageOutputs, wanted) -> list[tuple[str, str]]:
    """(caption, data URI) of the stage's figures whose file stem is ``wanted``."""
    return [
        (p.stem.replace("_", " "), figures.file_data_uri(p))
        for p in stage.figures
        if wanted(p.stem)
    ]


def _diversity_figure(settings: dict):
    """Which of the diversity stage's figures (``pcoa_<metric>_<variable>``,
    ``alpha_<metric>_<variable>``, ``rarefaction``) the cohort report shows: those of the
    reference group's variable (every variable without one) and, of the alpha figures, those of
    the report's diversity metric."""
    variable = settings["reference"].get("variable") or ""
    metric = settings["diversity_metric"]

    def wanted(stem: str) -> bool:
        kind, _, rest = stem.partition("_")
        of_variable = not variable or rest.endswith(f"_{variable}")
        if kind == "pcoa":
            return of_variable
        if kind == "alpha":
            return of_variable and rest.startswith(f"{metric}_")
        return True

    return wanted
