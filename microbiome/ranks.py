"""The canonical ranks and the prefixes of lineage strings.

No dependencies, so that the light readers (abundance tables, metadata) and the taxonomy share
one definition without importing each other's numerical code.
"""

#: The ranks every profile and table is reported at, highest first.
CANONICAL_RANKS = ("superkingdom", "phylum", "class", "order", "family", "genus", "species")

#: Prefixes of the lineage strings the package writes (Greengenes / QIIME style:
#: ``k__Bacteria;p__...``).
RANK_PREFIXES = {
    rank: f"{rank[0] if rank != 'superkingdom' else 'k'}__" for rank in CANONICAL_RANKS
}

#: GTDB's one-letter rank prefixes (``d__Bacteria;p__...``) and the ranks they are given.
GTDB_RANKS = {"d": "superkingdom", **{rank[0]: rank for rank in CANONICAL_RANKS[1:]}}

#: The rank of each one-letter prefix of a lineage written by any of them: GTDB's ``d__`` and
#: the ``k__`` of NCBI-derived lineages (ours, QIIME's, MetaPhlAn's) both name the top rank.
PREFIX_RANKS = {**GTDB_RANKS, "k": "superkingdom"}
