"""What the reports say: the cohort's per-sample indices and the context of each report.

:func:`load_cohort` reads every input that exists and computes the per-sample indices once;
:func:`cohort_context` and :func:`patient_context` turn them into the plain values, tables,
sentences and figures the templates show. Nothing here formats HTML.
"""

from __future__ import annotations

import logging
import os
import platform
import re
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata

import numpy as np
import pandas as pd

from microbiome import __version__
from microbiome.errors import ConfigError, InputError
from microbiome.io.feature_table import FeatureTable, read_feature_table
from microbiome.io.metadata import Metadata, read_metadata
from microbiome.report import figures
from microbiome.report.indices import (
    dysbiosis_scores,
    dysbiosis_threshold,
    gmhi,
    normalise_name,
    notable_taxa,
    percentile,
    qc_verdicts,
)
from microbiome.report.inputs import (
    DIVERSITY_FILES,
    INTEGRATE_FILES,
    StageOutputs,
    read_metabolites,
    read_qc,
    read_stage,
)

log = logging.getLogger("microbiome")

RESEARCH_USE = (
    "Research use only. This report is not a diagnosis and must not be used on its own to "
    "make treatment decisions."
)
SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")
LIBRARIES = (
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
    "jinja2",
    "weasyprint",
    "scikit-bio",
    "scikit-learn",
    "snakemake",
)


def file_stem(patient: str) -> str:
    """The file name (without extension) of a patient's report: the ID with every character
    other than letters, digits, '.', '_' and '-' replaced by '_'."""
    stem = SAFE_ID.sub("_", patient)
    return stem if stem.strip("._") else "patient_" + stem


@dataclass
class Inputs:
    """Paths of everything the reports can show; only ``taxa`` is required."""

    taxa: str
    qc: str | None = None
    metadata: str | None = None
    diversity: str | None = None
    integrate: str | None = None
    metabolites: str | None = None
    metabolite_annotation: str | None = None
    database: str | None = None


