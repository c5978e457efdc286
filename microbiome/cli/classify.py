"""Classify a sample's reads against a profiling database (Kraken 2's algorithm)."""

from __future__ import annotations

import argparse
import logging

from microbiome.errors import ConfigError

log = logging.getLogger("microbiome")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "classify",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " A pair is one fragment (the minimizers of both mates pooled). Writes a Kraken-style"
        " report, and optionally per-read output, a CAMI profile and a per-rank table.",
    )
    parser.add_argument("--db", required=True, metavar="DB", help="database of `microbiome db`")
    parser.add_argument(
        "-1", dest="reads1", required=True, metavar="R1", help="reads (mate 1 or single-end)"
    )
    parser.add_argument("-2", dest="reads2", metavar="R2", help="mate 2 of paired-end reads")
    parser.add_argument("-t", "--threads", type=int, default=2, help="threads (default 2)")
    parser.add_argument(
        "--confidence",
        type=float,
        default=0.0,
        help="Kraken 2's confidence threshold, 0-1 (default 0)",
    )
    parser.add_argument(
        "--min-hit-groups",
        type=int,
        default=2,
        help="fewest minimizer hits for a call (default 2)",
    )
    parser.add_argument(
        "--output",
        metavar="READS_OUT",
        help="per-read output, Kraken style (gzip if it ends in .gz)",
    )
    parser.add_argument("--report", required=True, metavar="KREPORT", help="Kraken-style report")
    parser.add_argument("--cami", metavar="CAMI", help="CAMI taxonomic profile")
    parser.add_argument("--tsv", metavar="TSV", help="per-rank abundance table")
    parser.add_argument("-s", "--sample-id", help="sample name (default: from the R1 file name)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from microbiome.cli.stats import _sample_name
    from microbiome.profile import writers
    from microbiome.profile.classify import classify_reads
    from microbiome.profile.database import load_database

    if args.threads < 1:
        raise ConfigError(f"--threads must be at least 1 (got {args.threads})")
    if not 0.0 <= args.confidence <= 1.0:
        raise ConfigError(f"--confidence must be from 0 to 1 (got {args.confidence})")
    sample = args.sample_id or _sample_name(args.reads1)
    db = load_database(args.db)
    result = classify_reads(
        db,
        args.reads1,
        args.reads2,
        threads=args.threads,
        confidence=args.confidence,
        min_hit_groups=args.min_hit_groups,
        output=args.output,
    )
    writers.write_kraken_report(args.report, result, db.taxonomy)
    if args.cami:
        writers.write_cami(args.cami, result, db.taxonomy, sample)
    if args.tsv:
        writers.write_rank_table(args.tsv, result, db.taxonomy, sample_id=sample)
    return 0
