"""The cohort behind every report: inputs read once, each sample's QC verdict and indices.

:func:`load_cohort` reads every input that exists and computes the per-sample indices;
:mod:`microbiome.report.cohort_report` and :mod:`microbiome.report.patient_report` turn them
into the values, sentences, tables and figures the templates show.
"""

from __future__ import annotations

import logging
import platform
import re
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata

import numpy as np
import pandas as pd

from microbiome import __version__
from microbiome.config import science
from microbiome.errors import ConfigError, InputError
from microbiome.integrate.tables import read_metabolite_table
from microbiome.io.feature_table import FeatureTable, read_feature_table
from microbiome.io.metadata import Metadata, read_metadata
from microbiome.ranks import CANONICAL_RANKS
from microbiome.report.indices import (
    dysbiosis_scores,
    dysbiosis_threshold,
    gmhi,
    normalise_name,
    notable_taxa,
    percentile,
)
from microbiome.report.inputs import (
    DIVERSITY_FILES,
    INTEGRATE_FILES,
    MODEL_JSON,
    StageOutputs,
    read_stage,
)
from microbiome.status import (
    NA,
    classification_from_taxa,
    mark_empty,
    read_classification,
    read_qc,
    read_status,
    sample_status,
    with_exclusion,
)

log = logging.getLogger("microbiome")