@dataclass
class Cohort:
    """Everything read and computed once for all reports."""

    settings: dict
    config: dict
    inputs: Inputs
    species: FeatureTable
    proportions: pd.DataFrame  # samples x taxa at settings["taxa_rank"], rows sum to 1
    composition: pd.DataFrame  # samples x taxa at settings["composition_rank"]
    taxon_names: pd.Series  # taxon column -> name at taxa_rank
    metadata: Metadata | None
    patients: pd.Series  # sample -> patient
    time_labels: pd.Series  # sample -> "timepoint 1" / "2024-01-03" / ""
    order: pd.Series  # sample -> sort key within its patient
    qc: pd.DataFrame | None
    indices: pd.DataFrame  # per sample; derived values NA when QC failed
    reference: list[str]
    reference_label: str
    dysbiosis_cutoff: float
    diversity: StageOutputs
    integrate: StageOutputs
    metabolites: pd.DataFrame | None
    metabolite_notes: pd.DataFrame | None
    gmhi_matched: tuple[int, int]  # GMHI species the table can detect: (of 7, of 43)
    notes: list[str] = field(default_factory=list)
    _ranks: dict = field(default_factory=dict, repr=False)

    def at_rank(self, rank: str) -> FeatureTable:
        """The taxa table collapsed to ``rank`` (computed once)."""
        if rank not in self._ranks:
            self._ranks[rank] = _at_rank(self.species, rank)
        return self._ranks[rank]

    def names_at(self, rank: str) -> pd.Series:
        return _names(self.at_rank(rank))

    @property
    def usable(self) -> list[str]:
        """Samples whose derived values are reported (QC not FAIL)."""
        return self.indices.index[self.indices["qc_verdict"] != "FAIL"].tolist()

    def patient_samples(self, patient: str) -> list[str]:
        samples = self.patients.index[self.patients == patient]
        return sorted(samples, key=lambda s: self.order[s])

    def find_patient(self, name: str) -> str:
        """A patient by ID or by its report's file name."""
        patients = list(pd.unique(self.patients))
        if name in patients:
            return name
        by_stem = [p for p in patients if file_stem(p) == name]
        if len(by_stem) == 1:
            return by_stem[0]
        raise InputError(
            f"patient {name!r} is not in the cohort (patients: {', '.join(patients[:20])}"
            + (", ..." if len(patients) > 20 else "")
            + ")",
            file=self.inputs.metadata or self.inputs.taxa,
        )


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_cohort(inputs: Inputs, config: dict) -> Cohort:
    """Read the inputs and compute every sample's QC verdict and indices."""
    settings = config["report"]
    notes: list[str] = []
    species = read_feature_table(inputs.taxa)
    _, empty = species.without_empty_samples()
    if len(empty) == len(species.data):
        raise InputError("no sample of the taxa table has any reads", file=inputs.taxa)
    at_rank = _at_rank(species, settings["taxa_rank"])
    proportions = at_rank.proportions()
    composition_table = _at_rank(species, settings["composition_rank"])
    composition = composition_table.proportions()
    samples = proportions.index.tolist()

    metadata = read_cohort_metadata(inputs.metadata, config) if inputs.metadata else None
    if metadata is not None:
        only_in_data = metadata.match(samples).only_in_data
        if only_in_data:
            notes.append(
                f"{len(only_in_data)} sample(s) have no metadata row and are reported as "
                f"their own patient: {', '.join(only_in_data[:10])}"
            )
    patients = patients_of(samples, metadata)
    time_labels, order = _time_order(samples, metadata)

    qc = None
    if inputs.qc:
        qc = read_qc(inputs.qc)
        verdicts = qc_verdicts(qc, settings["qc"]).reindex(samples)
        missing = verdicts["qc_verdict"].isna()
        verdicts.loc[missing, "qc_verdict"] = "WARN"
        verdicts.loc[missing, "qc_reason"] = "no QC record for this sample"
    else:
        verdicts = pd.DataFrame(
            {"qc_verdict": "WARN", "qc_reason": "QC was not run: sample quality is unknown"},
            index=samples,
        )
        notes.append("QC was not run: every sample's quality is unknown (WARN)")

    verdicts.loc[empty, "qc_verdict"] = "FAIL"
    verdicts.loc[empty, "qc_reason"] = "no reads were classified: nothing to report"
    indices = pd.DataFrame({"patient_id": patients, "time": time_labels}, index=samples)
    indices = indices.join(verdicts)
    usable = indices.index[indices["qc_verdict"] != "FAIL"].tolist()

    reference, reference_label = _reference(settings["reference"], metadata, usable, notes)

    try:
        at_species = _at_rank(species, "species")
    except InputError:
        at_species = None
        notes.append("the taxa table has no species: the GMHI cannot be computed")
    if at_species is not None:
        g = gmhi(at_species.data, _names(at_species))
        indices["gmhi"] = g["gmhi"]
        indices["gmhi_mh_present"] = g["mh_present"]
        indices["gmhi_mn_present"] = g["mn_present"]
        gmhi_matched = (int(g["mh_matched"].iloc[0]), int(g["mn_matched"].iloc[0]))
    else:
        indices["gmhi"] = np.nan
        indices["gmhi_mh_present"] = pd.NA
        indices["gmhi_mn_present"] = pd.NA
        gmhi_matched = (0, 0)

    scores = dysbiosis_scores(proportions.loc[usable], reference, patients)
    cutoff = dysbiosis_threshold(scores, reference, settings["dysbiosis_quantile"])
    indices["dysbiosis_score"] = scores
    indices["dysbiotic"] = pd.Series(
        {s: bool(v > cutoff) for s, v in scores.items() if pd.notna(v) and pd.notna(cutoff)},
        dtype=object,
    )

    diversity = read_stage("diversity", inputs.diversity, DIVERSITY_FILES)
    integrate = read_stage("integrate", inputs.integrate, INTEGRATE_FILES)
    alpha = diversity.get("alpha")
    metric = settings["diversity_metric"]
    if alpha is not None:
        if metric not in alpha.columns:
            raise ConfigError(
                f"report: diversity_metric {metric!r} is not a column of the alpha diversity "
                f"table (columns: {', '.join(alpha.columns[1:])})"
            )
        indices["diversity"] = alpha.set_index("sample_id")[metric].reindex(samples)

    for column in ("gmhi", "dysbiosis_score", "diversity"):
        if column not in indices:
            continue
        indices.loc[~indices.index.isin(usable), column] = np.nan
        ref_values = indices.loc[[s for s in reference if s in indices.index], column]
        indices[f"{column}_percentile"] = [percentile(ref_values, v) for v in indices[column]]
    for column in ("gmhi_mh_present", "gmhi_mn_present", "dysbiotic"):
        indices.loc[~indices.index.isin(usable), column] = pd.NA

    metabolites = metabolite_notes = None
    if inputs.metabolites:
        metabolites, metabolite_notes = read_metabolites(
            inputs.metabolites, inputs.metabolite_annotation
        )
    cohort = Cohort(
        settings=settings,
        config=config,
        inputs=inputs,
        species=species,
        proportions=proportions,
        composition=composition,
        taxon_names=_names(at_rank),
        metadata=metadata,
        patients=patients,
        time_labels=time_labels,
        order=order,
        qc=qc,
        indices=indices,
        reference=reference,
        reference_label=reference_label,
        dysbiosis_cutoff=cutoff,
        diversity=diversity,
        integrate=integrate,
        metabolites=metabolites,
        metabolite_notes=metabolite_notes,
        gmhi_matched=gmhi_matched,
        notes=notes,
        _ranks={settings["taxa_rank"]: at_rank, settings["composition_rank"]: composition_table},
    )
    return cohort


