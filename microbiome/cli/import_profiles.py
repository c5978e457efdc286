"""Merge per-sample outputs of other profilers (Kraken 2, Bracken, MetaPhlAn, mOTUs) in a table."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("microbiome")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from microbiome.io.profiler_imports import PROFILER_FORMATS
    from microbiome.ranks import CANONICAL_RANKS

    parser = subparsers.add_parser(
        "import-profiles",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " Writes our merged table format (taxid, name, lineage, one column per sample) at one"
        " rank, which `microbiome integrate --taxa` and the workflow's tables mode read.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="one profiler output per sample")
    parser.add_argument("-o", "--output", required=True, help="merged table (TSV)")
    parser.add_argument(
        "--format",
        default="auto",
        choices=("auto", *PROFILER_FORMATS),
        help="format of the files (default: detected)",
    )
    parser.add_argument(
        "--rank", default="species", choices=CANONICAL_RANKS, help="rank (default species)"
    )
    parser.add_argument(
        "--sample-ids",
        metavar="A,B,...",
        help="sample IDs, one per file (default: the file names up to a dot)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import and merge."""
    from microbiome.io.profiler_imports import import_profiles, write_feature_table

    ids = args.sample_ids.split(",") if args.sample_ids else None
    table = import_profiles(args.files, format=args.format, rank=args.rank, sample_ids=ids)
    write_feature_table(args.output, table)
    log.info(
        "%s: %d samples x %d taxa (%s, %s)", args.output, *table.data.shape, table.format, args.rank
    )
    return 0
