"""A patient's report content: the plain-language summary, the patient against the cohort,
notable taxa, metabolites, change over time and the responder model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import braycurtis

from microbiome.errors import InputError
from microbiome.report import figures
from microbiome.report.cohort import (
    RESEARCH_USE,
    Cohort,
    chosen_model,
    methods,
    names_of,
    references,
    top_composition,
)
from microbiome.report.indices import normalise_name, notable_taxa, percentile
from microbiome.report.text import fmt, ordinal, pct, sci


def patient_context(cohort: Cohort, patient: str) -> dict:
    """Values, sentences, tables and figures of one patient's report."""
    s = cohort.settings
    idx = cohort.indices
    samples = cohort.patient_samples(patient)
    usable = [x for x in samples if idx.at[x, "qc_verdict"] != "FAIL"]
    latest = usable[-1] if usable else None
    rows = []
    for x in samples:
        r = idx.loc[x]
        rows.append(
            {
                "sample": x,
                "time": r["time"] or "–",
                "verdict": r["qc_verdict"],
                "reason": r["qc_reason"],
                "gmhi": fmt(r["gmhi"]),
                "dysbiosis": fmt(r["dysbiosis_score"]),
                "diversity": fmt(r.get("diversity", np.nan)),
            }
        )
    ctx = {
        "title": f"Gut microbiome report, patient {patient}",
        "patient": patient,
        "research_use": RESEARCH_USE,
        "samples": rows,
        "n_samples": len(samples),
        "latest": latest,
        "latest_time": idx.at[latest, "time"] if latest else "",
        "all_failed": latest is None,
        "reference_label": cohort.reference_label,
        "has_diversity": "diversity" in idx,
        "diversity_note": cohort.diversity.note,
        "diversity_metric": s["diversity_metric"],
        "methods": methods(cohort),
        "gmhi_matched": cohort.gmhi_matched,
    }
    if not samples:
        ctx["summary"] = [
            {
                "label": "Samples",
                "value": "none profiled",
                "status": "NA",
                "text": "This patient is in the metadata, but none of the patient's samples is "
                "in the taxa table: there are no results to show.",
            }
        ]
        return ctx
    if latest is None:
        ctx["summary"] = [
            {
                "label": "Sample quality",
                "value": "FAIL",
                "status": "FAIL",
                "text": "No sample of this patient passed quality control, so no results are "
                "shown. Reason: " + "; ".join(idx.loc[samples, "qc_reason"]),
            }
        ]
        return ctx
    r = idx.loc[latest]
    summary = [_quality_line(r, samples, idx)]
    summary.append(_gmhi_line(r, cohort))
    summary.append(_dysbiosis_line(r, cohort))
    if "diversity" in idx:
        summary.append(_diversity_line(r, cohort))
    else:
        summary.append(
            {
                "label": "Diversity",
                "value": "not available",
                "status": "NA",
                "text": f"{cohort.diversity.note.capitalize()}.",
            }
        )
    notable = _notable(cohort, latest)
    summary.append(_notable_line(notable))
    responder = _responder(cohort, samples)
    if responder:
        summary.append(responder["summary"])
    ctx["summary"] = summary
    ctx["notable"] = notable
    # the references of what this report shows, not of every listed taxon
    ctx["methods"] = {**ctx["methods"], "references": references([n["taxon"] for n in notable])}
    ctx["n_notable_checked"] = len(notable_taxa().table)
    ctx["responder"] = responder
    ctx["integrate_note"] = cohort.integrate.note
    ctx["position_figure"] = _position_figure(cohort, latest)
    ctx["taxa"] = _taxa_vs_cohort(cohort, latest)
    comp_names = cohort.names_at(s["composition_rank"])
    comp = top_composition(cohort.composition.loc[usable], comp_names, s["composition_top"])
    labels = [f"{x}\n{idx.at[x, 'time']}" if idx.at[x, "time"] else x for x in usable]
    ctx["composition_figure"] = figures.composition(
        comp, labels, f"Composition over time ({s['composition_rank']})"
    )
    ctx["metabolites"] = _metabolite_highlights(cohort, samples)
    ctx["change"] = _change(cohort, usable)
    ctx["failed"] = [x for x in samples if x not in usable]
    return ctx