def read_cohort_metadata(path: str, config: dict) -> Metadata:
    """The metadata sheet, read with the config's ``metadata`` settings (column names and
    declared variable types) when there are any."""
    meta_cfg = config.get("metadata") or {}
    return read_metadata(
        path,
        meta_cfg.get("variables") or {},
        sample_column=meta_cfg.get("sample_column") or None,
        patient_column=meta_cfg.get("patient_column") or None,
    )


def patients_of(samples: list[str], metadata: Metadata | None) -> pd.Series:
    """Sample -> patient ID: the metadata's ``patient_id``; a sample without a metadata row
    is its own patient."""
    patients = pd.Series(samples, index=samples, dtype=str)
    if metadata is not None:
        known = metadata.table["patient_id"].reindex(samples).dropna().astype(str)
        patients.update(known)
    return patients


def _at_rank(table: FeatureTable, rank: str) -> FeatureTable:
    return table.at_rank(rank, keep_unresolved=True)


def _names(table: FeatureTable) -> pd.Series:
    return table.features["name"].reindex(table.data.columns).fillna("").astype(str)


def _time_order(samples: list[str], metadata: Metadata | None) -> tuple[pd.Series, pd.Series]:
    """Each sample's time label and sort key: by collection date, else by time point, else in
    the taxa table's order."""
    position = pd.Series(range(len(samples)), index=samples, dtype=float)
    if metadata is None:
        return pd.Series("", index=samples), position
    table = metadata.table.reindex(samples)
    for column, kind in (("collection_date", "date"), ("timepoint", None)):
        if column not in table.columns:
            continue
        values = table[column]
        if kind == "date" and not pd.api.types.is_datetime64_any_dtype(values):
            values = pd.to_datetime(values, errors="coerce")
        if values.notna().any():
            if kind == "date":
                labels = values.dt.strftime("%Y-%m-%d").fillna("")
                key = values.map(lambda v: v.value if pd.notna(v) else np.inf).astype(float)
            else:
                numeric = pd.to_numeric(values, errors="coerce")
                labels = values.map(lambda v: f"time point {_number(v)}" if pd.notna(v) else "")
                key = numeric.fillna(np.inf).astype(float)
            return labels.astype(str), key * 1e6 + position  # ties keep the table's order
    return pd.Series("", index=samples), position


def _number(value) -> str:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{f:g}"


def _reference(spec: dict, metadata: Metadata | None, usable: list[str], notes: list[str]):
    """Reference samples (of those that passed QC) and a label for them."""
    variable, levels = spec.get("variable") or "", [str(v) for v in spec.get("levels") or []]
    if variable:
        if metadata is None:
            notes.append(
                f"no metadata: the reference group ({variable} = {', '.join(levels)}) cannot be "
                "formed; the whole cohort is the reference"
            )
        elif variable not in metadata.table.columns:
            raise ConfigError(
                f"report: reference variable {variable!r} is not a metadata column "
                f"(columns: {', '.join(metadata.table.columns)})"
            )
        else:
            values = metadata.table[variable].reindex(usable).astype("string")
            chosen = [s for s, v in values.items() if pd.notna(v) and v in levels]
            if chosen:
                return chosen, f"{variable}: {', '.join(levels)} (n = {len(chosen)})"
            notes.append(
                f"no sample that passed QC has {variable} = {', '.join(levels)}: the whole "
                "cohort is the reference"
            )
    return list(usable), f"whole cohort (n = {len(usable)})"


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def _pct(fraction) -> str:
    if fraction is None or pd.isna(fraction):
        return "–"
    value = 100 * float(fraction)
    if value == 0:
        return "0 %"
    return f"{value:.2g} %" if value < 1 else f"{value:.1f} %"


