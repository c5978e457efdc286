"""A patient's report content: the plain-language summary, the patient against the cohort,
notable taxa, metabolites, change over time and the responder model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import braycurtis

from microbiome.report import figures
from microbiome.report.cohort import (
    RESEARCH_USE,
    Cohort,
    auroc_text,
    chosen_model,
    composition_shares,
    methods,
    model_guard,
    references,
)
from microbiome.report.indices import normalise_name, notable_taxa, percentile
from microbiome.report.text import fmt, ordinal, pct, sci
from microbiome.status import NA, coverage_thresholds, qc_description

#: GMHI: with fewer of its 50 species in the profiling database, the index is greyed out.
GMHI_MIN_SPECIES = 10


def patient_context(cohort: Cohort, patient: str) -> dict:
    """Values, sentences, tables and figures of one patient's report."""
    s = cohort.settings
    idx = cohort.indices
    samples = cohort.patient_samples(patient)
    usable = [x for x in samples if idx.at[x, "excluded"] != "yes"]
    latest = usable[-1] if usable else None
    rows = []
    for x in samples:
        r = idx.loc[x]
        rows.append(
            {
                "sample": x,
                "time": r["time"] or "–",
                "verdict": r["qc_verdict"],
                "quality": badge_value(r["qc_verdict"]),
                "coverage_verdict": r["coverage_verdict"],
                "coverage": classified_label(r["classified_fraction"], r["coverage_verdict"]),
                "reason": _reasons(r),
                "greyed": bool(cohort.index_guard(x)),
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
        "coverage_limits": coverage_thresholds(s.get("coverage")),
        "summary_sample": None,
    }
    if not samples:
        ctx["summary"] = [
            {
                "key": "samples",
                "label": "Samples",
                "value": "none profiled",
                "status": "NA",
                "text": "This patient is in the metadata, but none of the patient's samples is "
                "in the taxa table: there are no results to show.",
            }
        ]
        return ctx
    if latest is None:
        last = idx.loc[samples[-1]]
        failed = ", ".join(f"{x} ({idx.at[x, 'exclusion_reason'].split(':')[0]})" for x in samples)
        ctx["summary"] = [
            _quality_line(last, samples, idx, cohort),
            _coverage_line(last),
            {
                "key": "results",
                "label": "Results",
                "value": "not shown",
                "status": "FAIL",
                "text": "No sample of this patient can be reported, so no results are shown "
                f"(left out: {failed}; the reasons are above and in the table below).",
            },
        ]
        ctx["summary_sample"] = samples[-1]
        return ctx
    r = idx.loc[latest]
    guard = cohort.index_guard(latest)
    summary = [_quality_line(r, samples, idx, cohort), _coverage_line(r)]
    summary.append(_gmhi_line(r, cohort, guard))
    summary.append(_dysbiosis_line(r, cohort, guard))
    if "diversity" in idx:
        summary.append(_diversity_line(r, cohort, guard))
    else:
        summary.append(
            {
                "key": "diversity",
                "label": "Diversity",
                "value": "not available",
                "status": "NA",
                "text": f"{cohort.diversity.note.capitalize()}.",
            }
        )
    notable = _notable(cohort, latest)
    summary.append(_notable_line(notable, r))
    responder = _responder(cohort, samples)
    if responder:
        summary.append(responder["summary"])
    ctx["summary"] = summary
    ctx["summary_sample"] = latest
    ctx["notable"] = notable
    # the references of what this report shows, not of every listed taxon
    ctx["methods"] = {**ctx["methods"], "references": references([n["entry"] for n in notable])}
    ctx["n_notable_checked"] = len(notable_taxa().table)
    ctx["responder"] = responder
    ctx["integrate_note"] = cohort.integrate.note
    ctx["position_figure"] = None if guard else _position_figure(cohort, latest)
    ctx["position_note"] = guard
    ctx["taxa"] = _taxa_vs_cohort(cohort, latest)
    comp, all_reads = composition_shares(cohort, usable)
    labels = [f"{x}\n{idx.at[x, 'time']}" if idx.at[x, "time"] else x for x in usable]
    ctx["composition_all_reads"] = all_reads
    ctx["composition_figure"] = figures.composition(
        comp,
        labels,
        f"Composition over time ({s['composition_rank']})",
        ylabel="share of all reads (%)" if all_reads else "% of classified reads (renormalised)",
    )
    ctx["metabolites"] = _metabolite_highlights(cohort, samples)
    ctx["change"] = _change(cohort, usable)
    ctx["failed"] = [
        {"sample": x, "reason": idx.at[x, "exclusion_reason"]} for x in samples if x not in usable
    ]
    return ctx


def badge_value(verdict: str) -> str:
    """A verdict as its badge says it: NA is 'not available'."""
    return "not available" if verdict == NA else verdict


def classified_label(fraction: float, verdict: str) -> str:
    """The coverage badge's text: '63.2 % classified', or 'not available'."""
    if pd.isna(fraction):
        return badge_value(verdict) if verdict != "FAIL" else "FAIL"
    return f"{pct(fraction)} classified"


def _reasons(r: pd.Series) -> str:
    """Both verdicts' reasons of a sample, each named."""
    parts = []
    if r["qc_reason"]:
        parts.append(f"Quality: {r['qc_reason']}")
    if r["coverage_reason"]:
        parts.append(f"Coverage: {r['coverage_reason']}")
    return ". ".join(parts)


def _quality_line(r: pd.Series, samples: list[str], idx: pd.DataFrame, cohort: Cohort) -> dict:
    """Sample quality (QC) of the summarised sample, and which of the patient's samples are
    left out for either verdict."""
    verdict = r["qc_verdict"]
    qc = cohort.qc
    if verdict == NA:
        text = "Not available: " + r["qc_reason"].removeprefix("not available: ") + "."
    elif verdict == "PASS" and qc is not None and r.name in qc.index:
        text = qc_description(qc.loc[r.name]) + "."
        text = text[0].upper() + text[1:]
    else:
        text = (r["qc_reason"] or "Within the limits") + "."
        text = text[0].upper() + text[1:]
    left_out = [x for x in samples if idx.at[x, "excluded"] == "yes" and x != r.name]
    if left_out:
        text += (
            f" {len(left_out)} other sample(s) of this patient are left out: "
            + "; ".join(f"{x} ({idx.at[x, 'exclusion_reason']})" for x in left_out)
            + "."
        )
    return {
        "key": "quality",
        "label": "Sample quality",
        "value": badge_value(verdict),
        "status": verdict,
        "text": text,
    }


def _coverage_line(r: pd.Series) -> dict:
    """Profiling coverage: the classified share of reads, its verdict and what it means."""
    verdict, fraction = r["coverage_verdict"], r["classified_fraction"]
    species = r.get("species_percent", np.nan)
    if verdict == NA and pd.isna(fraction):
        text = (
            "Not available: the share of reads that the profiler could classify is unknown, so "
            "it cannot be told how much of the community the results describe."
        )
    else:
        to_species = f" ({pct(species / 100)} to a species)" if pd.notna(species) else ""
        rest = (
            "The other reads matched nothing in the reference database and are shown as "
            "unclassified."
            if not fraction >= 1
            else ""
        )
        why = r["coverage_reason"]
        if verdict == "FAIL":
            text = f"{why[0].upper()}{why[1:]}. No result of this sample is shown."
        elif verdict == "WARN":
            text = (
                f"{why[0].upper()}{why[1:]}{to_species}: the indices below describe only part "
                f"of the community and are greyed out. {rest}"
            )
        elif pd.notna(fraction):
            text = f"{pct(fraction)} of the reads were classified{to_species}. {rest}".strip()
        else:
            text = why
    return {
        "key": "coverage",
        "label": "Profiling coverage",
        "value": classified_label(fraction, verdict),
        "status": verdict,
        "text": text.strip(),
    }


def _greyed(line: dict, reason: str) -> dict:
    """A summary line greyed out: a grey badge and the reason it is not a result."""
    if not reason:
        return line
    return {**line, "status": "NA", "greyed": reason}


def _percentile_text(p: float, cohort: Cohort) -> str:
    guard = cohort.reference_guard()
    if guard:
        return "no percentile: " + guard
    return f"{ordinal(p)} percentile of the reference group"


def _gmhi_line(r: pd.Series, cohort: Cohort, guard: str) -> dict:
    value = r["gmhi"]
    if pd.isna(value):
        return {
            "key": "gmhi",
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
    if value > 0:
        status = "GOOD"
        meaning = "the health-associated species outweigh the disease-associated ones"
    elif value < 0:
        status = "WARN"
        meaning = "the disease-associated species outweigh the health-associated ones"
    else:
        status = "NA"
        meaning = "neither group dominates (or neither was found)"
    if mh + mn < GMHI_MIN_SPECIES:
        guard = guard or (
            f"the profiling database covers only {mh + mn} of the 50 index species (fewer "
            f"than {GMHI_MIN_SPECIES})"
        )
    line = {
        "key": "gmhi",
        "label": "Gut Microbiome Health Index",
        "value": fmt(value),
        "status": status,
        "text": f"{meaning.capitalize()}; {_percentile_text(r['gmhi_percentile'], cohort)}. "
        f"{detect}",
    }
    return _greyed(line, guard)


def _dysbiosis_line(r: pd.Series, cohort: Cohort, guard: str) -> dict:
    value = r["dysbiosis_score"]
    if pd.isna(value):
        return {
            "key": "dysbiosis",
            "label": "Dysbiosis score",
            "value": "–",
            "status": "NA",
            "text": "No reference sample to compare with.",
        }
    dysbiotic = r["dysbiotic"] is True
    cutoff = cohort.dysbiosis_cutoff
    line = {
        "key": "dysbiosis",
        "label": "Dysbiosis score",
        "value": fmt(value),
        "status": "WARN" if dysbiotic else "GOOD",
        "text": (
            "How different the gut community is from the reference group "
            f"({cohort.reference_label}): 0 = the same, 1 = nothing shared. "
            + (
                ""
                if guard or cohort.reference_guard()
                else f"Above the usual range (cut-off {cutoff:.2f}): the community differs "
                "markedly from the reference group."
                if dysbiotic
                else f"Within the usual range of the reference group (cut-off {cutoff:.2f})."
                if pd.notna(cutoff)
                else ""
            )
        ),
    }
    return _greyed(line, guard or cohort.reference_guard())


def _diversity_line(r: pd.Series, cohort: Cohort, guard: str) -> dict:
    p = r["diversity_percentile"]
    status = "NA" if pd.isna(p) else ("WARN" if p < 10 else "GOOD")
    line = {
        "key": "diversity",
        "label": "Diversity",
        "value": fmt(r["diversity"]),
        "status": status,
        "text": f"{cohort.settings['diversity_metric']}: {_percentile_text(p, cohort)}"
        + ("" if cohort.reference_guard() else f" ({cohort.reference_label})")
        + ". Low diversity is common after antibiotics and in many chronic diseases.",
    }
    return _greyed(line, guard or cohort.reference_guard())


def _notable(cohort: Cohort, sample: str) -> list[dict]:
    """Notable taxa found in a sample, with cohort medians and their references. Each is
    named as in the taxa table (the profiling database's taxonomy), with the list's name in
    brackets where it differs (``Faecalibacterium duncaniae (Faecalibacterium prausnitzii)``)."""
    usable = cohort.usable
    found = []
    for entry, names, props in cohort.notable_shares():
        value = float(props.get(sample, 0.0))
        if value <= 0:
            continue
        matched = ", ".join(names)
        listed = entry["taxon"]
        same = {normalise_name(n) for n in names} == {normalise_name(listed)}
        found.append(
            {
                "taxon": matched,
                "listed_as": "" if same else listed,
                "display": matched if same else f"{matched} ({listed})",
                "entry": listed,
                "category": entry["category"],
                "abundance": pct(value),
                "cohort_median": pct(float(props.reindex(usable).median())),
                "why": entry["why"],
                "reference": entry["reference"],
                "doi": entry["doi"],
                "value": value,
            }
        )
    return sorted(found, key=lambda f: (f["category"] != "pathobiont", -f["value"]))


def _notable_line(notable: list[dict], r: pd.Series) -> dict:
    patho = [n for n in notable if n["category"] == "pathobiont"]
    good = [n for n in notable if n["category"] == "beneficial"]
    if patho:
        text = (
            "Pathobionts found: "
            + ", ".join(f"{n['display']} {n['abundance']}" for n in patho)
            + ". "
        )
    else:
        text = "No listed pathobiont was found. "
    text += (
        "Beneficial taxa found: "
        + ", ".join(f"{n['display']} {n['abundance']}" for n in good)
        + "."
        if good
        else "None of the listed beneficial taxa was found."
    )
    text += " Shares are of the classified reads."
    if r["coverage_verdict"] == "WARN":
        text += (
            f" Only {pct(r['classified_fraction'])} of the reads were classified: taxa that "
            "the reference database lacks cannot be found."
        )
    return {
        "key": "notable",
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
    guard = model_guard(cohort)
    if guard:
        return {
            "model": model,
            "rows": [],
            "estimable": False,
            "summary": {
                "key": "responder",
                "label": "Responder probability",
                "value": "not estimable",
                "status": "NA",
                "text": "The responder model is not estimable on this cohort, so no "
                "probability is given.",
                "greyed": guard,
            },
        }
    rows = predictions[
        (predictions["feature_set"] == model["feature_set"])
        & (predictions["model"] == model["model"])
        & (predictions["sample_id"].isin(samples))
    ]
    if rows.empty:
        return {
            "model": model,
            "rows": [],
            "estimable": True,
            "summary": {
                "key": "responder",
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
        + f" from the microbiome: {last['probability']:.2f}. {auroc_text(model)} "
        "Out-of-fold estimate for research use only."
    )
    return {
        "model": model,
        "estimable": True,
        "rows": [
            [
                r["sample_id"],
                f"{r['probability']:.2f}",
                _outcome(r["outcome"], model),
            ]
            for _, r in rows.iterrows()
        ],
        "summary": {
            "key": "responder",
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
                "note": "no percentile (small reference group)"
                if cohort.reference_guard()
                else f"{ordinal(idx.at[sample, column + '_percentile'])} percentile",
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
    guard = cohort.index_guard(sample) or cohort.cohort_guard()
    rows = [
        {
            "taxon": name,
            "patient": pct(r["patient"]),
            "median": pct(r["median"]),
            "range": f"{pct(r['q1'])} – {pct(r['q3'])}",
            "direction": "–" if guard else _direction(r["patient"], r["q1"], r["q3"]),
        }
        for name, r in table.iterrows()
    ]
    figure = figures.taxa_against_cohort(table, f"this patient ({sample})") if len(table) else None
    return {
        "rows": rows,
        "figure": figure,
        "rank": cohort.settings["taxa_rank"],
        "greyed": guard,
    }


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
