"""Turn a Kraken 2 report into this package's per-sample rank table and CAMI profile."""

from __future__ import annotations

import argparse
import logging
import os

log = logging.getLogger("microbiome")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "classify-import",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " The report alone gives the reads and the taxonomy (indentation and rank codes), so"
        " the outputs merge with those of `microbiome classify` in `microbiome merge-profiles`."
        " The profile is the classification as it is (no abundance estimation).",
    )
    parser.add_argument(
        "--kraken-report",
        required=True,
        metavar="KREPORT",
        help="report of `kraken2 --report` (or Bracken's --out-report)",
    )
    parser.add_argument("--tsv", metavar="TSV", help="per-rank abundance table")
    parser.add_argument("--cami", metavar="CAMI", help="CAMI taxonomic profile")
    parser.add_argument(
        "--taxonomy-id",
        default="NCBI",
        help="what the CAMI profile's @TaxonomyID says (default NCBI)",
    )
    parser.add_argument("-s", "--sample-id", help="sample name (default: the report's file name)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from microbiome.errors import ConfigError
    from microbiome.io.samplesheet import check_sample_id
    from microbiome.profile import writers
    from microbiome.profile.merge import _sample_from_name

    if not args.tsv and not args.cami:
        raise ConfigError("give --tsv, --cami or both: nothing to write")
    if args.sample_id is not None:
        sample = check_sample_id(args.sample_id, "-s/--sample-id")
    else:
        sample = _sample_from_name(os.fspath(args.kraken_report)).removesuffix(".kreport")
    result, taxonomy = writers.classification_from_kraken_report(args.kraken_report)
    log.info(
        "%s: %d of %d reads classified, %d taxa",
        args.kraken_report,
        result.classified,
        result.total_reads,
        len(taxonomy),
    )
    program = "kraken2 (via microbiome classify-import)"
    if args.cami:
        writers.write_cami(
            args.cami, result, taxonomy, sample, taxonomy_id=args.taxonomy_id, program=program
        )
    if args.tsv:
        writers.write_rank_table(args.tsv, result, taxonomy, sample_id=sample)
    return 0