def _quality_line(r: pd.Series, samples: list[str], idx: pd.DataFrame) -> dict:
    failed = [x for x in samples if idx.at[x, "qc_verdict"] == "FAIL"]
    text = f"Latest usable sample: {r['qc_reason']}."
    if failed:
        text += (
            f" {len(failed)} sample(s) failed quality control and are left out "
            f"({', '.join(failed)})."
        )
    return {
        "label": "Sample quality",
        "value": r["qc_verdict"],
        "status": r["qc_verdict"],
        "text": text,
    }


def _gmhi_line(r: pd.Series, cohort: Cohort) -> dict:
    value = r["gmhi"]
    if pd.isna(value):
        return {
            "label": "Gut Microbiome Health Index",
            "value": "not available",
            "status": "NA",
            "text": "The taxa table has no species, which the index needs.",
        }
    mh, mn = cohort.gmhi_matched
    detect = (
        f"{int(r['gmhi_mh_present'])} of 7 health-associated and {int(r['gmhi_mn_present'])} of "
        f"43 disease-associated index species were found (the profiling database covers {mh} "
        f"and {mn} of them)."
    )
    if mh + mn < 10:
        detect += " With so few index species covered, the index is not reliable."
        status = "NA"
    elif value > 0:
        status = "GOOD"
    elif value < 0:
        status = "WARN"
    else:
        status = "NA"
    if value > 0:
        meaning = "the health-associated species outweigh the disease-associated ones"
    elif value < 0:
        meaning = "the disease-associated species outweigh the health-associated ones"
    else:
        meaning = "neither group dominates (or neither was found)"
    return {
        "label": "Gut Microbiome Health Index",
        "value": fmt(value),
        "status": status,
        "text": f"{meaning.capitalize()}; {ordinal(r['gmhi_percentile'])} percentile of the "
        f"reference group. {detect}",
    }


def _dysbiosis_line(r: pd.Series, cohort: Cohort) -> dict:
    value = r["dysbiosis_score"]
    if pd.isna(value):
        return {
            "label": "Dysbiosis score",
            "value": "–",
            "status": "NA",
            "text": "No reference sample to compare with.",
        }
    dysbiotic = r["dysbiotic"] is True
    cutoff = cohort.dysbiosis_cutoff
    return {
        "label": "Dysbiosis score",
        "value": fmt(value),
        "status": "WARN" if dysbiotic else "GOOD",
        "text": (
            "How different the gut community is from the reference group "
            f"({cohort.reference_label}): 0 = the same, 1 = nothing shared. "
            + (
                f"Above the usual range (cut-off {cutoff:.2f}): the community differs "
                "markedly from the reference group."
                if dysbiotic
                else f"Within the usual range of the reference group (cut-off {cutoff:.2f})."
                if pd.notna(cutoff)
                else ""
            )
            + _small_reference(cohort)
        ),
    }


def _small_reference(cohort: Cohort) -> str:
    n = len(cohort.reference)
    if n >= 20:
        return ""
    return f" The reference group is small (n = {n}): percentiles and the cut-off are rough."


def _diversity_line(r: pd.Series, cohort: Cohort) -> dict:
    p = r["diversity_percentile"]
    status = "NA" if pd.isna(p) else ("WARN" if p < 10 else "GOOD")
    return {
        "label": "Diversity",
        "value": fmt(r["diversity"]),
        "status": status,
        "text": f"{cohort.settings['diversity_metric']}: {ordinal(p)} percentile of the "
        f"reference group ({cohort.reference_label}). Low diversity is common after "
        "antibiotics and in many chronic diseases.",
    }


def _notable(cohort: Cohort, sample: str) -> list[dict]:
    """Notable taxa found in a sample, with cohort medians and their references."""
    listing = notable_taxa()
    usable = cohort.usable
    found = []
    for (_, entry), key in zip(listing.table.iterrows(), listing.keys, strict=True):
        try:
            table = cohort.at_rank(entry["rank"])
        except InputError:  # the table does not reach this rank
            continue
        names = names_of(table)
        columns = [c for c, n in names.items() if normalise_name(n) in key]
        if not columns:
            continue
        props = table.proportions()[columns].sum(axis=1)
        value = float(props.get(sample, 0.0))
        if value <= 0:
            continue
        found.append(
            {
                "taxon": entry["taxon"],
                "matched": ", ".join(sorted({names[c] for c in columns})),
                "category": entry["category"],
                "abundance": pct(value),
                "cohort_median": pct(float(props.reindex(usable).median())),
                "why": entry["why"],
                "reference": entry["reference"],
                "value": value,
            }
        )
    return sorted(found, key=lambda f: (f["category"] != "pathobiont", -f["value"]))


