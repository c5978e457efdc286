"""Merge per-sample rank tables into cohort tables per rank and a BIOM file."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("microbiome")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from microbiome.profile.abundance import CANONICAL_RANKS

    parser = subparsers.add_parser(
        "merge-profiles",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " Reads the rank tables (TSV) that `microbiome classify` writes, one per sample, and"
        " writes into OUTDIR, for each rank: <rank>.counts.tsv and <rank>.relative.tsv (taxa x"
        " samples, with taxid, name and full lineage), plus profiles.long.tsv (every sample,"
        " rank and taxon in one tidy table) and profiles.biom (BIOM 2.1 HDF5 of the reads at the"
        " lowest rank, with a 'taxonomy' lineage per taxon, for QIIME 2 and phyloseq).",
    )
    parser.add_argument("tables", nargs="+", metavar="TSV", help="per-sample rank tables")
    parser.add_argument("-o", "--outdir", required=True, help="output folder")
    parser.add_argument(
        "--rank",
        action="append",
        choices=CANONICAL_RANKS,
        metavar="RANK",
        help="rank to merge (repeatable; default: all of " + ", ".join(CANONICAL_RANKS) + ")",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Merge the rank tables."""
    from microbiome.profile.merge import merge_profiles

    written = merge_profiles(args.tables, args.outdir, ranks=args.rank)
    log.info("wrote %s", ", ".join(str(p) for p in written.values()))
    return 0
