"""Merge per-sample rank tables into cohort tables (wide and long) and a BIOM file.

Inputs are the rank tables of :func:`microbiome.profile.writers.write_rank_table`, one per
sample. Outputs, per canonical rank:

* ``<rank>.counts.tsv``: taxa x samples, reads (estimated where the profiles were estimated),
  and the ``unclassified`` row (taxid 0, first): the reads the classifier left unclassified;
* ``<rank>.relative.tsv``: taxa x samples, relative abundance over **all** the sample's reads:
  the classified-reads abundance times the classified share, and the ``unclassified`` row, the
  unclassified share, so that each column sums to 1;
* ``<rank>.relative_classified.tsv``: taxa x samples, relative abundance renormalised over the
  classified reads (the estimated abundance when the profiles have one, else the share of the
  rank's reads), no unclassified row: each column of a sample with reads at that rank sums to 1;

each row with ``taxid``, ``name`` and the full ``lineage`` (``k__...;p__...;...``; empty for
``unclassified``); plus ``classification_summary.tsv`` and its MultiQC content
``classification_mqc.tsv`` (:mod:`microbiome.profile.summary`), ``profiles.long.tsv``, every
sample, rank and taxon (and the unclassified rows) in one tidy table, and ``profiles.biom``,
the counts at the lowest merged rank as a BIOM 2.1 (HDF5) table whose observation metadata
``taxonomy`` is the lineage as a list (``['k__Bacteria', 'p__Bacillota', ...]``), for QIIME 2
(``qiime tools import --type 'FeatureTable[Frequency]' --input-format BIOMV210Format``) and
phyloseq (``import_biom``).
"""

from __future__ import annotations

import datetime
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from microbiome.errors import ConfigError, InputError
from microbiome.io.atomic import atomic_path
from microbiome.profile.abundance import CANONICAL_RANKS
from microbiome.profile.summary import (
    ClassificationCounts,
    counts_from_metadata,
    write_classification_summary,
)
from microbiome.profile.writers import (
    RANK_TABLE_COLUMNS,
    RANK_TABLE_MAGIC,
    UNCLASSIFIED_NAME,
    UNCLASSIFIED_TAXID,
)
from microbiome.reproducible import source_date

log = logging.getLogger("microbiome")

_TAXON_COLUMNS = ["taxid", "name", "lineage"]
_SUFFIXES = (".gz", ".tsv", ".txt", ".ranks", ".rank_table", ".profile")


@dataclass(frozen=True)
class RankTable:
    """One sample's rank table as read from disk.

    Attributes
    ----------
    path : str
    sample_id : str
        From the ``# sample_id:`` line, else the file name without its suffixes.
    metadata : dict of str to str
        The ``# key: value`` lines.
    table : pandas.DataFrame
        The rows (columns of :data:`~microbiome.profile.writers.RANK_TABLE_COLUMNS`, and
        ``abundance`` for estimated profiles).
    """

    path: str
    sample_id: str
    metadata: dict[str, str]
    table: pd.DataFrame

    @property
    def estimated(self) -> bool:
        return "abundance" in self.table.columns

    @property
    def ranks(self) -> tuple[str, ...]:
        return tuple(self.metadata.get("ranks", ",".join(CANONICAL_RANKS)).split(","))

    @property
    def empty(self) -> bool:
        return self.metadata.get("status") == "empty" or self.taxa.empty

    @property
    def taxa(self) -> pd.DataFrame:
        """The rows of taxa (the ``unclassified`` rows left out)."""
        return self.table[self.table["taxid"] != UNCLASSIFIED_TAXID]

    @property
    def counts(self) -> ClassificationCounts:
        """Reads given to the classifier, unclassified, and classified at species."""
        return counts_from_metadata(self.sample_id, self.metadata)

    def assigned_share(self, rank: str) -> float:
        """Share of all reads behind the relative abundances at ``rank`` (as
        :meth:`~microbiome.profile.abundance.Profile.assigned_share`, from the rows): the reads
        of the rank's taxa, or of the species when estimated, over ``total_reads`` (0 without
        reads or when the table does not say)."""
        total = self.counts.reads_total
        if not total:
            return 0.0
        rows = self.taxa[self.taxa["rank"] == ("species" if self.estimated else rank)]
        return min(float(rows["reads"].sum()) / total, 1.0)

    def unassigned_reads(self, rank: str) -> float:
        """Reads in no taxon of ``rank``: ``total_reads`` minus the rank's reads (>= 0)."""
        total = self.counts.reads_total or 0
        rows = self.taxa[self.taxa["rank"] == rank]
        return max(float(total) - float(rows["reads"].sum()), 0.0)