def _notable_line(notable: list[dict]) -> dict:
    patho = [n for n in notable if n["category"] == "pathobiont"]
    good = [n for n in notable if n["category"] == "beneficial"]
    if patho:
        text = (
            "Pathobionts found: "
            + ", ".join(f"{n['taxon']} ({n['abundance']})" for n in patho)
            + ". "
        )
    else:
        text = "No listed pathobiont was found. "
    text += (
        "Beneficial taxa found: "
        + ", ".join(f"{n['taxon']} ({n['abundance']})" for n in good)
        + "."
        if good
        else "None of the listed beneficial taxa was found."
    )
    return {
        "label": "Notable taxa",
        "value": f"{len(patho)} pathobiont(s), {len(good)} beneficial",
        "status": "WARN" if patho else "GOOD",
        "text": text,
    }


def _responder(cohort: Cohort, samples: list[str]) -> dict | None:
    stage = cohort.integrate
    model = chosen_model(stage)
    predictions = stage.get("predictions")
    if model is None or predictions is None:
        return None
    rows = predictions[
        (predictions["feature_set"] == model["feature_set"])
        & (predictions["model"] == model["model"])
        & (predictions["sample_id"].isin(samples))
    ]
    if rows.empty:
        return {
            "model": model,
            "rows": [],
            "summary": {
                "label": "Responder probability",
                "value": "not available",
                "status": "NA",
                "text": "The model has no prediction for this patient's samples (not part of "
                "its training cohort).",
            },
        }
    order = {x: i for i, x in enumerate(samples)}
    rows = rows.assign(_o=rows["sample_id"].map(order)).sort_values("_o")
    last = rows.iloc[-1]
    text = (
        f"Estimated probability of {model['positive_class']}"
        + (f" ({model['outcome']})" if model["outcome"] else "")
        + f" from the microbiome: {last['probability']:.2f}. The model's cross-validated "
        f"AUROC is {model['auroc']:.2f} ({model['auroc_low']:.2f}-{model['auroc_high']:.2f}; "
        "0.5 = chance, 1 = perfect) on "
        f"{model['n_samples']} samples. Out-of-fold estimate for research use only."
    )
    return {
        "model": model,
        "rows": [
            [
                r["sample_id"],
                f"{r['probability']:.2f}",
                _outcome(r["outcome"], model),
            ]
            for _, r in rows.iterrows()
        ],
        "summary": {
            "label": "Responder probability",
            "value": f"{last['probability']:.2f}",
            "status": "NA",
            "text": text,
        },
    }


def _outcome(value, model: dict) -> str:
    """An observed outcome as its class name (predictions code the positive class as 1)."""
    if pd.isna(value):
        return "–"
    if str(value) in ("1", "1.0", "True"):
        return model["positive_class"]
    if str(value) in ("0", "0.0", "False"):
        return model["negative_class"]
    return str(value)


def _position_figure(cohort: Cohort, sample: str) -> str:
    idx = cohort.indices
    usable = cohort.usable
    rows = []
    for column, label in (
        ("gmhi", "Gut Microbiome Health Index (higher is healthier)"),
        ("dysbiosis_score", "Dysbiosis score (higher is further from the reference)"),
        ("diversity", f"Diversity: {cohort.settings['diversity_metric']} (higher is more diverse)"),
    ):
        if column not in idx or pd.isna(idx.at[sample, column]):
            continue
        rows.append(
            {
                "label": label,
                "cohort": idx.loc[usable, column].dropna().tolist(),
                "reference": idx.loc[[x for x in cohort.reference if x in idx.index], column]
                .dropna()
                .tolist(),
                "patient": [idx.at[sample, column]],
                "note": f"{ordinal(idx.at[sample, column + '_percentile'])} percentile",
            }
        )
    return figures.cohort_position(rows) if rows else None