def _ordinal(p: float) -> str:
    if pd.isna(p):
        return "–"
    n = int(round(p))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _records(table: pd.DataFrame, columns: list[str] | None = None, digits: int = 3) -> list:
    """Rows of a table as lists of display strings."""
    table = table if columns is None else table[columns]
    rows = []
    for _, row in table.iterrows():
        cells = []
        for value in row:
            if isinstance(value, (float, np.floating)):
                cells.append(_sci(value, digits))
            elif value is None or value is pd.NA:
                cells.append("–")
            else:
                cells.append(str(value))
        rows.append(cells)
    return rows


def _sci(value: float, digits: int = 3) -> str:
    if pd.isna(value):
        return "–"
    if value != 0 and abs(value) < 10 ** -(digits - 1):
        return f"{value:.{digits - 1}e}"
    return (
        f"{value:.{digits}g}"
        if abs(value) >= 1000
        else f"{value:.{digits}f}".rstrip("0").rstrip(".") or "0"
    )


def _top_composition(proportions: pd.DataFrame, names: pd.Series, top: int) -> pd.DataFrame:
    """The ``top`` taxa by mean abundance, the rest summed as 'Other', named columns."""
    means = proportions.mean().sort_values(ascending=False)
    keep = [c for c in means.index[:top] if means[c] > 0]
    out = proportions[keep].copy()
    out.columns = [names.get(c, c) or c for c in keep]
    other = proportions.drop(columns=keep).sum(axis=1)
    if (other > 1e-12).any():
        out["Other"] = other
    return out


def versions() -> list[tuple[str, str]]:
    """Versions of the package, Python and the libraries the reports rest on."""
    out = [("microbiome", __version__), ("Python", platform.python_version())]
    for name in LIBRARIES:
        try:
            out.append((name, importlib_metadata.version(name)))
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