def _sample_from_name(path: str) -> str:
    name = os.path.basename(path)
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                changed = True
    return name


def read_rank_table(path: str | os.PathLike) -> RankTable:
    """Read a rank table written by :func:`~microbiome.profile.writers.write_rank_table`.

    Raises
    ------
    InputError
        Naming the file (and line) when it is missing, is not a rank table of this package, has
        other columns, or has values that are not numbers or ranks that are not canonical.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("rank table not found", file=path)
    metadata: dict[str, str] = {}
    with open(path, encoding="utf-8-sig") as f:
        first = f.readline().rstrip("\r\n")
        if first != RANK_TABLE_MAGIC:
            raise InputError(
                f"not a rank table of `microbiome` (first line is not {RANK_TABLE_MAGIC!r}; "
                "write one with `microbiome classify`)",
                file=path,
                line=1,
            )
        number = 1
        header = None
        for line in f:
            number += 1
            line = line.rstrip("\r\n")
            if line.startswith("#"):
                key, sep, value = line[1:].partition(":")
                if not sep:
                    raise InputError("metadata line is not '# key: value'", file=path, line=number)
                metadata[key.strip()] = value.strip()
                continue
            header = line
            break
    expected = list(RANK_TABLE_COLUMNS)
    columns = header.split("\t") if header is not None else []
    if columns not in (expected, [*expected, "abundance"]):
        raise InputError(
            f"columns are {columns}, expected {expected} (and optionally 'abundance')",
            file=path,
            line=number,
        )
    try:
        table = pd.read_csv(
            path,
            sep="\t",
            skiprows=number - 1,
            dtype={"rank": str, "name": str, "lineage": str, "taxpath": str},
            keep_default_na=False,
            na_values={"reads": [""], "fraction": [""], "abundance": [""]},
        )
        table = table.astype({"taxid": "int64", "reads": "float64", "fraction": "float64"})
        if "abundance" in table:
            table["abundance"] = table["abundance"].astype("float64")
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"malformed rank table: {exc}", file=path) from None
    numeric = ["reads", "fraction"] + (["abundance"] if "abundance" in table else [])
    if table[numeric].isna().any().any():
        row = int(np.flatnonzero(table[numeric].isna().any(axis=1).to_numpy())[0])
        raise InputError("missing number", file=path, line=number + 1 + row)
    bad = ~table["rank"].isin(CANONICAL_RANKS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"rank {table['rank'].iloc[row]!r} is not one of {', '.join(CANONICAL_RANKS)}",
            file=path,
            line=number + 1 + row,
        )
    sample = metadata.get("sample_id") or _sample_from_name(path)
    return RankTable(path, sample, metadata, table)


def _check_compatible(tables: Sequence[RankTable]) -> None:
    if not tables:
        raise ConfigError("no rank tables to merge")
    seen: dict[str, str] = {}
    for t in tables:
        if t.sample_id in seen:
            raise InputError(
                f"duplicate sample name {t.sample_id!r} (also in {seen[t.sample_id]})", file=t.path
            )
        seen[t.sample_id] = t.path
    first = tables[0]
    for t in tables[1:]:
        if t.ranks != first.ranks:
            raise InputError(
                f"ranks {','.join(t.ranks)} differ from those of {first.path} "
                f"({','.join(first.ranks)})",
                file=t.path,
            )
        if t.estimated != first.estimated:
            raise InputError(
                f"{'an estimated' if t.estimated else 'an unestimated'} profile cannot be merged "
                f"with {'an estimated' if first.estimated else 'an unestimated'} one "
                f"({first.path}): run the abundance estimation on every sample or on none",
                file=t.path,
            )
        a, b = t.metadata.get("abundance"), first.metadata.get("abundance")
        if a != b:
            raise InputError(
                f"abundance type {a!r} differs from {b!r} of {first.path} (read vs cell)",
                file=t.path,
            )
    # A taxid must mean the same taxon everywhere (same taxonomy).
    known: dict[tuple[str, int], tuple[str, str, str]] = {}
    for t in tables:
        for rank, taxid, name, lineage in t.table[["rank", "taxid", "name", "lineage"]].itertuples(
            index=False
        ):
            key = (rank, int(taxid))
            if key not in known:
                known[key] = (name, lineage, t.path)
            elif known[key][:2] != (name, lineage):
                raise InputError(
                    f"taxid {taxid} is {name!r} ({lineage}) here but {known[key][0]!r} "
                    f"({known[key][1]}) in {known[key][2]}: profiles of different taxonomies",
                    file=t.path,
                )


def _check_rank(rank: str, tables: Sequence[RankTable]) -> None:
    if rank not in CANONICAL_RANKS:
        raise ConfigError(f"rank {rank!r} is not one of {', '.join(CANONICAL_RANKS)}")
    for t in tables:
        if rank not in t.ranks:
            raise InputError(f"the rank table has no rank {rank!r}", file=t.path)


def merge_rank(
    tables: Sequence[RankTable], rank: str, *, unclassified: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide tables of one rank over samples: (counts, relative).

    Both have columns ``taxid``, ``name``, ``lineage`` and one column per sample (in the order
    of ``tables``); a taxon absent from a sample has 0. Taxa by decreasing mean relative
    abundance, then taxid. The relative values are the ``abundance`` column of estimated
    profiles, else ``fraction``: shares of the classified reads.

    With ``unclassified`` (the default) the taxa's relative values are multiplied by the share
    of all reads behind them (:meth:`RankTable.assigned_share`), so that they are shares of all
    the sample's reads, and the first row is ``unclassified`` (taxid 0, empty lineage): in
    ``counts`` the reads in no taxon of the rank, in ``relative`` the rest of 1, so that each
    column sums to 1 (a sample without reads: 0). It holds the reads the classifier left
    unclassified, those it classified only above the rank and, after estimation, those given
    to no reported species. Without it, the taxa only, relative over the classified reads
    (renormalised).

    Raises
    ------
    InputError
        For duplicate sample names, profiles that differ in ranks, estimation or taxonomy.
    ConfigError
        For a rank that is not canonical.
    """
    _check_compatible(tables)
    _check_rank(rank, tables)
    value = "abundance" if tables[0].estimated else "fraction"
    samples = [t.sample_id for t in tables]
    taxa: dict[int, tuple[str, str]] = {}
    counts: dict[str, dict[int, float]] = {}
    relative: dict[str, dict[int, float]] = {}
    for t in tables:
        rows = t.taxa[t.taxa["rank"] == rank]
        for taxid, name, lineage in rows[["taxid", "name", "lineage"]].itertuples(index=False):
            taxa.setdefault(int(taxid), (name, lineage))
        counts[t.sample_id] = dict(zip(rows["taxid"].tolist(), rows["reads"].tolist(), strict=True))
        scale = t.assigned_share(rank) if unclassified else 1.0
        values = (rows[value] * scale).tolist()
        relative[t.sample_id] = dict(zip(rows["taxid"].tolist(), values, strict=True))
    ids = list(taxa)
    rel = np.array([[relative[s].get(i, 0.0) for s in samples] for i in ids], dtype=np.float64)
    rel = rel.reshape(len(ids), len(samples))
    cnt = np.array([[counts[s].get(i, 0.0) for s in samples] for i in ids], dtype=np.float64)
    cnt = cnt.reshape(len(ids), len(samples))
    order = sorted(range(len(ids)), key=lambda k: (-rel[k].mean() if len(samples) else 0, ids[k]))
    rel, cnt = rel[order], cnt[order]
    taxids = [ids[k] for k in order]
    names = [taxa[ids[k]][0] for k in order]
    lineages = [taxa[ids[k]][1] for k in order]
    if unclassified:
        with_reads = np.array([bool(t.counts.reads_total) for t in tables])
        share = np.where(with_reads, np.clip(1.0 - rel.sum(axis=0), 0.0, 1.0), 0.0)
        reads = np.array([t.unassigned_reads(rank) for t in tables], dtype=np.float64)
        rel = np.vstack([share.reshape(1, -1), rel])
        cnt = np.vstack([reads.reshape(1, -1), cnt])
        taxids.insert(0, UNCLASSIFIED_TAXID)
        names.insert(0, UNCLASSIFIED_NAME)
        lineages.insert(0, "")
    base = pd.DataFrame(
        {
            "taxid": pd.array(taxids, dtype="int64"),
            "name": pd.array(names, dtype=str),
            "lineage": pd.array(lineages, dtype=str),
        }
    )
    wide_counts = pd.concat([base, pd.DataFrame(cnt, columns=samples)], axis=1)
    wide_relative = pd.concat([base, pd.DataFrame(rel, columns=samples)], axis=1)
    return wide_counts, wide_relative


