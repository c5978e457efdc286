"""Joining taxa, metabolites and clinical metadata on sample IDs, with a join report.

Every sample ID seen in any input gets one row of the join report saying which data it has and
what happens to it; nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microbiome.errors import InputError
from microbiome.status import EXCLUDED_NOTE, left_out

log = logging.getLogger("microbiome")

JOIN_REPORT_COLUMNS = [
    "sample_id",
    "patient_id",
    "has_taxa",
    "has_metabolites",
    "has_metadata",
    "note",
]


@dataclass(frozen=True)
class Linked:
    """The inputs restricted to the samples with clinical metadata.

    Attributes
    ----------
    metadata : pandas.DataFrame
        Index ``sample_id``; a ``patient_id`` column (the sample ID where the sheet has none)
        and the typed clinical columns.
    types : dict of str to str
        Clinical column -> categorical, continuous, binary or date.
    taxa : pandas.DataFrame or None
        Samples with metadata and a non-empty taxa profile x taxa (raw values).
    taxa_features : pandas.DataFrame or None
        name, lineage, taxid of each taxon.
    taxa_relative : bool
    metabolites : pandas.DataFrame or None
        Samples with metadata x metabolites (raw values, NaN missing).
    metabolite_annotation : pandas.DataFrame or None
    join_report : pandas.DataFrame
        Columns :data:`JOIN_REPORT_COLUMNS`, one row per sample ID of any input.
    """

    metadata: pd.DataFrame
    types: dict[str, str]
    taxa: pd.DataFrame | None
    taxa_features: pd.DataFrame | None
    taxa_relative: bool
    metabolites: pd.DataFrame | None
    metabolite_annotation: pd.DataFrame | None
    join_report: pd.DataFrame


def link(
    metadata: pd.DataFrame,
    types: dict[str, str],
    *,
    taxa=None,
    metabolites=None,
    exclude: Mapping[str, str] | None = None,
    metadata_path: str | None = None,
) -> Linked:
    """Join a FeatureTable ``taxa`` and a MetaboliteTable ``metabolites`` (either may be None)
    to the clinical ``metadata`` (index sample_id).

    Samples of ``exclude`` (sample ID -> reason, from the sample status table) are left out of
    everything: their join report row says so, with the reason. ``metadata_path`` names the
    clinical sheet in errors.

    Raises
    ------
    InputError
        When no sample of the taxa or metabolite table has clinical metadata (mismatched IDs,
        e.g. a transposed table), naming a few IDs of each side.
    """
    metadata = metadata.copy()
    if "patient_id" not in metadata.columns:
        metadata["patient_id"] = metadata.index.astype(str)
    metadata["patient_id"] = (
        metadata["patient_id"]
        .astype("string")
        .fillna(pd.Series(metadata.index, index=metadata.index))
    )
    meta_ids = pd.Index(metadata.index.astype(str))
    taxa_ids = pd.Index(taxa.data.index.astype(str)) if taxa is not None else pd.Index([])
    mtb_ids = (
        pd.Index(metabolites.data.index.astype(str)) if metabolites is not None else pd.Index([])
    )
    for ids, table in ((taxa_ids, taxa), (mtb_ids, metabolites)):
        if table is not None and len(ids) and not ids.isin(meta_ids).any():
            raise InputError(
                "no sample of the table is in the clinical sheet (table: "
                f"{', '.join(ids[:3])}; clinical sheet: {', '.join(meta_ids[:3])}): are the "
                "sample IDs the same, and is the table's orientation right?",
                file=table.path,
            )
    exclude = dict(exclude or {})
    empty_taxa: set[str] = set()
    if taxa is not None:
        totals = taxa.data.sum(axis=1)
        empty_taxa = set(totals.index[totals <= 0].astype(str))
    rows = []
    for sample in sorted(set(meta_ids) | set(taxa_ids) | set(mtb_ids)):
        has_meta = sample in meta_ids
        has_taxa = sample in taxa_ids
        has_mtb = sample in mtb_ids
        notes = []
        if sample in exclude:
            notes.append(f"{EXCLUDED_NOTE}: {exclude[sample]}")
        if not has_meta:
            notes.append("not in the clinical sheet: excluded from every analysis")
        if taxa is not None and not has_taxa:
            notes.append("not in the taxa table")
        if sample in empty_taxa:
            notes.append("no reads in the taxa table: excluded from taxa analyses")
        if metabolites is not None and not has_mtb:
            notes.append("not in the metabolite table")
        patient = metadata.loc[sample, "patient_id"] if has_meta else pd.NA
        rows.append((sample, patient, has_taxa, has_mtb, has_meta, "; ".join(notes)))
    report = pd.DataFrame(rows, columns=JOIN_REPORT_COLUMNS)
    unmatched = report[report["note"] != ""]
    if len(unmatched):
        log.warning(
            "%d of %d sample IDs are not in every input (see join_report.tsv)",
            len(unmatched),
            len(report),
        )
    if left_out(meta_ids, exclude, file=metadata_path):
        metadata = metadata.drop(index=[s for s in metadata.index if str(s) in exclude])
        meta_ids = pd.Index(metadata.index.astype(str))
    linked_taxa = features = None
    if taxa is not None:
        keep = [s for s in taxa.data.index if s in meta_ids and s not in empty_taxa]
        linked_taxa = taxa.data.loc[keep].astype(np.float64)
        features = taxa.features
    linked_mtb = annotation = None
    if metabolites is not None:
        keep = [s for s in metabolites.data.index if s in meta_ids]
        linked_mtb = metabolites.data.loc[keep]
        annotation = metabolites.annotation
    return Linked(
        metadata=metadata,
        types=dict(types),
        taxa=linked_taxa,
        taxa_features=features,
        taxa_relative=bool(taxa.relative) if taxa is not None else False,
        metabolites=linked_mtb,
        metabolite_annotation=annotation,
        join_report=report,
    )
