"""How much of each sample the classifier knew: ``classification_summary.tsv`` and its MultiQC
content.

One row per sample, from what the classifier saw (after QC and host removal; a pair counts
once): the reads given to it, those classified at any rank and those classified at a species
or below, as classified (before abundance estimation). ``microbiome merge-profiles`` takes the
numbers from the rank tables' ``# key: value`` lines; ``microbiome import-profiles`` from Kraken 2
(or Bracken ``--out-report``) reports, whose ``unclassified`` line gives them. Other profilers'
outputs do not say how many reads went unclassified: their rows are NA.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from microbiome.io.atomic import atomic_path, write_text_atomic
from microbiome.io.multiqc import custom_content

log = logging.getLogger("microbiome")

#: Columns of ``classification_summary.tsv``, in this order.
SUMMARY_COLUMNS = (
    "sample_id",
    "reads_total",
    "reads_classified",
    "classified_percent",
    "reads_species",
    "species_percent",
)


@dataclass(frozen=True)
class ClassificationCounts:
    """What the classifier made of one sample's reads (None: not known).

    Attributes
    ----------
    sample_id : str
    reads_total : int or None
        Fragments given to the classifier (a pair counts once).
    reads_unclassified : int or None
        Fragments left unclassified.
    reads_species : float or None
        Fragments classified at a species or below, as classified.
    """

    sample_id: str
    reads_total: int | None = None
    reads_unclassified: int | None = None
    reads_species: float | None = None

    @property
    def reads_classified(self) -> int | None:
        if self.reads_total is None or self.reads_unclassified is None:
            return None
        return self.reads_total - self.reads_unclassified

    def row(self) -> dict:
        """The row of :data:`SUMMARY_COLUMNS` (percentages NA without reads or counts)."""

        def percent(part: float | None) -> float | None:
            if part is None or not self.reads_total:
                return None
            return 100.0 * part / self.reads_total

        return {
            "sample_id": self.sample_id,
            "reads_total": self.reads_total,
            "reads_classified": self.reads_classified,
            "classified_percent": percent(self.reads_classified),
            "reads_species": self.reads_species,
            "species_percent": percent(self.reads_species),
        }


def _number(metadata: dict[str, str], key: str) -> float | None:
    text = metadata.get(key, "")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def counts_from_metadata(sample_id: str, metadata: dict[str, str]) -> ClassificationCounts:
    """The counts of a rank table's ``# key: value`` lines (``total_reads``,
    ``unclassified_reads``, ``classified_species_reads``); a missing key gives None."""
    total = _number(metadata, "total_reads")
    unclassified = _number(metadata, "unclassified_reads")
    return ClassificationCounts(
        sample_id,
        None if total is None else int(total),
        None if unclassified is None else int(unclassified),
        _number(metadata, "classified_species_reads"),
    )


def summary_table(counts: Sequence[ClassificationCounts]) -> pd.DataFrame:
    """One row per sample, columns :data:`SUMMARY_COLUMNS` (missing values as NA)."""
    table = pd.DataFrame([c.row() for c in counts], columns=list(SUMMARY_COLUMNS))
    for column in ("reads_total", "reads_classified"):
        table[column] = table[column].astype("Int64")
    for column in ("classified_percent", "reads_species", "species_percent"):
        table[column] = table[column].astype("Float64")
    return table


def multiqc_classification(table: pd.DataFrame) -> str:
    """MultiQC custom content for the General Statistics table: % classified, % at species."""
    percent = {"max": 100, "min": 0, "suffix": "%", "scale": "RdYlGn"}
    header = {
        "id": "microbiome_classification",
        "section_name": "microbiome classification",
        "description": "Reads (after QC and host removal) that the profiling database classified.",
        "plot_type": "generalstats",
        "pconfig": {
            "classified_percent": {
                "title": "% classified",
                "description": "Reads classified at any rank by microbiome classify",
                **percent,
            },
            "species_percent": {
                "title": "% species",
                "description": "Reads classified at a species or below (before estimation)",
                **percent,
            },
        },
    }
    body = table.set_index("sample_id")[["classified_percent", "species_percent"]]
    return custom_content(header, body.astype("float64"))


def write_classification_summary(
    path: str | os.PathLike,
    counts: Sequence[ClassificationCounts],
    *,
    multiqc: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Write ``classification_summary.tsv`` (and, with ``multiqc``, its ``*_mqc.tsv``).

    Logs each sample's classified percentage; returns the table.
    """
    table = summary_table(counts)
    with atomic_path(path) as tmp:
        table.to_csv(
            tmp, sep="\t", index=False, na_rep="NA", float_format="%.6g", lineterminator="\n"
        )
    if multiqc is not None:
        write_text_atomic(multiqc, multiqc_classification(table))
    for row in table.itertuples(index=False):
        if pd.isna(row.classified_percent):
            log.info("%s: classified fraction not known", row.sample_id)
        else:
            log.info(
                "%s: %s of %s reads classified (%.2f %%), %.2f %% at species",
                row.sample_id,
                row.reads_classified,
                row.reads_total,
                row.classified_percent,
                row.species_percent if not pd.isna(row.species_percent) else float("nan"),
            )
    return table
