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
    parser.add_argument("-o", "--output", help="merged table (TSV)")
    parser.add_argument(
        "--summary",
        metavar="TSV",
        help="also write classification_summary.tsv: per sample the reads given to the"
        " classifier, classified, and classified at species (known from Kraken 2 reports;"
        " NA for the other formats)",
    )
    parser.add_argument(
        "--multiqc",
        metavar="MQC_TSV",
        help="with --summary: MultiQC custom content of it (a *_mqc.tsv file)",
    )
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
    from microbiome.errors import ConfigError
    from microbiome.io.profiler_imports import import_profiles_with_counts, write_feature_table
    from microbiome.profile.summary import write_classification_summary

    if not args.output and not args.summary:
        raise ConfigError("give -o/--output, --summary or both: nothing to write")
    if args.multiqc and not args.summary:
        raise ConfigError("--multiqc needs --summary")
    ids = args.sample_ids.split(",") if args.sample_ids else None
    table, counts = import_profiles_with_counts(
        args.files, format=args.format, rank=args.rank, sample_ids=ids
    )
    if args.output:
        write_feature_table(args.output, table)
        log.info(
            "%s: %d samples x %d taxa (%s, %s)",
            args.output,
            *table.data.shape,
            table.format,
            args.rank,
        )
    if args.summary:
        write_classification_summary(args.summary, counts, multiqc=args.multiqc)
    return 0