def merge_long(tables: Sequence[RankTable]) -> pd.DataFrame:
    """Every sample's rows in one tidy table, with a first column ``sample``."""
    _check_compatible(tables)
    parts = [_with_unclassified_rows(t).assign(sample=t.sample_id) for t in tables]
    columns = ["sample", *tables[0].table.columns]
    long = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return long[columns]


def _with_unclassified_rows(t: RankTable) -> pd.DataFrame:
    """The table's rows with an ``unclassified`` row per rank (made from the metadata for
    tables written before these rows existed)."""
    if (t.table["taxid"] == UNCLASSIFIED_TAXID).any() or not t.counts.reads_total:
        return t.table
    value = "abundance" if t.estimated else "fraction"
    shares = []
    for rank in t.ranks:
        held = t.taxa.loc[t.taxa["rank"] == rank, value].sum() * t.assigned_share(rank)
        shares.append(min(max(1.0 - held, 0.0), 1.0))
    rows = pd.DataFrame(
        {
            "rank": list(t.ranks),
            "taxid": UNCLASSIFIED_TAXID,
            "name": UNCLASSIFIED_NAME,
            "lineage": "",
            "taxpath": "",
            "reads": [t.unassigned_reads(rank) for rank in t.ranks],
            "fraction": shares,
            **({"abundance": shares} if t.estimated else {}),
        }
    )
    parts = []
    for rank in t.ranks:
        parts += [t.table[t.table["rank"] == rank], rows[rows["rank"] == rank]]
    return pd.concat(parts, ignore_index=True).astype(t.table.dtypes.to_dict())


