"""Taxonomies: NCBI taxdump and GTDB readers, lineages, ranks and LCA.

A :class:`Taxonomy` is a tree stored as arrays, ready for the numba kernels: node ``i`` has the
external taxid ``taxids[i]``, its parent's index ``parents[i]`` and its depth ``depth[i]``.
Node 0 is the root (``parents[0] == 0``) and every node comes after its parent (``parents[i] <
i`` for ``i > 0``: breadth-first order, children by ascending taxid), so depths and subtree sums
are single passes over the arrays.

GTDB taxonomies have no taxids. :meth:`Taxonomy.from_gtdb` gives every taxon a *synthetic*
taxid derived from its rank-prefixed name only (``"g__Escherichia"``): the first 8 bytes of
``blake2b(name)`` read as a little-endian integer, masked to 53 bits, plus 2 (so that it is
never 0 = unclassified or 1 = root and survives a trip through a float64 or JavaScript number).
The same name therefore has the same taxid in every file and every GTDB release, whatever the
order of the lines; a collision of two names (odds about 1e-5 for a million names) is reported
as an InputError rather than resolved silently. :func:`gtdb_taxid` computes it for one name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microbiome.errors import InputError
from microbiome.io.tables import text_lines
from microbiome.ranks import CANONICAL_RANKS, GTDB_RANKS
from microbiome.taxonomy import _kernels

ROOT_TAXID = 1
_GTDB_MASK = (1 << 53) - 1


@dataclass(frozen=True)
class Taxonomy:
    """A taxonomic tree as arrays (see the module docstring for the node order).

    Attributes
    ----------
    taxids : numpy.ndarray, shape (n,), dtype int64
        External taxid of each node; node 0 is the root (taxid 1 for NCBI and GTDB).
    parents : numpy.ndarray, shape (n,), dtype int32
        Index of each node's parent; ``parents[0] == 0``.
    ranks : tuple of str
        Rank of each node as in the source ('species', 'genus', 'no rank', ...).
    names : tuple of str
        Scientific name of each node.
    depth : numpy.ndarray, shape (n,), dtype int32
        Depth of each node (root 0); computed.
    """

    taxids: np.ndarray
    parents: np.ndarray
    ranks: tuple[str, ...]
    names: tuple[str, ...]
    depth: np.ndarray = field(init=False, repr=False, compare=False)
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        taxids = np.ascontiguousarray(self.taxids, dtype=np.int64)
        parents = np.ascontiguousarray(self.parents, dtype=np.int32)
        n = taxids.shape[0]
        if n == 0 or parents.shape[0] != n or len(self.ranks) != n or len(self.names) != n:
            raise ValueError("taxonomy arrays must be non-empty and of the same length")
        if parents[0] != 0 or (n > 1 and not (parents[1:] < np.arange(1, n)).all()):
            raise ValueError("taxonomy nodes must come after their parents (node 0 the root)")
        depth = np.empty(n, dtype=np.int32)
        _kernels.compute_depth(parents, depth)
        index = dict(zip(taxids.tolist(), range(n), strict=True))
        if len(index) != n:
            raise ValueError("taxonomy has duplicate taxids")
        object.__setattr__(self, "taxids", taxids)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "ranks", tuple(self.ranks))
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "depth", depth)
        object.__setattr__(self, "_index", index)

    # --- look-ups by taxid -------------------------------------------------------------------

    def __len__(self) -> int:
        return self.taxids.shape[0]

    def __contains__(self, taxid: object) -> bool:
        try:
            return int(taxid) in self._index  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False

    def node(self, taxid: int) -> int:
        """Index of the node of ``taxid``; KeyError for an unknown taxid."""
        try:
            return self._index[int(taxid)]
        except KeyError:
            raise KeyError(f"taxid {taxid} is not in the taxonomy") from None

    def parent(self, taxid: int) -> int:
        """Parent taxid (the root's parent is the root)."""
        return int(self.taxids[self.parents[self.node(taxid)]])

    def lineage(self, taxid: int) -> list[int]:
        """Taxids from the root down to ``taxid`` (both included)."""
        i = self.node(taxid)
        path = [i]
        while i != 0:
            i = int(self.parents[i])
            path.append(i)
        return [int(self.taxids[j]) for j in reversed(path)]

    def lca(self, a: int, b: int) -> int:
        """Taxid of the lowest common ancestor of taxids ``a`` and ``b``."""
        i, j = np.int32(self.node(a)), np.int32(self.node(b))
        node = _kernels.lca(self.parents, self.depth, i, j)
        return int(self.taxids[node])

    def at_rank(self, taxid: int, rank: str) -> int | None:
        """The ancestor (or ``taxid`` itself) whose rank is ``rank``, or None."""
        i = self.node(taxid)
        while True:
            if self.ranks[i] == rank:
                return int(self.taxids[i])
            if i == 0:
                return None
            i = int(self.parents[i])

    def rank(self, taxid: int) -> str:
        """Rank string of ``taxid``."""
        return self.ranks[self.node(taxid)]

    def name(self, taxid: int) -> str:
        """Scientific name of ``taxid``."""
        return self.names[self.node(taxid)]

    def children(self) -> dict[int, list[int]]:
        """Taxid -> its child taxids in ascending order (leaves are absent)."""
        out: dict[int, list[int]] = {}
        taxids = self.taxids.tolist()
        for i, p in enumerate(self.parents.tolist()):
            if i:
                out.setdefault(taxids[p], []).append(taxids[i])
        for kids in out.values():
            kids.sort()
        return out

    # --- derived taxonomies ------------------------------------------------------------------

    def subset(self, taxids: Iterable[int]) -> Taxonomy:
        """The smallest sub-taxonomy holding ``taxids`` and all their ancestors (same order)."""
        keep = np.zeros(len(self), dtype=bool)
        keep[0] = True
        for t in taxids:
            i = self.node(t)
            while not keep[i]:
                keep[i] = True
                i = int(self.parents[i])
        old = np.flatnonzero(keep)
        new_index = np.full(len(self), -1, dtype=np.int32)
        new_index[old] = np.arange(old.shape[0], dtype=np.int32)
        return Taxonomy(
            self.taxids[old],
            new_index[self.parents[old]],
            tuple(self.ranks[i] for i in old.tolist()),
            tuple(self.names[i] for i in old.tolist()),
        )

    # --- readers -----------------------------------------------------------------------------

    @classmethod
    def from_edges(
        cls,
        parent_of: dict[int, int],
        ranks: dict[int, str],
        names: dict[int, str],
        *,
        source: str = "<taxonomy>",
        lines: dict[int, int] | None = None,
    ) -> Taxonomy:
        """Build a taxonomy from taxid -> parent taxid (the root is its own parent).

        Raises InputError (naming ``source`` and, when ``lines`` maps taxids to line numbers,
        the line) for a missing parent, a cycle, or not exactly one root.
        """
        lines = lines or {}
        roots = [t for t, p in parent_of.items() if t == p]
        if len(roots) != 1:
            what = (
                "no root (a node that is its own parent)"
                if not roots
                else (
                    f"{len(roots)} roots (nodes that are their own parent): "
                    + ", ".join(map(str, sorted(roots)[:5]))
                )
            )
            raise InputError(f"taxonomy has {what}", file=source)
        children: dict[int, list[int]] = {}
        for t, p in parent_of.items():
            if t == p:
                continue
            if p not in parent_of:
                raise InputError(
                    f"parent {p} of taxid {t} is not in the taxonomy",
                    file=source,
                    line=lines.get(t),
                )
            children.setdefault(p, []).append(t)
        order = [roots[0]]
        parents = [0]
        head = 0
        while head < len(order):
            kids = children.get(order[head])
            if kids:
                kids.sort()
                order.extend(kids)
                parents.extend([head] * len(kids))
            head += 1
        if len(order) != len(parent_of):
            reached = set(order)
            stuck = min(t for t in parent_of if t not in reached)
            raise InputError(
                f"taxid {stuck} is on a cycle of parents (it does not lead to the root)",
                file=source,
                line=lines.get(stuck),
            )
        return cls(
            np.array(order, dtype=np.int64),
            np.array(parents, dtype=np.int32),
            tuple(ranks.get(t, "no rank") for t in order),
            tuple(names.get(t, str(t)) for t in order),
        )

    @classmethod
    def from_taxdump(cls, directory: str | os.PathLike) -> Taxonomy:
        """Read an NCBI taxdump folder: ``nodes.dmp`` and ``names.dmp`` (scientific names).

        Raises InputError naming the file and line of a malformed line, a duplicate taxid, a
        parent that is missing, or a cycle; and for a missing file.
        """
        directory = Path(directory)
        nodes_path = directory / "nodes.dmp"
        names_path = directory / "names.dmp"
        for p in (nodes_path, names_path):
            if not p.is_file():
                raise InputError(
                    "taxonomy file not found (expected an NCBI taxdump folder)", file=p
                )
        parent_of: dict[int, int] = {}
        ranks: dict[int, str] = {}
        lines: dict[int, int] = {}
        with open(nodes_path, encoding="utf-8-sig", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                fields = line.split("\t|\t")
                if len(fields) < 3:
                    raise InputError(
                        "malformed nodes.dmp line (expected 'taxid | parent | rank | ...')",
                        file=nodes_path,
                        line=number,
                    )
                try:
                    taxid = int(fields[0])
                    parent = int(fields[1])
                except ValueError:
                    raise InputError(
                        f"taxid or parent is not an integer: {fields[0]!r}, {fields[1]!r}",
                        file=nodes_path,
                        line=number,
                    ) from None
                if taxid in parent_of:
                    raise InputError(
                        f"taxid {taxid} appears twice (first on line {lines[taxid]})",
                        file=nodes_path,
                        line=number,
                    )
                parent_of[taxid] = parent
                ranks[taxid] = fields[2].strip().rstrip("|").strip()
                lines[taxid] = number
        if not parent_of:
            raise InputError("taxonomy file has no nodes", file=nodes_path)
        names: dict[int, str] = {}
        with open(names_path, encoding="utf-8-sig", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                fields = line.split("\t|\t")
                if len(fields) < 4:
                    raise InputError(
                        "malformed names.dmp line (expected 'taxid | name | unique name | class')",
                        file=names_path,
                        line=number,
                    )
                if fields[3].rstrip("\t|\n\r ") != "scientific name":
                    continue
                try:
                    taxid = int(fields[0])
                except ValueError:
                    raise InputError(
                        f"taxid is not an integer: {fields[0]!r}", file=names_path, line=number
                    ) from None
                names[taxid] = fields[1]
        return cls.from_edges(parent_of, ranks, names, source=os.fspath(nodes_path), lines=lines)

    @classmethod
    def from_gtdb(cls, path: str | os.PathLike) -> Taxonomy:
        """Read a GTDB taxonomy TSV (``accession<TAB>d__Bacteria;p__...;s__Species``).

        Ranks are mapped d -> superkingdom, p -> phylum, c -> class, o -> order, f -> family,
        g -> genus, s -> species; taxa get the synthetic taxids of :func:`gtdb_taxid`, the root
        taxid 1. Empty ranks (``s__``) end a lineage. A header line starting with ``accession``
        or ``user_genome`` and ``#`` lines are skipped. Raises InputError (file, line) for a
        malformed line, a taxon given two different parents, or a taxid collision.
        """
        taxonomy, _ = _read_gtdb(path)
        return taxonomy


def gtdb_taxid(name: str) -> int:
    """Synthetic taxid of a rank-prefixed GTDB name such as ``"s__Escherichia coli"``."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest, "little") & _GTDB_MASK) + 2


def _read_gtdb(path: str | os.PathLike) -> tuple[Taxonomy, dict[str, int]]:
    """(taxonomy, accession -> taxid of the lowest taxon of its lineage)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("GTDB taxonomy file not found", file=path)
    parent_of = {ROOT_TAXID: ROOT_TAXID}
    ranks = {ROOT_TAXID: "no rank"}
    names = {ROOT_TAXID: "root"}
    label_of: dict[int, str] = {}
    lines: dict[int, int] = {}
    accessions: dict[str, int] = {}
    for number, line in text_lines(path):
        fields = line.split("\t")
        if len(fields) < 2 or ";" not in fields[1] and "__" not in fields[1]:
            if number == 1 and fields[0].lower() in ("accession", "user_genome", "genome"):
                continue
            raise InputError(
                "malformed GTDB line (expected 'accession<TAB>d__...;s__...')",
                file=path,
                line=number,
            )
        parent = ROOT_TAXID
        for part in fields[1].split(";"):
            part = part.strip()
            prefix, sep, name = part.partition("__")
            if not sep or prefix not in GTDB_RANKS:
                raise InputError(
                    f"lineage part {part!r} is not 'x__Name' with x in d, p, c, o, f, g, s",
                    file=path,
                    line=number,
                )
            if not name:
                break
            label = f"{prefix}__{name}"
            taxid = gtdb_taxid(label)
            if taxid in parent_of:
                if label_of[taxid] != label:
                    raise InputError(
                        f"synthetic taxids of {label!r} and {label_of[taxid]!r} collide",
                        file=path,
                        line=number,
                    )
                if parent_of[taxid] != parent:
                    raise InputError(
                        f"{label!r} has parent {label_of.get(parent, 'root')!r} here but "
                        f"{label_of.get(parent_of[taxid], 'root')!r} on line {lines[taxid]}",
                        file=path,
                        line=number,
                    )
            else:
                parent_of[taxid] = parent
                ranks[taxid] = GTDB_RANKS[prefix]
                names[taxid] = name
                label_of[taxid] = label
                lines[taxid] = number
            parent = taxid
        accessions[fields[0].strip()] = parent
    if len(parent_of) == 1:
        raise InputError("GTDB taxonomy file has no lineages", file=path)
    taxonomy = Taxonomy.from_edges(parent_of, ranks, names, source=path, lines=lines)
    return taxonomy, accessions


def gtdb_accessions(path: str | os.PathLike) -> dict[str, int]:
    """Accession -> synthetic taxid of its lowest named taxon, from a GTDB taxonomy TSV."""
    return _read_gtdb(path)[1]


def load_taxonomy(source: str | os.PathLike | Taxonomy) -> Taxonomy:
    """A Taxonomy from a taxdump folder, a GTDB TSV, or a Taxonomy (returned as is)."""
    if isinstance(source, Taxonomy):
        return source
    path = Path(source)
    if path.is_dir():
        return Taxonomy.from_taxdump(path)
    if path.is_file():
        return Taxonomy.from_gtdb(path)
    raise InputError("taxonomy not found (give an NCBI taxdump folder or a GTDB TSV)", file=path)


__all__ = [
    "CANONICAL_RANKS",
    "GTDB_RANKS",
    "Taxonomy",
    "gtdb_accessions",
    "gtdb_taxid",
    "load_taxonomy",
]
