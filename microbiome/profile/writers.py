"""Writers (and readers) of per-sample profiles: Kraken 2 report, CAMI profile, rank table.

* :func:`write_kraken_report`: Kraken 2's ``--report`` format, line for line as Kraken 2 writes
  it, so KrakenTools, Bracken, Pavian, Krona (``ktImportTaxonomy -m 3 -t 5``) and MultiQC read it.
* :func:`write_cami`: the CAMI taxonomic profiling format 0.9.1, as OPAL reads it.
  (tests/profile/test_interop.py: Pavian's and KrakenTools' parsers, OPAL and ``biom``.)
* :func:`write_rank_table`: this package's tidy TSV, one row per taxon and canonical rank, with
  the full lineage; ``microbiome merge-profiles`` merges these over samples.

Every writer writes atomically, and an empty sample (no read, or no classified read) gives a
valid file that says so, never an error.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from microbiome.errors import InputError
from microbiome.io.atomic import atomic_path
from microbiome.io.tables import text_lines
from microbiome.profile.abundance import (
    CANONICAL_RANKS,
    RANK_ALIASES,
    Profile,
    direct_counts_array,
    profile_from_classification,
)
from microbiome.ranks import RANK_PREFIXES

if TYPE_CHECKING:
    import pandas as pd

    from microbiome.profile.classify import Classification
    from microbiome.taxonomy import Taxonomy

log = logging.getLogger("microbiome")

#: Kraken 2's one-letter rank codes (src/reports.cc); other ranks get the code of the nearest
#: coded ancestor and a number: its distance below it (``S1`` a strain, ``G1`` a subgenus).
KRAKEN_RANK_CODES = {
    "superkingdom": "D",
    "domain": "D",
    "kingdom": "K",
    "phylum": "P",
    "class": "C",
    "order": "O",
    "family": "F",
    "genus": "G",
    "species": "S",
}

CAMI_VERSION = "0.9.1"

#: First line of a rank table, and its columns.
RANK_TABLE_MAGIC = "# microbiome rank table 1"
RANK_TABLE_COLUMNS = ("rank", "taxid", "name", "lineage", "taxpath", "reads", "fraction")

#: The explicit unclassified entry of rank tables and merged tables (Kraken's taxid and name).
UNCLASSIFIED_TAXID = 0
UNCLASSIFIED_NAME = "unclassified"


# --- Kraken 2 report ---------------------------------------------------------------------------


def write_kraken_report(
    path: str | os.PathLike, classification: Classification, taxonomy: Taxonomy
) -> None:
    """Write a classification as a Kraken 2 report (``kraken2 --report``).

    Six tab-separated columns per line:

    1. percentage of all reads in the clade, ``%6.2f`` (as Kraken 2's ``printf``);
    2. reads in the clade (classified at the taxon or below);
    3. reads classified directly at the taxon;
    4. rank code: ``U`` unclassified, ``R`` root, ``D`` superkingdom/domain, ``K``, ``P``,
       ``C``, ``O``, ``F``, ``G``, ``S``; a taxon of another rank gets its nearest coded
       ancestor's code and its distance below it (``R1`` cellular organisms, ``S1`` a strain);
    5. taxid (0 for unclassified);
    6. scientific name, indented by two spaces per depth below the root.

    The ``unclassified`` line comes first (Kraken 2 omits it when no read is unclassified; it is
    always written here, as with ``--report-zero-counts``), then the tree depth-first from the
    root, children by decreasing clade reads (ties by taxid), taxa without reads left out. The
    root line is written even when no read is classified (Kraken 2 then writes the unclassified
    line alone): Pavian refuses a report whose second line is not the root, and KrakenTools'
    ``combine_kreports.py`` fails when the first report has none. A sample without reads gives
    ``  0.00	0	0	U	0	unclassified`` and ``  0.00	0	0	R	1	root``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file.
    classification : Classification
        Direct read counts per taxid (key 0 unclassified), total and unclassified reads.
    taxonomy : Taxonomy

    Raises
    ------
    InputError
        For reads assigned to a taxid that is not in the taxonomy, or counts that do not add up.
    """
    direct = direct_counts_array(classification, taxonomy)
    total = int(classification.total_reads)
    unclassified = int(classification.unclassified)
    clade: dict[int, float] = {}
    children: dict[int, set[int]] = {}
    parents = taxonomy.parents
    for i in np.flatnonzero(direct).tolist():
        reads = direct[i]
        node = i
        while True:
            clade[node] = clade.get(node, 0.0) + reads
            if node == 0:
                break
            parent = int(parents[node])
            children.setdefault(parent, set()).add(node)
            node = parent

    def percent(reads: float) -> str:
        return f"{100.0 * reads / total if total else 0.0:6.2f}"

    lines = [f"{percent(unclassified)}\t{unclassified}\t{unclassified}\tU\t0\tunclassified"]
    clade.setdefault(0, 0.0)  # the root line even without classified reads
    # Iterative depth-first walk: (node, depth, inherited rank code, inherited rank depth).
    stack: list[tuple[int, int, str, int]] = [(0, 0, "R", -1)]
    while stack:
        node, depth, code, code_depth = stack.pop()
        own = KRAKEN_RANK_CODES.get(taxonomy.ranks[node])
        if own is not None:
            code, code_depth = own, 0
        else:
            code_depth += 1
        rank_code = code if code_depth == 0 else f"{code}{code_depth}"
        lines.append(
            f"{percent(clade[node])}\t{int(clade[node])}\t{int(direct[node])}\t{rank_code}\t"
            f"{int(taxonomy.taxids[node])}\t{'  ' * depth}{taxonomy.names[node]}"
        )
        kids = sorted(children.get(node, ()), key=lambda c: (-clade[c], int(taxonomy.taxids[c])))
        for kid in reversed(kids):
            stack.append((kid, depth + 1, code, code_depth))
    if total == 0:
        log.warning("%s: the sample has no reads; the report says so", os.fspath(path))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_kraken_report(path: str | os.PathLike) -> pd.DataFrame:
    """Read a Kraken 2 (or Kraken 1, KrakenUniq-less) report.

    Accepts the 6-column report and the 8-column one of ``--report-minimizer-data``; gzip is
    read transparently.

    Returns
    -------
    pandas.DataFrame
        Columns ``percent`` (float), ``clade_reads``, ``direct_reads`` (int64), ``rank_code``
        (str), ``taxid`` (int64), ``name`` (str, indentation removed), ``depth`` (int64, the
        indentation divided by 2), one row per line in file order.

    Raises
    ------
    InputError
        Naming the file and line of a line that is not a report line.
    """
    import pandas as pd

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("Kraken report not found", file=path)
    rows = []
    for number, line in text_lines(path):
        fields = line.split("\t")
        if len(fields) not in (6, 8):
            raise InputError(
                f"expected 6 (or 8) tab-separated columns of a Kraken report, found {len(fields)}",
                file=path,
                line=number,
            )
        rank_code, taxid, raw_name = fields[-3], fields[-2], fields[-1]
        try:
            values = (float(fields[0]), int(fields[1]), int(fields[2]), int(taxid))
        except ValueError:
            raise InputError(
                "percentage, read counts and taxid must be numbers", file=path, line=number
            ) from None
        name = raw_name.lstrip(" ")
        indent = len(raw_name) - len(name)
        rows.append((*values[:3], rank_code, values[3], name, indent // 2))
    return pd.DataFrame(
        rows,
        columns=["percent", "clade_reads", "direct_reads", "rank_code", "taxid", "name", "depth"],
    ).astype(
        {
            "percent": "float64",
            "clade_reads": "int64",
            "direct_reads": "int64",
            "taxid": "int64",
            "depth": "int64",
        }
    )


#: Ranks of Kraken's one-letter codes (the inverse of KRAKEN_RANK_CODES; D is a superkingdom).
_KRAKEN_CODE_RANKS = {
    "R": "no rank",
    "D": "superkingdom",
    "K": "kingdom",
    "P": "phylum",
    "C": "class",
    "O": "order",
    "F": "family",
    "G": "genus",
    "S": "species",
}


def classification_from_kraken_report(
    path: str | os.PathLike,
) -> tuple[Classification, Taxonomy]:
    """A Kraken 2 report as a classification and the taxonomy it spans.

    The report is enough on its own: each line gives a taxon's direct reads, and its
    indentation (two spaces per level) and rank code give the tree of every taxon with reads,
    with the ancestors of each. So a sample classified by Kraken 2 (or Bracken's
    ``--out-report``) flows into the same rank tables, CAMI profiles and merged tables as one
    classified by ``microbiome classify``, without the Kraken 2 database's taxonomy.

    Rank codes become ranks (``D`` superkingdom, ``K``, ``P``, ``C``, ``O``, ``F``, ``G``,
    ``S``); numbered codes (``S1``, ``G1``, ``R1``) and ``R`` become ``no rank``. Taxa at depth 0
    other than the root (reports without a root line) hang below a root of taxid 1.

    Parameters
    ----------
    path : str or os.PathLike
        A Kraken 2 report (6 or 8 columns; gzip read transparently).

    Returns
    -------
    classification : Classification
        ``direct_counts`` from column 3 (key 0: the ``unclassified`` line), ``total_reads``
        their sum.
    taxonomy : Taxonomy
        The taxa of the report.

    Raises
    ------
    InputError
        Naming the file for a malformed line, a taxid given twice, an indentation that skips a
        level, or clade counts that do not add up (a truncated or edited report).
    """
    from microbiome.profile.classify import Classification
    from microbiome.taxonomy import ROOT_TAXID, Taxonomy

    path = os.fspath(path)
    report = read_kraken_report(path)
    unclassified = int(report.loc[report["taxid"] == 0, "direct_reads"].sum())
    rows = report[report["taxid"] != 0]
    parent_of: dict[int, int] = {ROOT_TAXID: ROOT_TAXID}
    ranks: dict[int, str] = {ROOT_TAXID: "no rank"}
    names: dict[int, str] = {ROOT_TAXID: "root"}
    direct: dict[int, int] = {}
    clade: dict[int, int] = {}
    stack: list[int] = []  # taxid at each depth of the current path
    for taxid, depth, code, name, reads, in_clade in zip(
        rows["taxid"].tolist(),
        rows["depth"].tolist(),
        rows["rank_code"].tolist(),
        rows["name"].tolist(),
        rows["direct_reads"].tolist(),
        rows["clade_reads"].tolist(),
        strict=True,
    ):
        if taxid in direct:
            raise InputError(f"taxid {taxid} ({name}) appears twice in the report", file=path)
        if depth > len(stack):
            raise InputError(
                f"taxid {taxid} ({name}) is indented {depth} levels below the root, but its "
                f"parent is missing (the line above is {len(stack) - 1} levels deep)",
                file=path,
            )
        del stack[depth:]
        if taxid != ROOT_TAXID:
            parent_of[taxid] = stack[-1] if stack else ROOT_TAXID
            ranks[taxid] = _KRAKEN_CODE_RANKS.get(code, "no rank")
            names[taxid] = name
        stack.append(taxid)
        direct[taxid] = int(reads)
        clade[taxid] = int(in_clade)
    # Each clade count is the taxon's direct reads plus its children's clade reads.
    sums = dict(direct)
    for taxid in reversed(list(direct)):
        parent = parent_of[taxid]
        if taxid != ROOT_TAXID and parent in sums:
            sums[parent] += sums[taxid]
    for taxid, expected in clade.items():
        if sums[taxid] != expected:
            raise InputError(
                f"taxid {taxid} ({names[taxid]}) has {expected} reads in its clade but its own "
                f"and its children's add up to {sums[taxid]} (truncated or edited report?)",
                file=path,
            )
    taxonomy = Taxonomy.from_edges(parent_of, ranks, names, source=path)
    counts = {0: unclassified, **{t: r for t, r in direct.items() if r}}
    classification = Classification(
        direct_counts=counts,
        total_reads=unclassified + sum(direct.values()),
        unclassified=unclassified,
        database=path,
    )
    return classification, taxonomy


# --- lineages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lineage:
    """The canonical-rank lineage of a taxon, root side first, down to the taxon's rank.

    ``taxids[i]`` and ``names[i]`` are those of the ancestor at ``ranks[i]``, or None and ''
    where the lineage has no taxon of that rank.
    """

    ranks: tuple[str, ...]
    taxids: tuple[int | None, ...]
    names: tuple[str, ...]

    def prefixed(self) -> list[str]:
        """``['k__Bacteria', 'p__Pseudomonadota', ..., 's__Escherichia coli']``."""
        return [RANK_PREFIXES[r] + n for r, n in zip(self.ranks, self.names, strict=True)]

    def text(self) -> str:
        """The prefixed names joined by ``;``."""
        return ";".join(self.prefixed())

    def taxpath(self) -> str:
        """Taxids joined by ``|``, empty where a rank is missing (CAMI's TAXPATH)."""
        return "|".join("" if t is None else str(t) for t in self.taxids)

    def taxpathsn(self) -> str:
        """Names joined by ``|`` (CAMI's TAXPATHSN)."""
        return "|".join(self.names)


def canonical_lineage(taxonomy: Taxonomy, taxid: int, rank: str) -> Lineage:
    """Lineage of ``taxid`` at the canonical ranks down to ``rank`` (``taxid``'s own rank)."""
    found: dict[str, int] = {}
    for t in taxonomy.lineage(taxid):
        r = RANK_ALIASES.get(taxonomy.rank(t), taxonomy.rank(t))
        if r in RANK_PREFIXES:
            found.setdefault(r, t)
    found[rank] = int(taxid)
    ranks = CANONICAL_RANKS[: CANONICAL_RANKS.index(rank) + 1]
    taxids = tuple(found.get(r) for r in ranks)
    names = tuple("" if t is None else taxonomy.name(t) for t in taxids)
    return Lineage(ranks, taxids, names)


def _as_profile(profile: Profile | Classification, taxonomy: Taxonomy) -> Profile:
    """A Profile as it is; a Classification as :func:`profile_from_classification` makes it."""
    if isinstance(profile, Profile):
        return profile
    return profile_from_classification(profile, taxonomy)


def _sorted_taxa(values: dict[int, float], keys: dict[int, float]) -> list[int]:
    return sorted(values, key=lambda t: (-keys.get(t, 0.0), t))


# --- CAMI ---------------------------------------------------------------------------------------


def write_cami(
    path: str | os.PathLike,
    profile: Profile | Classification,
    taxonomy: Taxonomy,
    sample_id: str,
    *,
    taxonomy_id: str = "NCBI",
    program: str | None = None,
) -> None:
    """Write a profile in the CAMI taxonomic profiling format (version 0.9.1), for OPAL.

    Header lines ``@SampleID``, ``@Version:0.9.1``, ``@Ranks:superkingdom|...|species``,
    ``@TaxonomyID``, ``@__program__``, then the column line
    ``@@TAXID	RANK	TAXPATH	TAXPATHSN	PERCENTAGE`` and one row per taxon and canonical rank.
    TAXPATH and TAXPATHSN are the taxids and names of the taxon's canonical-rank lineage joined
    by ``|``, empty where a rank is missing. PERCENTAGE is the relative abundance at the row's
    rank in percent (:meth:`Profile.relative`: the estimated abundance if there is one, else the
    share of the rank's reads) times :meth:`Profile.assigned_share`: percentages of all the
    sample's reads. The format has no unassigned row: what a rank lacks to 100 is unassigned
    (reads left unclassified, classified only above the rank, or given to no species), and a
    ``#`` line states the percentage the classifier left unclassified (OPAL skips ``#`` lines;
    ``opal.py --normalize`` rescales every rank to 100). A profile without classified reads has
    the header and no rows (which OPAL cannot score); a ``#`` line says the sample is empty.

    Parameters
    ----------
    path : str or os.PathLike
    profile : Profile or Classification
        A classification is profiled as it is (:func:`profile_from_classification`).
    taxonomy : Taxonomy
    sample_id : str
    taxonomy_id : str, default "NCBI"
        What goes into ``@TaxonomyID`` (e.g. ``ncbi-taxonomy_2024-09-07`` or ``GTDB r220``).
    program : str, optional
        ``@__program__``; default ``microbiome <version>``.
    """
    from microbiome import __version__

    profile = _as_profile(profile, taxonomy)
    lines = ["# Taxonomic Profiling Output"]
    if profile.is_empty:
        lines.append(f"# sample {sample_id} has no classified reads: empty profile")
    if profile.total_reads > 0:
        lines.append(
            f"# unclassified: {100 * profile.unclassified_fraction:.10g} % of "
            f"{profile.total_reads} reads; percentages are of all reads (unassigned: the rest)"
        )
    lines += [
        f"@SampleID:{sample_id}",
        f"@Version:{CAMI_VERSION}",
        "@Ranks:" + "|".join(CANONICAL_RANKS),
        f"@TaxonomyID:{taxonomy_id}",
        f"@__program__:{program or f'microbiome {__version__}'}",
        "@@TAXID\tRANK\tTAXPATH\tTAXPATHSN\tPERCENTAGE",
    ]
    for rank in CANONICAL_RANKS:
        relative = profile.relative(rank)
        scale = profile.assigned_share(rank)
        for taxid in _sorted_taxa(relative, relative):
            value = 100.0 * relative[taxid] * scale
            if value <= 0:
                continue
            lineage = canonical_lineage(taxonomy, taxid, rank)
            lines.append(
                f"{taxid}\t{rank}\t{lineage.taxpath()}\t{lineage.taxpathsn()}\t{value:.10g}"
            )
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_cami(path: str | os.PathLike) -> tuple[dict[str, str], pd.DataFrame]:
    """Read a one-sample CAMI profile: (header, rows).

    Returns
    -------
    header : dict of str to str
        ``@Key:value`` lines, keys upper-cased (``SAMPLEID``, ``VERSION``, ``RANKS``, ...).
    rows : pandas.DataFrame
        The columns named by the ``@@`` line (TAXID, RANK, TAXPATH, TAXPATHSN, PERCENTAGE as
        str, PERCENTAGE as float).

    Raises
    ------
    InputError
        For a missing ``@@`` line, a row before it, a row with the wrong number of columns, or
        a header without SampleID, Version and Ranks.
    """
    import pandas as pd

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("CAMI profile not found", file=path)
    header: dict[str, str] = {}
    columns: list[str] | None = None
    rows: list[list[str]] = []
    for number, line in text_lines(path):
        if line.startswith("@@"):
            columns = line[2:].split("\t")
            continue
        if line.startswith("@"):
            key, sep, value = line[1:].partition(":")
            if not sep:
                raise InputError("header line without ':'", file=path, line=number)
            header[key.upper()] = value.strip()
            continue
        if columns is None:
            raise InputError("data row before the @@ column line", file=path, line=number)
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise InputError(
                f"expected {len(columns)} columns, found {len(fields)}",
                file=path,
                line=number,
            )
        rows.append(fields)
    missing = [k for k in ("SAMPLEID", "VERSION", "RANKS") if k not in header]
    if columns is None or missing:
        what = "the @@ column line" if columns is None else ", ".join(missing)
        raise InputError(f"not a CAMI profile: no {what}", file=path)
    table = pd.DataFrame(rows, columns=columns, dtype=str)
    if "PERCENTAGE" in table:
        table["PERCENTAGE"] = table["PERCENTAGE"].astype("float64")
    return header, table


# --- rank table ---------------------------------------------------------------------------------


def rank_table(profile: Profile, taxonomy: Taxonomy) -> pd.DataFrame:
    """The tidy table of :func:`write_rank_table` as a DataFrame (no metadata lines).

    Columns ``rank``, ``taxid``, ``name``, ``lineage`` (``k__...;p__...;...``), ``taxpath``
    (taxids joined by ``|``), ``reads``, ``fraction`` (reads over the rank's reads), and
    ``abundance`` when the profile was estimated. Rows by rank (superkingdom first), then by
    decreasing reads, then taxid; each rank of a sample with reads ends with the
    ``unclassified`` row (taxid 0, empty lineage): the reads in no taxon of the rank (left
    unclassified, or classified only above it), and as ``fraction`` and ``abundance``
    ``u = 1 - Profile.assigned_share(rank)``. The taxa's values are over the rank's classified
    reads; times ``1 - u`` they are shares of all reads.
    """
    import pandas as pd

    columns = list(RANK_TABLE_COLUMNS) + (["abundance"] if profile.estimated else [])
    table = pd.DataFrame.from_records(_rank_records(profile, taxonomy), columns=columns)
    return table.astype({"taxid": "int64", "reads": "float64", "fraction": "float64"})


def _rank_records(profile: Profile, taxonomy: Taxonomy) -> list[dict]:
    records = []
    for rank in CANONICAL_RANKS:
        reads = profile.rank_reads.get(rank, {})
        fractions = profile.fractions(rank)
        abundance = profile.abundance.get(rank, {}) if profile.abundance is not None else None
        taxa = set(reads) | (set(abundance) if abundance else set())
        for taxid in sorted(taxa, key=lambda t: (-reads.get(t, 0.0), t)):
            lineage = canonical_lineage(taxonomy, taxid, rank)
            record = {
                "rank": rank,
                "taxid": taxid,
                "name": taxonomy.name(taxid),
                "lineage": lineage.text(),
                "taxpath": lineage.taxpath(),
                "reads": reads.get(taxid, 0.0),
                "fraction": fractions.get(taxid, 0.0),
            }
            if abundance is not None:
                record["abundance"] = abundance.get(taxid, 0.0)
            records.append(record)
        if profile.total_reads > 0:
            records.append(_unclassified_record(profile, rank))
    return records


def _unclassified_record(profile: Profile, rank: str) -> dict:
    """The ``unclassified`` row of a rank: taxid 0, the reads in no taxon of the rank, and as
    fraction (and abundance) the share of all reads that the rank's abundances do not hold."""
    share = profile.unassigned_share(rank)
    reads = max(profile.total_reads - sum(profile.rank_reads.get(rank, {}).values()), 0.0)
    record = {
        "rank": rank,
        "taxid": UNCLASSIFIED_TAXID,
        "name": UNCLASSIFIED_NAME,
        "lineage": "",
        "taxpath": "",
        "reads": float(reads),
        "fraction": share,
    }
    if profile.estimated:
        record["abundance"] = share
    return record


def rank_table_metadata(profile: Profile, sample_id: str | None = None) -> dict[str, str]:
    """The ``# key: value`` lines at the top of a rank table."""
    meta = {}
    if sample_id is not None:
        meta["sample_id"] = sample_id
    meta.update(
        {
            "status": "empty" if profile.is_empty else "ok",
            "total_reads": str(profile.total_reads),
            "unclassified_reads": str(profile.unclassified),
            "undistributed_reads": f"{profile.undistributed_reads:.10g}",
            **(
                {"classified_species_reads": f"{profile.classified_species_reads:.10g}"}
                if profile.classified_species_reads is not None
                else {}
            ),
            "method": profile.method,
            "abundance": profile.abundance_type or "none",
            "min_reads": str(profile.min_reads),
            "ranks": ",".join(CANONICAL_RANKS),
        }
    )
    return meta


def write_rank_table(
    path: str | os.PathLike,
    profile: Profile | Classification,
    taxonomy: Taxonomy,
    *,
    sample_id: str | None = None,
) -> None:
    """Write a profile as a tidy TSV: one row per taxon and canonical rank, full lineage.

    The file starts with ``# microbiome rank table 1`` and ``# key: value`` lines (sample_id,
    status ``ok`` or ``empty``, total_reads, unclassified_reads, undistributed_reads,
    classified_species_reads (reads classified at a species or below, before estimation),
    method, abundance, min_reads, ranks), then the column line and the rows of
    :func:`rank_table`. Reads are floats (estimates are fractional); ``fraction`` is the share
    of the rank's reads; ``abundance`` (estimated profiles only) the estimated read or cell
    abundance; the ``unclassified`` row of each rank (taxid 0) holds the reads in no taxon of
    the rank and the share of all reads the rank's abundances leave out (see
    :func:`rank_table`). A sample without classified reads gives the header lines with
    ``status: empty`` and only the unclassified rows (none without reads). A Classification is
    profiled as it is (:func:`profile_from_classification`).

    Read it back with :func:`microbiome.profile.merge.read_rank_table`, or with pandas:
    ``pandas.read_csv(path, sep="\\t", skiprows=n)`` where ``n`` is the number of ``#`` lines.
    """
    profile = _as_profile(profile, taxonomy)
    columns = list(RANK_TABLE_COLUMNS) + (["abundance"] if profile.estimated else [])
    meta = rank_table_metadata(profile, sample_id)
    if profile.is_empty:
        log.warning(
            "%s: sample %s has no classified reads; writing an empty rank table",
            os.fspath(path),
            sample_id or "",
        )
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(RANK_TABLE_MAGIC + "\n")
        for key, value in meta.items():
            f.write(f"# {key}: {value}\n")
        # Without pandas (about 50 MB, the classifier's peak memory): the csv module's quoting
        # is what pandas.DataFrame.to_csv would write.
        rows = csv.writer(f, delimiter="\t", lineterminator="\n")
        rows.writerow(columns)
        for record in _rank_records(profile, taxonomy):
            rows.writerow(
                [f"{v:.10g}" if isinstance(v, float) else v for v in (record[c] for c in columns)]
            )