def to_biom(tables: Sequence[RankTable], rank: str = "species"):
    """A ``biom.Table`` of the reads at ``rank``: taxa (observations) x samples.

    Observation ids are taxids (as strings); observation metadata ``taxonomy`` is the lineage
    as a list of prefixed names (``['k__Bacteria', ..., 's__Escherichia coli']``), and
    ``name``; sample metadata holds the total, unclassified and undistributed reads and the
    estimation method.
    """
    from biom import Table

    from microbiome import __version__

    counts, _ = merge_rank(tables, rank, unclassified=False)
    samples = [t.sample_id for t in tables]
    data = counts[samples].to_numpy(dtype=np.float64)
    observation_metadata = [
        {"taxonomy": lineage.split(";"), "name": name}
        for name, lineage in zip(counts["name"], counts["lineage"], strict=True)
    ]
    sample_metadata = [
        {
            "total_reads": float(t.metadata.get("total_reads", "nan") or "nan"),
            "unclassified_reads": float(t.metadata.get("unclassified_reads", "nan") or "nan"),
            "undistributed_reads": float(t.metadata.get("undistributed_reads", "nan") or "nan"),
            "method": t.metadata.get("method", ""),
            "abundance": t.metadata.get("abundance", ""),
        }
        for t in tables
    ]
    return Table(
        data,
        [str(t) for t in counts["taxid"].tolist()],
        samples,
        observation_metadata=observation_metadata or None,
        sample_metadata=sample_metadata,
        table_id=f"{rank} reads",
        type="Taxon table",
        generated_by=f"microbiome {__version__}",
    )


