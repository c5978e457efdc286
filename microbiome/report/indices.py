"""Per-sample indices of the reports: GMHI, dysbiosis score, cohort percentiles.

References
----------
Gupta VK, Kim M, Bakshi U, et al. (2020) A predictive index for health status using
species-level gut microbiome profiling. Nat Commun 11:4635. doi:10.1038/s41467-020-18476-8

Lloyd-Price J, Arze C, Ananthakrishnan AN, et al. (2019) Multi-omics of the gut microbial
ecosystem in inflammatory bowel diseases. Nature 569:655-662. doi:10.1038/s41586-019-1237-9
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from scipy.stats import percentileofscore

#: GMHI: species below this relative abundance count as absent (Gupta et al. 2020).
GMHI_PRESENCE = 1e-5
#: GMHI: |M_H'| and |M_N'|, the median numbers of health-prevalent species in the top 1 % of
#: healthy samples and of health-scarce species in the top 1 % of non-healthy samples of the
#: paper's training set, by which the richness of each set is divided.
GMHI_MH_PRIME = 7
GMHI_MN_PRIME = 31
#: Added to both collective abundances so that the ratio is defined when a set is absent.
GMHI_PSEUDO = 1e-5


# --------------------------------------------------------------------------------------------
# Taxon names
# --------------------------------------------------------------------------------------------

_GTDB_SUFFIX = re.compile(r"_[A-Z]{1,3}$")


def normalise_name(name: str) -> str:
    """A taxon name reduced for matching across taxonomies and tools.

    ``s__Clostridium_nexile`` (MetaPhlAn), ``[Clostridium] nexile`` (NCBI) and
    ``Clostridium nexile`` all give ``clostridium nexile``; GTDB's placeholder suffixes are
    dropped (``Ruminococcus_B gnavus`` -> ``ruminococcus gnavus``).
    """
    name = re.sub(r"^[a-z]__", "", name.strip())
    if " " in name:  # a name with spaces: underscores are GTDB suffixes, not separators
        name = " ".join(_GTDB_SUFFIX.sub("", token) for token in name.split())
    name = name.replace("_", " ").replace("[", "").replace("]", "")
    return " ".join(name.lower().split())


@dataclass(frozen=True)
class TaxonList:
    """Taxa of a data file: one row per taxon, with the normalised names that match it."""

    table: pd.DataFrame  # the file's columns, one row per taxon
    keys: tuple[frozenset[str], ...]  # normalised names matching each row

    def match(self, names: Iterable[str]) -> list[list[int]]:
        """For each row, the positions in ``names`` of the taxa it matches."""
        normalised = [normalise_name(n) for n in names]
        return [[i for i, n in enumerate(normalised) if n in key] for key in self.keys]


def _read_data_table(filename: str) -> pd.DataFrame:
    with (
        resources.files("microbiome.report").joinpath("data", filename).open(encoding="utf-8") as f
    ):
        return pd.read_csv(f, sep="\t", comment="#", dtype=str, keep_default_na=False)


def _taxon_list(filename: str, name_column: str) -> TaxonList:
    table = _read_data_table(filename)
    keys = []
    for _, row in table.iterrows():
        names = [row[name_column], *(s for s in row["synonyms"].split(";") if s.strip())]
        if "metaphlan2_name" in row:
            names.append(row["metaphlan2_name"])
        keys.append(frozenset(normalise_name(n) for n in names))
    return TaxonList(table, tuple(keys))


@cache
def gmhi_species() -> TaxonList:
    """The 50 GMHI species (column ``group``: health_prevalent or health_scarce)."""
    return _taxon_list("gmhi_species.tsv", "name")


@cache
def notable_taxa() -> TaxonList:
    """Pathobionts and beneficial taxa, each with a plain-language note and a reference."""
    return _taxon_list("notable_taxa.tsv", "taxon")


# --------------------------------------------------------------------------------------------
# GMHI
# --------------------------------------------------------------------------------------------


def gmhi(abundance: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """Gut Microbiome Health Index of each sample (Gupta et al. 2020).

    Parameters
    ----------
    abundance : DataFrame, samples x species
        Relative abundances or counts of species (any scale: each sample is renormalised to
        sum 1 after dropping taxa named ``unclassified`` or ``virus``, as the authors do).
    names : iterable of str
        The species name of each column of ``abundance`` (matched to the GMHI species by
        :func:`normalise_name`, including later names of renamed species).

    Returns
    -------
    DataFrame indexed like ``abundance``, with columns ``gmhi``; ``mh_present``, ``mn_present``
    (species of each set present at >= 1e-5); ``mh_matched``, ``mn_matched`` (species of each
    set that the table can detect at all, i.e. with a column); ``mh_total`` (7), ``mn_total``
    (43).

    Notes
    -----
    With p the renormalised abundances, species below 1e-5 set to 0, and for each set M
    (health-prevalent MH, health-scarce MN) R_M the number of its species present::

        psi_M = R_M / |M'| * sum_{i in M, p_i > 0} -p_i ln p_i      (|MH'| = 7, |MN'| = 31)
        GMHI  = log10((psi_MH + 1e-5) / (psi_MN + 1e-5))

    GMHI > 0: more like the healthy samples of the paper's 4,347 stool metagenomes; < 0: more
    like the non-healthy ones; 0: balanced, or neither set present.
    """
    names = list(names)
    if len(names) != abundance.shape[1]:
        raise ValueError("one name per column of the abundance table is needed")
    keep = [not re.search(r"unclassified|virus", n, re.IGNORECASE) for n in names]
    values = abundance.loc[:, keep].to_numpy(dtype=np.float64)
    kept_names = [n for n, k in zip(names, keep, strict=True) if k]
    totals = values.sum(axis=1, keepdims=True)
    p = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    p[p < GMHI_PRESENCE] = 0.0
    species = gmhi_species()
    matches = species.match(kept_names)
    groups = species.table["group"].to_numpy()
    out = pd.DataFrame(index=abundance.index)
    psi = {}
    for group, prime, key in (
        ("health_prevalent", GMHI_MH_PRIME, "mh"),
        ("health_scarce", GMHI_MN_PRIME, "mn"),
    ):
        rows = [m for m, g in zip(matches, groups, strict=True) if g == group]
        # One abundance per GMHI species: the sum of the table's taxa that match it.
        x = np.stack([p[:, m].sum(axis=1) for m in rows], axis=1)
        present = x > 0
        entropy = -np.where(present, x * np.log(np.where(present, x, 1.0)), 0.0).sum(axis=1)
        richness = present.sum(axis=1)
        psi[key] = richness / prime * entropy
        out[f"{key}_present"] = richness
        out[f"{key}_matched"] = sum(1 for m in rows if m)
        out[f"{key}_total"] = len(rows)
    out.insert(0, "gmhi", np.log10((psi["mh"] + GMHI_PSEUDO) / (psi["mn"] + GMHI_PSEUDO)))
    return out


# --------------------------------------------------------------------------------------------
# Dysbiosis score
# --------------------------------------------------------------------------------------------


def dysbiosis_scores(
    proportions: pd.DataFrame,
    reference: Iterable[str],
    patients: Mapping[str, str] | pd.Series,
) -> pd.Series:
    """Median Bray-Curtis dissimilarity of each sample to a reference group (Lloyd-Price 2019).

    Parameters
    ----------
    proportions : DataFrame, samples x taxa
        Relative abundances (each row summing to 1, or all zero).
    reference : iterable of str
        Sample IDs of the reference group (e.g. the controls).
    patients : mapping of sample ID -> patient ID
        Reference samples of a sample's own patient are left out of its comparison, as in the
        paper, so that a reference patient's repeated samples do not pull its score down.

    Returns
    -------
    Series of float indexed like ``proportions`` (NaN when no reference sample remains).
    """
    reference = [s for s in proportions.index if s in set(reference)]
    if not reference:
        return pd.Series(np.nan, index=proportions.index, name="dysbiosis_score")
    values = proportions.to_numpy(dtype=np.float64)
    ref_values = proportions.loc[reference].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        distances = cdist(values, ref_values, metric="braycurtis")
    patient_of = pd.Series(patients)
    ref_patients = np.array([patient_of.get(s, s) for s in reference])
    scores = []
    for i, sample in enumerate(proportions.index):
        others = ref_patients != patient_of.get(sample, sample)
        d = distances[i, others]
        d = d[np.isfinite(d)]
        scores.append(float(np.median(d)) if d.size else np.nan)
    return pd.Series(scores, index=proportions.index, name="dysbiosis_score")


def dysbiosis_threshold(scores: pd.Series, reference: Iterable[str], quantile: float) -> float:
    """The score above which a sample counts as dysbiotic: the ``quantile`` (0.9 in
    Lloyd-Price et al. 2019) of the reference group's own scores (NaN without any)."""
    ref = scores.reindex([s for s in reference if s in scores.index]).dropna()
    return float(np.quantile(ref, quantile)) if len(ref) else float("nan")


# --------------------------------------------------------------------------------------------
# Percentiles
# --------------------------------------------------------------------------------------------


def percentile(reference: Iterable[float], value: float) -> float:
    """Percentile (0-100) of ``value`` among ``reference`` (ties count half), NaN when either
    is missing."""
    ref = np.asarray([v for v in reference if pd.notna(v)], dtype=np.float64)
    if not ref.size or pd.isna(value):
        return float("nan")
    return float(percentileofscore(ref, value, kind="mean"))