def _taxa_vs_cohort(cohort: Cohort, sample: str) -> dict:
    top = cohort.settings["top_taxa"]
    props = cohort.proportions.loc[cohort.usable]
    patient = cohort.proportions.loc[sample]
    chosen = patient[patient > 0].sort_values(ascending=False).index[:top]
    names = cohort.taxon_names
    table = pd.DataFrame(
        {
            "patient": patient[chosen],
            "median": props[chosen].median(),
            "q1": props[chosen].quantile(0.25),
            "q3": props[chosen].quantile(0.75),
        }
    )
    table.index = [names.get(c, c) or c for c in chosen]
    rows = [
        {
            "taxon": name,
            "patient": pct(r["patient"]),
            "median": pct(r["median"]),
            "range": f"{pct(r['q1'])} – {pct(r['q3'])}",
            "direction": _direction(r["patient"], r["q1"], r["q3"]),
        }
        for name, r in table.iterrows()
    ]
    figure = figures.taxa_against_cohort(table, f"this patient ({sample})") if len(table) else None
    return {"rows": rows, "figure": figure, "rank": cohort.settings["taxa_rank"]}


def _direction(value: float, low: float, high: float) -> str:
    if value > high:
        return "higher than most"
    if value < low:
        return "lower than most"
    return "typical"


def _metabolite_highlights(cohort: Cohort, samples: list[str]) -> dict | None:
    table = cohort.metabolites
    if table is None:
        return None
    present = [x for x in samples if x in table.index]
    if not present:
        return {"groups": [], "note": "No metabolite data for this patient's samples."}
    sample = present[-1]
    notes = cohort.metabolite_notes
    # the annotation's subpathway column, however it is spelt (subpathway, Subpathway, SUB_PATHWAY)
    column = next(
        (
            c
            for c in (notes.columns if notes is not None else [])
            if str(c).lower().replace("_", "").replace(" ", "") == "subpathway"
        ),
        None,
    )
    groups = []
    for label, subpathways in cohort.settings["metabolite_groups"].items():
        if column is None:
            break
        wanted = {str(x).lower() for x in subpathways}
        members = [
            m
            for m in table.columns
            if m in notes.index and str(notes.at[m, column]).lower() in wanted
        ]
        rows = []
        for m in members:
            cohort_values = table[m].dropna()
            value = table.at[sample, m]
            if pd.isna(value) or cohort_values.empty:
                continue
            low, high = cohort_values.quantile(0.1), cohort_values.quantile(0.9)
            rows.append(
                {
                    "metabolite": m,
                    "value": sci(value),
                    "median": sci(cohort_values.median()),
                    "range": f"{sci(cohort_values.min())} – {sci(cohort_values.max())}",
                    "percentile": ordinal(percentile(cohort_values, value)),
                    "flag": "high" if value > high else "low" if value < low else "",
                }
            )
        if rows:
            groups.append({"label": label, "rows": rows})
    return {
        "sample": sample,
        "groups": groups,
        "note": None
        if groups
        else "None of the highlighted metabolite groups was measured "
        "(or no annotation table was given).",
        "n_cohort": len(table),
    }


def _change(cohort: Cohort, usable: list[str]) -> dict | None:
    """Change from the first to the latest usable sample."""
    if len(usable) < 2:
        return None
    first, last = usable[0], usable[-1]
    idx = cohort.indices
    rows = []
    for column, label in (
        ("gmhi", "Gut Microbiome Health Index"),
        ("dysbiosis_score", "Dysbiosis score"),
        ("diversity", f"Diversity ({cohort.settings['diversity_metric']})"),
    ):
        if column in idx:
            a, b = idx.at[first, column], idx.at[last, column]
            rows.append([label, fmt(a), fmt(b), fmt(b - a) if pd.notna(a) and pd.notna(b) else "–"])
    p = cohort.proportions
    distance = float(braycurtis(p.loc[first].to_numpy(), p.loc[last].to_numpy()))
    delta = (p.loc[last] - p.loc[first]).sort_values(key=np.abs, ascending=False)
    delta = delta[delta.abs() > 0][: cohort.settings["top_taxa"] // 2 or 1]
    taxa = [
        [
            cohort.taxon_names.get(t, t) or t,
            pct(p.at[first, t]),
            pct(p.at[last, t]),
            ("+" if d > 0 else "−") + pct(abs(d)),
        ]
        for t, d in delta.items()
    ]
    return {
        "first": first,
        "last": last,
        "first_time": idx.at[first, "time"],
        "last_time": idx.at[last, "time"],
        "rows": rows,
        "bray_curtis": fmt(distance),
        "taxa": taxa,
    }