def write_biom(path: str | os.PathLike, table, created: datetime.datetime) -> None:
    """Write a ``biom.Table`` as BIOM 2.1 (HDF5), atomically.

    ``created`` is its ``creation-date`` (:func:`microbiome.reproducible.source_date`), so that
    the same table gives the same bytes whenever it is written. It is written in UTC without an
    offset (``2020-09-13T12:26:40``): ``biom validate-table`` refuses one with ``+00:00``.
    """
    import h5py

    from microbiome import __version__

    if created.tzinfo is not None:
        created = created.astimezone(datetime.UTC).replace(tzinfo=None)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            table.to_hdf5(f, f"microbiome {__version__}", compress=True, creation_date=created)


def _write_tsv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.10g", lineterminator="\n")


_SAFE_RANK = re.compile(r"^[a-z]+$")


def merge_profiles(
    paths: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    *,
    ranks: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Merge rank tables of many samples and write the cohort tables into ``outdir``.

    Writes ``<rank>.counts.tsv``, ``<rank>.relative.tsv`` (both with the unclassified row) and
    ``<rank>.relative_classified.tsv`` (renormalised over the classified reads) for each rank of
    ``ranks`` (default: every canonical rank), ``profiles.long.tsv``, ``profiles.biom`` (the
    lowest of ``ranks``), ``classification_summary.tsv`` and ``classification_mqc.tsv``. Every
    problem is found before the first file is written.

    Returns
    -------
    dict of str to pathlib.Path
        Output name (``species.counts``, ``species.relative_classified``, ``long``, ``biom``,
        ``summary``, ``multiqc``) -> path.
    """
    ranks = list(ranks) if ranks else list(CANONICAL_RANKS)
    for rank in ranks:
        if rank not in CANONICAL_RANKS or not _SAFE_RANK.match(rank):
            raise ConfigError(f"rank {rank!r} is not one of {', '.join(CANONICAL_RANKS)}")
    ranks = sorted(set(ranks), key=CANONICAL_RANKS.index)
    tables = [read_rank_table(p) for p in paths]
    for t in tables:
        if t.empty:
            log.warning("sample %s (%s) has no classified reads", t.sample_id, t.path)
    merged = {
        rank: (*merge_rank(tables, rank), merge_rank(tables, rank, unclassified=False)[1])
        for rank in ranks
    }
    long = merge_long(tables)
    biom_table = to_biom(tables, ranks[-1])
    created = source_date(paths)
    outdir = Path(outdir)
    written: dict[str, Path] = {}
    for rank, (counts, relative, renormalised) in merged.items():
        kinds = (("counts", counts), ("relative", relative))
        for kind, table in (*kinds, ("relative_classified", renormalised)):
            path = outdir / f"{rank}.{kind}.tsv"
            _write_tsv(path, table)
            written[f"{rank}.{kind}"] = path
    written["long"] = outdir / "profiles.long.tsv"
    _write_tsv(written["long"], long)
    written["biom"] = outdir / "profiles.biom"
    write_biom(written["biom"], biom_table, created)
    written["summary"] = outdir / "classification_summary.tsv"
    written["multiqc"] = outdir / "classification_mqc.tsv"
    write_classification_summary(
        written["summary"], [t.counts for t in tables], multiqc=written["multiqc"]
    )
    log.info("merged %d profiles into %s", len(tables), outdir)
    return written