def _flatten(value, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return [(prefix, text if len(text) < 300 else text[:297] + "...")]


def methods(cohort: Cohort) -> dict:
    """What ran, with which versions and parameters, from the files and the config."""
    config = cohort.config
    steps = []
    qc_cfg = config.get("qc")
    if cohort.qc is not None and qc_cfg:
        host = (
            f"host reads removed with a {qc_cfg.get('host_method')} index of "
            f"{len(qc_cfg.get('host_references') or [])} reference file(s)"
            if qc_cfg.get("host_references")
            else "no host removal"
        )
        steps.append(
            f"Reads were quality-controlled with microbiome qc ({qc_cfg.get('engine')}: 3' "
            f"quality trimming at Q{qc_cfg.get('quality_cutoff')}, adapters "
            f"{qc_cfg.get('adapters')}, minimum length {qc_cfg.get('min_length')}, "
            f"low-complexity threshold {qc_cfg.get('complexity_threshold')}; {host})."
        )
    prof = config.get("profile")
    if prof and prof.get("activate"):
        if prof.get("profiler") == "kraken2":
            steps.append(
                "Reads were classified with Kraken 2 against "
                f"{prof.get('kraken2_db')} (confidence {prof.get('confidence')})."
            )
        else:
            steps.append(
                "Reads were classified with microbiome classify (Kraken 2's algorithm, k = "
                f"{prof.get('k')}, window {prof.get('w')}, confidence {prof.get('confidence')}, "
                f"minimum hit groups {prof.get('min_hit_groups')}); abundances were estimated "
                f"with {prof.get('abundance')} ({prof.get('abundance_type')} abundance, "
                f"minimum {prof.get('min_reads')} reads per species)."
            )
    steps.append(
        f"The reports use the {cohort.settings['taxa_rank']} table {cohort.inputs.taxa} "
        f"({cohort.species.data.shape[0]} samples, {cohort.proportions.shape[1]} taxa), as "
        "proportions of each sample's classified reads."
    )
    steps.append(
        "The Gut Microbiome Health Index (GMHI) follows Gupta et al. (2020): species below "
        "1e-5 relative abundance count as absent; psi = (species present / 7 or 31) x Shannon "
        "entropy of the present species of each set; GMHI = log10((psi_MH + 1e-5) / "
        f"(psi_MN + 1e-5)). The table can detect {cohort.gmhi_matched[0]} of the 7 "
        f"health-prevalent and {cohort.gmhi_matched[1]} of the 43 health-scarce species."
    )
    steps.append(
        "The dysbiosis score is the median Bray-Curtis dissimilarity of a sample's "
        f"{cohort.settings['taxa_rank']} proportions to the reference group "
        f"({cohort.reference_label}), leaving out the patient's own samples (Lloyd-Price et al. "
        f"2019); above the {cohort.settings['dysbiosis_quantile']:.0%} quantile of the "
        "reference group's own scores a sample counts as dysbiotic."
    )
    if cohort.diversity.ran:
        steps.append(
            "Alpha and beta diversity, ordination and PERMANOVA come from microbiome diversity "
            f"({cohort.diversity.folder})."
        )
    if cohort.integrate.ran:
        steps.append(
            "Associations, microbe-metabolite correlations and biomarker models come from "
            f"microbiome integrate ({cohort.integrate.folder})."
        )
    database = None
    if cohort.inputs.database:
        from microbiome.profile.database import read_header

        header, _ = read_header(cohort.inputs.database)
        dist = header.get("kmer_distribution") or {}
        database = [
            ("file", cohort.inputs.database),
            ("format version", header.get("format_version")),
            ("built by microbiome", header.get("microbiome_version")),
            ("k, w, seed", f"{header.get('k')}, {header.get('w')}, {header.get('seed')}"),
            ("minimizers", f"{header.get('minimizers', 0):,}"),
            ("taxa", header.get("taxa")),
            ("genomes", len(header.get("genomes") or [])),
            ("reference bases", f"{header.get('bases', 0):,}"),
            ("k-mer distribution read length", dist.get("read_length")),
            ("checksum", header.get("checksum")),
        ]
    parameters = []
    for stage in (cohort.diversity, cohort.integrate):
        if stage.parameters:
            parameters.append((stage.name, _flatten(stage.parameters)))
    config_rows = []
    for section in ("qc", "profile", "metadata", "diversity", "integrate", "report"):
        if section in config:
            config_rows.append((section, _flatten(config[section])))
    return {
        "steps": steps,
        "versions": versions(),
        "database": database,
        "parameters": parameters,
        "config": config_rows,
        "inputs": [(k, v) for k, v in vars(cohort.inputs).items() if v],
        "references": references(),
    }


def references() -> list[str]:
    refs = [
        "Gupta VK et al. (2020) A predictive index for health status using species-level gut "
        "microbiome profiling. Nat Commun 11:4635. doi:10.1038/s41467-020-18476-8",
        "Lloyd-Price J et al. (2019) Multi-omics of the gut microbial ecosystem in inflammatory "
        "bowel diseases. Nature 569:655-662. doi:10.1038/s41586-019-1237-9",
    ]
    for ref in notable_taxa().table["reference"]:
        if ref not in refs:
            refs.append(ref)
    return refs


# --------------------------------------------------------------------------------------------
# Cohort report
# --------------------------------------------------------------------------------------------


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
                "reads_in": _fmt(int(q["reads_in"])) if q is not None else "–",
                "reads_out": _fmt(int(q["reads_out"])) if q is not None else "–",
                "kept": _fmt(q["kept_read_percent"], 1) if q is not None else "–",
                "host": _fmt(q["host_read_percent"], 1) if q is not None else "–",
                "verdict": row["qc_verdict"],
                "reason": row["qc_reason"],
                "gmhi": _fmt(row["gmhi"]),
                "dysbiosis": _fmt(row["dysbiosis_score"]),
                "diversity": _fmt(row.get("diversity", np.nan)),
            }
        )
    not_profiled = []
    if qc is not None:
        not_profiled = [x for x in qc.index if x not in idx.index]
    comp_names = cohort.names_at(s["composition_rank"])
    comp = _top_composition(cohort.composition, comp_names, s["composition_top"])
    composition_figure = figures.composition(
        comp,
        comp.index.tolist(),
        f"Composition ({s['composition_rank']}), top {len(comp.columns.drop('Other', 'ignore'))}",
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
            "alpha": _alpha_summary(div.get("alpha"), idx),
            "permanova": _table(
                div.get("permanova"),
                ["metric", "variable", "n_samples", "n_groups", "pseudo_f", "r2", "p_value"],
            ),
            "permdisp": _table(
                div.get("permdisp"),
                ["metric", "variable", "n_samples", "n_groups", "f_statistic", "p_value"],
            ),
            "alpha_tests": _table(
                div.get("alpha_tests"),
                ["metric", "variable", "test", "statistic", "n_samples", "p_value", "q_value"],
            ),
            "excluded": _table(div.get("excluded"), ["sample_id", "reason"]),
            "figures": _stage_figures(div),
        }
    integ = cohort.integrate
    integrate = None
    if integ.ran:
        top = s["top_associations"]
        assoc = integ.get("associations")
        corr = integ.get("correlations")
        integrate = {
            "associations": _table(
                assoc.sort_values(["q_value", "p_value"]).head(top) if assoc is not None else None,
                [
                    "feature",
                    "feature_type",
                    "variable",
                    "level",
                    "coefficient",
                    "n",
                    "p_value",
                    "q_value",
                    "model",
                ],
            ),
            "n_associations": 0 if assoc is None else len(assoc),
            "n_significant": 0 if assoc is None else int((assoc["q_value"] < 0.05).sum()),
            "correlations": _table(
                corr.sort_values(["q_value", "p_value"]).head(top) if corr is not None else None,
                ["taxon", "metabolite", "rho", "p_value", "q_value", "n"],
            ),
            "n_correlations": 0 if corr is None else len(corr),
            "performance": _table(
                integ.get("performance"),
                [
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
            ),
            "importance": _table(
                integ.get("importance").sort_values("importance", ascending=False).head(top)
                if integ.get("importance") is not None
                else None,
                ["feature_set", "model", "feature", "importance"],
            ),
            "model": _chosen_model(integ),
            "figures": _stage_figures(integ),
        }
    return {
        "title": "Cohort report",
        "n_samples": len(idx),
        "n_patients": int(idx["patient_id"].nunique()),
        "verdict_counts": {
            v: int((idx["qc_verdict"] == v).sum()) for v in ("PASS", "WARN", "FAIL")
        },
        "samples": samples_table,
        "not_profiled": not_profiled,
        "reference_label": cohort.reference_label,
        "dysbiosis_cutoff": _fmt(cohort.dysbiosis_cutoff, 3),
        "gmhi_matched": cohort.gmhi_matched,
        "composition_figure": composition_figure,
        "group_figures": group_figures,
        "diversity": diversity,
        "diversity_note": cohort.diversity.note,
        "integrate": integrate,
        "integrate_note": cohort.integrate.note,
        "qc_note": None if cohort.qc is not None else "QC was not run",
        "metrics_label": s["diversity_metric"],
        "notes": cohort.notes,
        "methods": methods(cohort),
        "research_use": RESEARCH_USE,
    }


def _table(table: pd.DataFrame | None, columns: list[str]) -> dict | None:
    if table is None:
        return None
    columns = [c for c in columns if c in table.columns]
    return {"columns": columns, "rows": _records(table, columns)}


def _alpha_summary(alpha: pd.DataFrame | None, idx: pd.DataFrame) -> dict | None:
    if alpha is None:
        return None
    metrics = [
        c for c in alpha.columns if c != "sample_id" and pd.api.types.is_numeric_dtype(alpha[c])
    ]
    rows = []
    for m in metrics:
        v = alpha[m].dropna()
        rows.append([m, _sci(v.min()), _sci(v.median()), _sci(v.max()), str(len(v))])
    return {"columns": ["metric", "min", "median", "max", "samples"], "rows": rows}


def _stage_figures(stage: StageOutputs) -> list[tuple[str, str]]:
    return [(p.stem.replace("_", " "), figures.file_data_uri(p)) for p in stage.figures]


def _chosen_model(stage: StageOutputs) -> dict | None:
    """The model whose out-of-fold predictions the patient reports show: the one
    ``biomarkers/model.json`` names, else the best cross-validated AUROC."""
    perf = stage.get("performance")
    if perf is None or perf.empty:
        return None
    info = stage.json.get(os.path.join("biomarkers", "model.json"), {})
    chosen = info.get("chosen") if isinstance(info.get("chosen"), dict) else info
    feature_set, model = chosen.get("feature_set"), chosen.get("model")
    rows = perf
    if feature_set and model:
        rows = perf[(perf["feature_set"] == feature_set) & (perf["model"] == model)]
    if rows.empty:
        rows = perf
    best = rows.sort_values("auroc_mean", ascending=False).iloc[0]
    return {
        "feature_set": str(best["feature_set"]),
        "model": str(best["model"]),
        "auroc": float(best["auroc_mean"]),
        "auroc_low": float(best["auroc_ci_low"]),
        "auroc_high": float(best["auroc_ci_high"]),
        "n_samples": int(best["n_samples"]),
        "outcome": str(info.get("outcome") or chosen.get("outcome") or ""),
        "positive_class": _levels(info.get("positive_class"), "the positive outcome"),
        "negative_class": _levels(info.get("negative_class"), "other"),
    }


def _levels(value, default: str) -> str:
    """A class of model.json (a level or a list of levels) as text."""
    if isinstance(value, list):
        return " or ".join(str(v) for v in value) or default
    return str(value) if value else default


# --------------------------------------------------------------------------------------------
# Patient report
# --------------------------------------------------------------------------------------------


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
                "gmhi": _fmt(r["gmhi"]),
                "dysbiosis": _fmt(r["dysbiosis_score"]),
                "diversity": _fmt(r.get("diversity", np.nan)),
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
    ctx["n_notable_checked"] = len(notable_taxa().table)
    ctx["responder"] = responder
    ctx["integrate_note"] = cohort.integrate.note
    ctx["position_figure"] = _position_figure(cohort, latest)
    ctx["taxa"] = _taxa_vs_cohort(cohort, latest)
    comp_names = cohort.names_at(s["composition_rank"])
    comp = _top_composition(cohort.composition.loc[usable], comp_names, s["composition_top"])
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
        "value": _fmt(value),
        "status": status,
        "text": f"{meaning.capitalize()}; {_ordinal(r['gmhi_percentile'])} percentile of the "
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
        "value": _fmt(value),
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
        "value": _fmt(r["diversity"]),
        "status": status,
        "text": f"{cohort.settings['diversity_metric']}: {_ordinal(p)} percentile of the "
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
        names = _names(table)
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
                "abundance": _pct(value),
                "cohort_median": _pct(float(props.reindex(usable).median())),
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
    model = _chosen_model(stage)
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
                "note": f"{_ordinal(idx.at[sample, column + '_percentile'])} percentile",
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
            "patient": _pct(r["patient"]),
            "median": _pct(r["median"]),
            "range": f"{_pct(r['q1'])} – {_pct(r['q3'])}",
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
    groups = []
    for label, subpathways in cohort.settings["metabolite_groups"].items():
        if notes is None or "subpathway" not in notes.columns:
            break
        wanted = {str(x).lower() for x in subpathways}
        members = [
            m
            for m in table.columns
            if m in notes.index and str(notes.at[m, "subpathway"]).lower() in wanted
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
                    "value": _sci(value),
                    "median": _sci(cohort_values.median()),
                    "range": f"{_sci(cohort_values.min())} – {_sci(cohort_values.max())}",
                    "percentile": _ordinal(percentile(cohort_values, value)),
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
            rows.append(
                [label, _fmt(a), _fmt(b), _fmt(b - a) if pd.notna(a) and pd.notna(b) else "–"]
            )
    p = cohort.proportions
    a, b = p.loc[first].to_numpy(), p.loc[last].to_numpy()
    total = (a + b).sum()
    distance = float(np.abs(a - b).sum() / total) if total else float("nan")
    delta = (p.loc[last] - p.loc[first]).sort_values(key=np.abs, ascending=False)
    delta = delta[delta.abs() > 0][: cohort.settings["top_taxa"] // 2 or 1]
    taxa = [
        [
            cohort.taxon_names.get(t, t) or t,
            _pct(p.at[first, t]),
            _pct(p.at[last, t]),
            ("+" if d > 0 else "−") + _pct(abs(d)),
        ]
        for t, d in delta.items()
    ]
    return {
        "first": first,
        "last": last,
        "first_time": idx.at[first, "time"],
        "last_time": idx.at[last, "time"],
        "rows": rows,
        "bray_curtis": _fmt(distance),
        "taxa": taxa,
    }
