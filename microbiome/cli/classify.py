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
        " report, and optionally per-read output, a CAMI profile and a per-rank table. The CAMI"
        " profile and the table hold species abundances estimated from the database's k-mer"
        " distribution (--abundance; the report keeps the reads as classified).",
    )
    parser.add_argument("--db", required=True, metavar="DB", help="database of `microbiome db`")
    parser.add_argument(
        "-1",
        dest="reads1",
        required=True,
        metavar="R1",
        help="reads (mate 1, single-end, or both mates interleaved: detected, read as pairs)",
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
    parser.add_argument(
        "--abundance",
        choices=("bracken", "em", "none"),
        default="bracken",
        help="species abundance estimation for --cami and --tsv: bracken (Bracken's"
        " redistribution of reads stopped above species), em (maximum likelihood over the"
        " species, also moves reads put on a wrong species) or none (reads as classified);"
        " default bracken",
    )
    parser.add_argument(
        "--abundance-type",
        choices=("read", "cell"),
        default="read",
        help="read: share of the reads; cell: share of genome copies (reads divided by genome"
        " size, from the database's genomes); default read",
    )
    parser.add_argument(
        "--min-reads",
        type=int,
        default=10,
        help="species with fewer reads at or below them count as absent in the estimation"
        " (Bracken's -t; default 10)",
    )
    parser.add_argument("-s", "--sample-id", help="sample name (default: from the R1 file name)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from microbiome.cli.stats import sample_id
    from microbiome.io.samplesheet import check_distinct_mates
    from microbiome.profile.classify import classify_reads
    from microbiome.profile.database import load_database

    if args.threads < 1:
        raise ConfigError(f"--threads must be at least 1 (got {args.threads})")
    if not 0.0 <= args.confidence <= 1.0:
        raise ConfigError(f"--confidence must be from 0 to 1 (got {args.confidence})")
    if args.min_reads < 0:
        raise ConfigError(f"--min-reads must be 0 or more (got {args.min_reads})")
    sample = sample_id(args.sample_id, args.reads1)
    check_distinct_mates(args.reads1, args.reads2)
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
    # The writers need pandas (about 50 MB): imported once the reads' buffers are freed, so
    # that it does not add to the peak memory of the classification.
    from microbiome.profile import writers

    writers.write_kraken_report(args.report, result, db.taxonomy)
    profile = estimated_profile(
        db, result, args.abundance, args.abundance_type, min_reads=args.min_reads
    )
    if args.cami:
        writers.write_cami(args.cami, profile, db.taxonomy, sample)
    if args.tsv:
        writers.write_rank_table(args.tsv, profile, db.taxonomy, sample_id=sample)
    return 0


def estimated_profile(db, result, method: str, abundance_type: str, *, min_reads: int = 10):
    """The profile to write: estimated with the database's k-mer distribution, or (method
    'none') the classification as it is."""
    from microbiome.profile.abundance import estimate_abundance, profile_from_classification

    if method == "none":
        return profile_from_classification(result, db.taxonomy)
    dist = db.header["kmer_distribution"]
    if dist["confidence"] != result.confidence:
        log.info(
            "note: the k-mer distribution was made at confidence %g, the reads are classified at"
            " %g: abundances of species with close relatives may shift a little",
            dist["confidence"],
            result.confidence,
        )
    return estimate_abundance(
        result,
        db.taxonomy,
        db.kmer_distribution(),
        method=method,
        abundance=abundance_type,
        genome_sizes=db.genome_sizes() if abundance_type == "cell" else None,
        min_reads=min_reads,
    )