#: The config sections the reports read (report, metadata) and list in their methods; the
#: workflow passes these, without the resources (microbiome.config.RESOURCE_KEYS).
CONFIG_SECTIONS = ("qc", "profile", "metadata", "diversity", "integrate", "report")

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
    other than letters, digits, '.', '_' and '-' replaced by '_', after ``patient_`` when it
    would not start with a letter or digit (so that it is a valid ``--patient``)."""
    stem = SAFE_ID.sub("_", patient)
    return stem if stem[:1].isalnum() else "patient_" + stem


@dataclass
class Inputs:
    """Paths of everything the reports can show; only ``taxa`` is required."""

    taxa: str
    qc: str | None = None
    status: str | None = None  # the status table of `microbiome sample-status`
    classification: str | None = None  # the classification summary (without a status table)
    metadata: str | None = None
    samples: str | None = None  # the sample sheet: sample -> patient without a metadata sheet
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
    indices: pd.DataFrame  # per sample: status, classified share, indices (NA when excluded)
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
    _notable: list | None = field(default=None, repr=False)

    def at_rank(self, rank: str) -> FeatureTable:
        """The taxa table collapsed to ``rank`` (computed once)."""
        if rank not in self._ranks:
            self._ranks[rank] = _at_rank(self.species, rank)
        return self._ranks[rank]

    def names_at(self, rank: str) -> pd.Series:
        return names_of(self.at_rank(rank))

    def notable_shares(self) -> list[tuple[pd.Series, list[str], pd.Series]]:
        """For each entry of the notable-taxa list that the taxa table holds: the entry, the
        table's names of the taxa it matches, and their summed share of each sample's
        classified reads (computed once for every patient's report)."""
        if self._notable is None:
            listing, found = notable_taxa(), []
            for (_, entry), key in zip(listing.table.iterrows(), listing.keys, strict=True):
                try:
                    table = self.at_rank(entry["rank"])
                except InputError:  # the table does not reach this rank
                    continue
                names = names_of(table)
                columns = [c for c, n in names.items() if normalise_name(n) in key]
                if columns:
                    shares = table.proportions()[columns].sum(axis=1)
                    found.append((entry, sorted({names[c] for c in columns}), shares))
            self._notable = found
        return self._notable

    @property
    def usable(self) -> list[str]:
        """Samples whose derived values are reported and that the cohort statistics use:
        those not excluded (neither verdict FAIL, reads in the profile)."""
        return self.indices.index[self.indices["excluded"] != "yes"].tolist()

    @property
    def excluded(self) -> pd.DataFrame:
        """The excluded samples of the taxa table with their reasons."""
        idx = self.indices
        return idx.loc[idx["excluded"] == "yes", ["patient_id", "exclusion_reason"]]

    def index_guard(self, sample: str) -> str:
        """Why the derived indices of ``sample`` are greyed out ('' when they are not): a
        profiling coverage below the warning limit."""
        row = self.indices.loc[sample]
        if row["coverage_verdict"] == "WARN":
            return f"only {row['coverage_reason']}"
        return ""

    def _too_few(self, n: int, group: str, what: str = "sample(s)") -> str:
        minimum = self.settings["min_reference_samples"]
        if n < minimum:
            return f"{group} has {n} {what}, fewer than the {minimum} needed for a usable range"
        return ""

    def reference_guard(self) -> str:
        """Why percentiles and the dysbiosis score are greyed out ('' when they are not): a
        reference group smaller than ``min_reference_samples``."""
        return self._too_few(len(self.reference), f"the reference group ({self.reference_label})")

    def cohort_guard(self) -> str:
        """Why comparisons with the cohort ('higher/lower than most') are greyed out ('' when
        they are not): fewer usable samples than ``min_reference_samples``."""
        return self._too_few(len(self.usable), "the cohort", "usable sample(s)")

    def patient_samples(self, patient: str) -> list[str]:
        samples = self.patients.index[self.patients == patient]
        return sorted(samples, key=lambda s: self.order[s])

    @property
    def all_patients(self) -> list[str]:
        """The patients of the taxa table's samples, then those only in the metadata (whose
        reports say that none of their samples was profiled)."""
        patients = list(pd.unique(self.patients))
        if self.metadata is not None:
            known = set(patients)
            for patient in pd.unique(self.metadata.table["patient_id"].astype(str)):
                if patient not in known:
                    patients.append(patient)
        return patients

    def find_patient(self, name: str) -> str:
        """A patient by ID or by its report's file name."""
        patients = self.all_patients
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
    taxa_rank, at_rank = _reachable(species, settings["taxa_rank"], notes)
    composition_rank, composition_table = _reachable(species, settings["composition_rank"], notes)
    settings = {**settings, "taxa_rank": taxa_rank, "composition_rank": composition_rank}
    proportions = at_rank.proportions()
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
    if metadata is not None:
        patients = patients_of(samples, metadata.table["patient_id"])
    elif inputs.samples:
        patients = patients_of(samples, sample_sheet_patients(inputs.samples))
    else:
        patients = patients_of(samples, None)
    time_labels, order = _time_order(samples, metadata)

    qc = read_qc(inputs.qc) if inputs.qc else None
    status = _status(inputs, settings, qc, species, samples, empty)
    if qc is None and (status["qc_verdict"] == "NA").all():
        notes.append("QC was not run: sample quality is not available")
    # the classified share of reads (0..1, NaN when unknown), as the verdicts saw it
    classified = status["classified_percent"].reindex(species.data.index).astype(float) / 100.0
    indices = pd.DataFrame({"patient_id": patients, "time": time_labels}, index=samples)
    indices = indices.join(status.reindex(samples))
    indices["classified_fraction"] = classified
    usable = indices.index[indices["excluded"] != "yes"].tolist()

    reference, reference_label = _reference(settings["reference"], metadata, usable, notes)

    try:
        at_species = _at_rank(species, "species")
    except InputError:
        at_species = None
        notes.append("the taxa table has no species: the GMHI cannot be computed")
    if at_species is not None:
        g = gmhi(at_species.data, names_of(at_species))
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
    integrate = read_stage("integrate", inputs.integrate, INTEGRATE_FILES, (MODEL_JSON,))
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
        table = read_metabolite_table(
            inputs.metabolites, annotation=inputs.metabolite_annotation, sample_ids=samples
        )
        metabolites, metabolite_notes = table.data, table.annotation
    cohort = Cohort(
        settings=settings,
        config=config,
        inputs=inputs,
        species=species,
        proportions=proportions,
        composition=composition,
        taxon_names=names_of(at_rank),
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


def _status(
    inputs: Inputs,
    settings: dict,
    qc: pd.DataFrame | None,
    species: FeatureTable,
    samples: list[str],
    empty: list[str],
) -> pd.DataFrame:
    """Every sample's status: the given status table (samples it lacks are kept, with NA
    verdicts), else decided here from the QC and classification summaries. Either way a
    sample without reads in the taxa table is excluded."""
    if inputs.status:
        status = read_status(inputs.status)
        missing = [x for x in samples if x not in status.index]
        if missing:
            log.warning(
                "%d sample(s) of the taxa table are not in %s and are kept: %s",
                len(missing),
                inputs.status,
                ", ".join(missing[:10]),
            )
            reason = f"not available: not in the status table {inputs.status}"
            extra = pd.DataFrame(
                {
                    "qc_verdict": NA,
                    "qc_reason": reason,
                    "coverage_verdict": NA,
                    "coverage_reason": reason,
                    "classified_percent": np.nan,
                    "species_percent": np.nan,
                },
                index=pd.Index(missing, name="sample_id"),
            )
            status = pd.concat([status, with_exclusion(extra)])
        # The table's own exclusions stand (diversity and integrate used them); only a sample
        # with no reads in this taxa table is excluded on top.
        marked = mark_empty(status, empty)
        changed = marked["coverage_reason"] != status["coverage_reason"]
        status.loc[changed] = with_exclusion(marked.loc[changed])
        return status
    classification = (
        read_classification(inputs.classification)
        if inputs.classification
        else classification_from_taxa(species)
    )
    return sample_status(
        qc=qc,
        classification=classification,
        samples=samples,
        empty=empty,
        qc_thresholds=settings["qc"],
        coverage=settings.get("coverage"),
    )


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


def patients_of(samples: list[str], patient_ids: pd.Series | None) -> pd.Series:
    """Sample -> patient ID from ``patient_ids`` (sample -> patient, e.g. the metadata's
    ``patient_id`` column); a sample without one is its own patient."""
    patients = pd.Series(samples, index=samples, dtype=str)
    if patient_ids is not None:
        known = patient_ids.reindex(samples).dropna().astype(str)
        patients.update(known[known != ""])
    return patients


def sample_sheet_patients(path: str) -> pd.Series:
    """Sample -> patient ID ("" for none) of a sample sheet, for runs without a clinical
    sheet. Its reads files are not checked: only the IDs are used."""
    from microbiome.io.samplesheet import load_sample_sheet

    return load_sample_sheet(path, check_files=False)["patient_id"]


def _at_rank(table: FeatureTable, rank: str) -> FeatureTable:
    return table.at_rank(rank, keep_unresolved=True)


def _reachable(table: FeatureTable, rank: str, notes: list[str]) -> tuple[str, FeatureTable]:
    """(rank, table at it): ``rank``, else the deepest rank above it that the table's lineages
    reach, else the table's own features (rank 'feature') for a table without lineages."""
    for candidate in reversed(CANONICAL_RANKS[: CANONICAL_RANKS.index(rank) + 1]):
        try:
            collapsed = _at_rank(table, candidate)
        except InputError:
            continue
        if candidate != rank:
            notes.append(f"the taxa table does not reach {rank}: {candidate} is shown instead")
        return candidate, collapsed
    notes.append("the taxa table has no lineages: its features are shown as they are")
    return "feature", table


def names_of(table: FeatureTable) -> pd.Series:
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
            note = (
                f"the reference variable {variable!r} is not a column of {metadata.path}: the "
                "whole cohort is the reference"
            )
            log.warning(note)
            notes.append(note)
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
# What ran
# --------------------------------------------------------------------------------------------


def top_composition(proportions: pd.DataFrame, names: pd.Series, top: int) -> pd.DataFrame:
    """The ``top`` taxa by mean abundance, the rest summed as 'Other', named columns."""
    means = proportions.mean().sort_values(ascending=False)
    keep = [c for c in means.index[:top] if means[c] > 0]
    out = proportions[keep].copy()
    out.columns = [names.get(c, c) or c for c in keep]
    other = proportions.drop(columns=keep).sum(axis=1)
    if (other > 1e-12).any():
        out["Other"] = other
    return out


def composition_shares(cohort: Cohort, samples: list[str]) -> tuple[pd.DataFrame, bool]:
    """The composition of ``samples`` at the composition rank: the top taxa and 'Other' as
    shares of all reads with an 'unclassified' share, when every sample's classified share is
    known (True); else renormalised over the classified reads (False)."""
    s = cohort.settings
    names = cohort.names_at(s["composition_rank"])
    comp = top_composition(cohort.composition.loc[samples], names, s["composition_top"])
    fraction = cohort.indices.loc[samples, "classified_fraction"].astype(float)
    if len(samples) and fraction.notna().all():
        comp = comp.mul(fraction, axis=0)
        comp["unclassified"] = 1.0 - fraction
        return comp, True
    return comp, False


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
            f"({cohort.diversity.folder}). PERMANOVA and PERMDISP test distances between "
            "relative abundances (Bray-Curtis), presences (Jaccard) or CLR values (Aitchison), "
            "never raw counts, whose depths vary many-fold between samples; when a patient has "
            "several samples, permutations move patients as blocks (a patient-level variable) "
            "or labels within patients only, and alpha diversity is tested on patient means or "
            "with a mixed model (random intercept per patient)."
        )
    if cohort.integrate.ran:
        steps.append(
            "Associations, microbe-metabolite correlations and biomarker models come from "
            f"microbiome integrate ({cohort.integrate.folder}): taxa are filtered by prevalence "
            "and mean relative abundance, then CLR-transformed over the kept taxa; correlations "
            "are over patient means when patients repeat. A model's AUROC is the mean over "
            "repeated cross-validations by patient; its interval is a patient bootstrap of that "
            "mean with the models not refitted (a lower bound of the uncertainty); its p-value "
            "compares it with single cross-validation rounds on permuted labels (conservative), "
            "drawing permutations until the decision is settled (Besag and Clifford 1991); the "
            "chosen model's AUROC is also given corrected for choosing it among the candidates "
            "(Tibshirani and Tibshirani 2009)."
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
    for section in CONFIG_SECTIONS:
        if section in config:
            config_rows.append((section, _flatten(science(config[section]))))
    return {
        "steps": steps,
        "versions": versions(),
        "database": database,
        "parameters": parameters,
        "config": config_rows,
        "inputs": [(k, v) for k, v in vars(cohort.inputs).items() if v],
        "references": references(),
    }


#: The indices' references.
INDEX_REFERENCES = (
    "Gupta VK et al. (2020) A predictive index for health status using species-level gut "
    "microbiome profiling. Nat Commun 11:4635. doi:10.1038/s41467-020-18476-8",
    "Lloyd-Price J et al. (2019) Multi-omics of the gut microbial ecosystem in inflammatory "
    "bowel diseases. Nature 569:655-662. doi:10.1038/s41586-019-1237-9",
)


def references(taxa: list[str] | None = None) -> list[str]:
    """The indices' references and those of the notable taxa (of ``taxa`` only, if given)."""
    table = notable_taxa().table
    if taxa is not None:
        table = table[table["taxon"].isin(taxa)]
    cited = [f"{r} doi:{d}" for r, d in zip(table["reference"], table["doi"], strict=True)]
    return list(dict.fromkeys([*INDEX_REFERENCES, *cited]))


def chosen_model(stage: StageOutputs) -> dict | None:
    """The model whose out-of-fold predictions the patient reports show: the one
    ``biomarkers/model.json`` names, else the best cross-validated AUROC."""
    perf = stage.get("performance")
    if perf is None or perf.empty:
        return None
    info = stage.json.get(MODEL_JSON, {})
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
        "n_positive": int(best["n_positive"]),
        "permutation_p": float(best["permutation_p"]),
        "n_models": len(perf),
        "auroc_corrected": _corrected(chosen, best),
        "outcome": str(info.get("outcome") or chosen.get("outcome") or ""),
        "positive_class": _levels(info.get("positive_class"), "the positive outcome"),
        "negative_class": _levels(info.get("negative_class"), "other"),
    }


def _corrected(chosen: dict, best: pd.Series) -> float | None:
    """The chosen model's AUROC corrected for its selection among the candidates, when
    ``model.json`` gives it for this model (older outputs do not)."""
    value = chosen.get("auroc_selection_corrected")
    same = (chosen.get("feature_set"), chosen.get("model")) == (best["feature_set"], best["model"])
    return float(value) if same and value is not None else None


def _levels(value, default: str) -> str:
    """A class of model.json (a level or a list of levels) as text."""
    if isinstance(value, list):
        return " or ".join(str(v) for v in value) or default
    return str(value) if value else default


def class_sizes(stage: StageOutputs, model: dict) -> tuple[int, int, str]:
    """(positive, negative, unit) of the chosen model's cohort: patients per outcome class
    from its predictions (samples when the predictions lack a patient column), else samples
    from its performance row."""
    predictions = stage.get("predictions")
    if predictions is not None:
        rows = predictions[
            (predictions["feature_set"] == model["feature_set"])
            & (predictions["model"] == model["model"])
            & predictions["outcome"].notna()
        ]
        if len(rows):
            unit = "patients" if "patient_id" in rows.columns else "samples"
            key = rows["patient_id" if unit == "patients" else "sample_id"].astype(str)
            positive = rows["outcome"].astype(str).isin(("1", "1.0", "True"))
            n_pos = key[positive].nunique()
            n_neg = key[~positive].nunique()
            return n_pos, n_neg, unit
    return model["n_positive"], model["n_samples"] - model["n_positive"], "samples"


def model_guard(cohort: Cohort) -> str:
    """Why the responder model is not estimable on this cohort ('' when it is): fewer
    patients (or samples) in an outcome class than ``min_patients_per_class``."""
    model = chosen_model(cohort.integrate)
    if model is None:
        return ""
    n_pos, n_neg, unit = class_sizes(cohort.integrate, model)
    minimum = cohort.settings["min_patients_per_class"]
    if min(n_pos, n_neg) < minimum:
        return (
            f"{n_pos} {unit} with {model['positive_class']} and {n_neg} with "
            f"{model['negative_class']}, fewer than the {minimum} per class needed"
        )
    return ""


def auroc_text(model: dict) -> str:
    """The chosen model's AUROC as every report states it: with its interval, its permutation
    p-value, that it was the best of N models chosen on the same data, and the AUROC corrected
    for that choice when the integrate stage estimated it."""
    text = (
        f"The model's cross-validated AUROC is {model['auroc']:.2f} "
        f"({model['auroc_low']:.2f}-{model['auroc_high']:.2f}; 0.5 = chance, 1 = perfect; "
        f"permutation p = {model['permutation_p']:.2g}) on {model['n_samples']} samples; "
        f"it is the best of {model['n_models']} models, selected on the same data "
    )
    if model.get("auroc_corrected") is None:
        return text + "(optimistic)."
    corrected = f"{model['auroc_corrected']:.2f}"
    return text + f"(optimistic: corrected for that selection, about {corrected})."
