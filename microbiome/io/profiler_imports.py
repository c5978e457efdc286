"""Other profilers' per-sample outputs as one :class:`~microbiome.io.feature_table.FeatureTable`.

So that users can start the analyses after profiling from what they already have:

* ``kraken2``: Kraken 2 (or KrakenUniq-less Kraken 1) ``--report`` files, and Bracken's
  ``--out-report``: the reads of each taxon's clade at the chosen rank, with the lineage rebuilt
  from the report's indentation and rank codes
  (:func:`microbiome.profile.writers.classification_from_kraken_report`);
* ``bracken``: Bracken's abundance table (``name``, ``taxonomy_id``, ``taxonomy_lvl``, ...,
  ``new_est_reads``): the re-estimated reads at its one level;
* ``metaphlan``: MetaPhlAn 2-4 profiles (``clade_name`` ``k__...|p__...``, ``NCBI_tax_id``,
  ``relative_abundance``): the percentages of the clades at the chosen rank;
* ``motus``: mOTUs profiles (``#consensus_taxonomy``, ``NCBI_tax_id``, one value column), at
  species (mOTU) level.

The sample ID of each file is given, or the file name up to its first dot (MetaPhlAn: the
sample line of its header when it names one). Taxa absent from a sample get 0; taxa absent
from every sample are left out.

Kraken 2 reports also say how many reads went unclassified: the imported table then carries
them (:attr:`FeatureTable.unclassified`, written as the ``unclassified`` row of taxid 0), and
:func:`import_profiles_with_counts` gives each sample's
:class:`~microbiome.profile.summary.ClassificationCounts` for ``classification_summary.tsv``.
The other formats do not: their counts are unknown (NA).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from xopen import xopen

from microbiome.errors import ConfigError, InputError
from microbiome.io.atomic import atomic_path
from microbiome.ranks import CANONICAL_RANKS, RANK_PREFIXES

if TYPE_CHECKING:  # pandas (and the modules built on it) only when a profile is read: the
    # command line imports this module for PROFILER_FORMATS, on every command
    import pandas as pd

    from microbiome.io.feature_table import FeatureTable
    from microbiome.profile.summary import ClassificationCounts

PROFILER_FORMATS = ("kraken2", "bracken", "metaphlan", "motus")


def _head(path: str, n: int = 30) -> list[str]:
    lines = []
    try:
        with xopen(path, "rt", encoding="utf-8-sig") as f:
            for line in f:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                if len(lines) >= n:
                    break
    except FileNotFoundError:
        raise InputError("profiler output not found", file=path) from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"cannot read the file: {exc}", file=path) from None
    return lines


def detect_profiler(path: str | os.PathLike) -> str:
    """The format of a profiler output (one of :data:`PROFILER_FORMATS`), from its first lines."""
    path = os.fspath(path)
    lines = _head(path)
    if not lines:
        raise InputError("empty file", file=path)
    first = lines[0]
    if first.startswith("name\ttaxonomy_id\ttaxonomy_lvl"):
        return "bracken"
    if first.startswith("#mpa_") or any(
        line.startswith(("#clade_name", "clade_name")) for line in lines
    ):
        return "metaphlan"
    if any(
        line.startswith(("#consensus_taxonomy", "# git tag version", "# motus")) for line in lines
    ):
        return "motus"
    fields = first.split("\t")
    if len(fields) in (6, 8):
        try:
            float(fields[0]), int(fields[1]), int(fields[2])
            return "kraken2"
        except ValueError:
            pass
    raise InputError(
        "not a profiler output this package reads (Kraken 2 report, Bracken table, MetaPhlAn or"
        " mOTUs profile)",
        file=path,
    )


def _sample_name(path: str) -> str:
    return os.path.basename(path).split(".")[0]


def _kraken2(path: str, rank: str) -> tuple[dict[str, float], pd.DataFrame, ClassificationCounts]:
    import pandas as pd

    from microbiome.profile.abundance import profile_from_classification
    from microbiome.profile.summary import ClassificationCounts
    from microbiome.profile.writers import (
        UNCLASSIFIED_TAXID,
        classification_from_kraken_report,
        rank_table,
    )

    classification, taxonomy = classification_from_kraken_report(path)
    profile = profile_from_classification(classification, taxonomy)
    counts = ClassificationCounts(
        "",
        profile.total_reads,
        profile.unclassified,
        profile.classified_species_reads,
    )
    table = rank_table(profile, taxonomy)
    rows = table[(table["rank"] == rank) & (table["taxid"] != UNCLASSIFIED_TAXID)]
    ids = rows["taxid"].astype(str)
    features = pd.DataFrame(
        {"name": rows["name"].to_numpy(), "lineage": rows["lineage"].to_numpy(), "taxid": ids},
    ).set_index(ids)
    return dict(zip(ids, rows["reads"].astype(float), strict=True)), features, counts


def _bracken(path: str, rank: str) -> tuple[dict[str, float], pd.DataFrame]:
    import pandas as pd

    try:
        table = pd.read_csv(path, sep="\t", dtype={"taxonomy_id": str, "taxonomy_lvl": str})
        values = pd.to_numeric(table["new_est_reads"], errors="raise")
    except (KeyError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"not a Bracken abundance table: {exc}", file=path) from None
    from microbiome.profile.writers import KRAKEN_RANK_CODES

    code_ranks = {code: r for r, code in KRAKEN_RANK_CODES.items() if r != "domain"}
    levels = set(table["taxonomy_lvl"].map(code_ranks).dropna())
    if levels and rank not in levels:
        raise ConfigError(
            f"the Bracken table is at rank {', '.join(sorted(levels))}, not {rank}: choose that"
            " rank, or import Bracken's --out-report (format kraken2) for every rank",
        )
    ids = table["taxonomy_id"].astype(str)
    features = pd.DataFrame(
        {"name": table["name"].to_numpy(), "lineage": "", "taxid": ids}
    ).set_index(ids)
    return dict(zip(ids, values.astype(float), strict=True)), features


def _metaphlan(path: str, rank: str) -> tuple[dict[str, float], pd.DataFrame, str | None]:
    import pandas as pd

    prefix = RANK_PREFIXES[rank]
    sample = None
    values: dict[str, float] = {}
    names, lineages, taxids = [], [], []
    with xopen(path, "rt", encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if line.startswith("#"):
                cells = line[1:].split("\t")
                if len(cells) == 2 and cells[1].startswith("Metaphlan") and cells[0] != "SampleID":
                    sample = cells[0]
                continue
            cells = line.split("\t")
            if cells[0] in ("clade_name", "UNKNOWN", "UNCLASSIFIED") or len(cells) < 2:
                continue
            levels = cells[0].split("|")
            if not levels[-1].startswith(prefix):
                continue
            has_taxid = len(cells) >= 3
            try:
                value = float(cells[2] if has_taxid else cells[1])
            except ValueError:
                raise InputError(
                    "relative abundance is not a number", file=path, line=number
                ) from None
            taxid = cells[1].split("|")[-1] if has_taxid and cells[1] else ""
            feature = taxid or levels[-1]
            if feature in values:
                feature = levels[-1]
            values[feature] = value
            names.append(levels[-1][3:].replace("_", " "))
            lineages.append(";".join(levels))
            taxids.append(taxid)
    features = pd.DataFrame(
        {"name": names, "lineage": lineages, "taxid": taxids}, index=list(values)
    )
    return values, features, sample


def _motus(path: str, rank: str) -> tuple[dict[str, float], pd.DataFrame]:
    import pandas as pd

    if rank != "species":
        raise ConfigError("mOTUs profiles are at species (mOTU) level: use rank species")
    values: dict[str, float] = {}
    names, taxids = [], []
    with xopen(path, "rt", encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            cells = line.rstrip("\r\n").split("\t")
            if len(cells) != 3:
                raise InputError(
                    f"expected 3 columns of an mOTUs profile, found {len(cells)}",
                    file=path,
                    line=number,
                )
            try:
                value = float(cells[2])
            except ValueError:
                raise InputError("abundance is not a number", file=path, line=number) from None
            taxid = "" if cells[1] in ("NA", "") else cells[1]
            feature = cells[0]
            values[feature] = value
            names.append(cells[0])
            taxids.append(taxid)
    features = pd.DataFrame({"name": names, "lineage": "", "taxid": taxids}, index=list(values))
    return values, features


def import_profiles(
    paths: Sequence[str | os.PathLike],
    *,
    format: str = "auto",
    rank: str = "species",
    sample_ids: Sequence[str] | None = None,
) -> FeatureTable:
    """Merge per-sample profiler outputs into one samples x taxa table at ``rank``.

    The table of :func:`import_profiles_with_counts`, without the counts.
    """
    return import_profiles_with_counts(paths, format=format, rank=rank, sample_ids=sample_ids)[0]


def import_profiles_with_counts(
    paths: Sequence[str | os.PathLike],
    *,
    format: str = "auto",
    rank: str = "species",
    sample_ids: Sequence[str] | None = None,
) -> tuple[FeatureTable, list[ClassificationCounts]]:
    """Merge per-sample profiler outputs into one samples x taxa table at ``rank``, and say
    what the classifier made of each sample's reads where the outputs tell (Kraken 2).

    Parameters
    ----------
    paths : sequence of path
        One output per sample.
    format : {'auto', 'kraken2', 'bracken', 'metaphlan', 'motus'}
        ``auto`` detects each file's format (all must be the same).
    rank : str
        A canonical rank.
    sample_ids : sequence of str, optional
        One per path (default: from the file names, or MetaPhlAn's header).

    Returns
    -------
    FeatureTable
        Values: reads (kraken2, bracken, motus) or percentages (metaphlan, ``relative``);
        ``unclassified`` holds the unclassified reads of Kraken 2 reports (else None).
    list of ClassificationCounts
        One per sample, in the order of ``paths``; unknown counts are None.

    Raises
    ------
    InputError
        An unreadable or unknown file, mixed formats, a sample ID given twice.
    ConfigError
        An unknown format or rank, or a rank the format does not have.
    """
    import pandas as pd

    from microbiome.io.feature_table import FeatureTable
    from microbiome.profile.summary import ClassificationCounts

    if format != "auto" and format not in PROFILER_FORMATS:
        raise ConfigError(
            f"profiler format {format!r} is not one of auto, {', '.join(PROFILER_FORMATS)}"
        )
    if rank not in CANONICAL_RANKS:
        raise ConfigError(f"rank {rank!r} is not one of {', '.join(CANONICAL_RANKS)}")
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ConfigError("no profiler output given")
    if sample_ids is not None and len(sample_ids) != len(paths):
        raise ConfigError(f"{len(sample_ids)} sample IDs for {len(paths)} files")
    formats = {p: (detect_profiler(p) if format == "auto" else format) for p in paths}
    if len(set(formats.values())) > 1:
        raise InputError(
            "the files are of different formats: "
            + ", ".join(f"{os.path.basename(p)} ({f})" for p, f in formats.items())
        )
    kind = formats[paths[0]]
    columns: dict[str, dict[str, float]] = {}
    features: list[pd.DataFrame] = []
    origin: dict[str, str] = {}
    known: list[ClassificationCounts] = []
    for i, path in enumerate(paths):
        sample = sample_ids[i] if sample_ids is not None else None
        counts = None
        if kind == "metaphlan":
            values, feats, header_sample = _metaphlan(path, rank)
            sample = sample or header_sample
        elif kind == "kraken2":
            values, feats, counts = _kraken2(path, rank)
        else:
            values, feats = {"bracken": _bracken, "motus": _motus}[kind](path, rank)
        sample = sample or _sample_name(path)
        known.append(replace(counts, sample_id=sample) if counts else ClassificationCounts(sample))
        if sample in origin:
            raise InputError(f"sample {sample!r} is also the sample of {origin[sample]}", file=path)
        origin[sample] = path
        columns[sample] = values
        features.append(feats)
    annotation = pd.concat(features)
    annotation = annotation[~annotation.index.duplicated()].rename_axis("feature_id")
    data = pd.DataFrame(columns, index=annotation.index, dtype="float64").fillna(0.0).T
    data.index.name = "sample_id"
    present = (data > 0).any(axis=0)  # e.g. mOTUs lists every mOTU of its database
    data, annotation = data.loc[:, present], annotation[present.to_numpy()]
    unclassified = None
    if kind == "kraken2":
        unclassified = pd.Series(
            [float(c.reads_unclassified or 0) for c in known],
            index=data.index,
            name="unclassified",
        )
    table = FeatureTable(
        data=data,
        features=annotation[["name", "lineage", "taxid"]].astype(str),
        path=paths[0],
        format=kind,
        relative=kind == "metaphlan",
        unclassified=unclassified,
    )
    return table, known


def write_feature_table(path: str | os.PathLike, table: FeatureTable) -> None:
    """Write ``table`` as our merged table (``taxid``, ``name``, ``lineage``, one column per
    sample), which :func:`microbiome.io.feature_table.read_feature_table` reads back. Features
    without a taxid are identified by their ID in the ``taxid`` column. A table with
    ``unclassified`` values gets the ``unclassified`` row (taxid 0, empty lineage) first."""
    import pandas as pd

    out = pd.DataFrame(
        {
            "taxid": table.features.index.astype(str),
            "name": table.features["name"].to_numpy(),
            "lineage": table.features["lineage"].to_numpy(),
        }
    )
    values = table.data.T.reindex(table.features.index)
    out = pd.concat([out, values.reset_index(drop=True)], axis=1)
    if table.unclassified is not None:
        row = pd.DataFrame(
            [["0", "unclassified", "", *table.unclassified.reindex(table.data.index).tolist()]],
            columns=out.columns,
        )
        out = pd.concat([row, out], ignore_index=True)
    with atomic_path(path) as tmp:
        out.to_csv(tmp, sep="\t", index=False, float_format="%.10g", lineterminator="\n")
