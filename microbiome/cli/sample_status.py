"""Decide each sample's status once: sample quality, profiling coverage and exclusion."""

from __future__ import annotations

import argparse
import logging

from microbiome.errors import ConfigError

log = logging.getLogger("microbiome")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample-status",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " Writes one row per sample: qc_verdict and qc_reason (from the QC summary: PASS,"
        " WARN, FAIL, or NA without one), coverage_verdict and coverage_reason (the share of"
        " reads classified, from the classification summary, against the config's"
        " report.coverage limits; NA without one), classified_percent, species_percent, and"
        " excluded (yes when either verdict is FAIL, or the sample has no reads in --taxa)"
        " with exclusion_reason. Diversity, integrate and the reports leave excluded samples"
        " out. Limits: the config's report.qc and report.coverage sections.",
    )
    parser.add_argument("--qc", metavar="TSV", help="QC summary of `microbiome merge-qc`")
    parser.add_argument(
        "--classification",
        metavar="TSV",
        help="classification summary (sample_id, reads_total, reads_classified,"
        " classified_percent, reads_species, species_percent)",
    )
    parser.add_argument(
        "--taxa",
        metavar="TABLE",
        help="taxa table: its samples are listed too, and those without any reads fail coverage;"
        " without --classification, its unclassified entry (if any) gives the classified share",
    )
    settings = parser.add_mutually_exclusive_group()
    settings.add_argument("--config", metavar="YAML", help="workflow config (YAML)")
    settings.add_argument(
        "--settings", metavar="JSON", help="the workflow config as a JSON object (from a rule)"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="TSV", help="status table to write"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read what exists, decide, write the table."""
    from microbiome.config import config_from
    from microbiome.io.feature_table import read_feature_table
    from microbiome.status import (
        classification_from_taxa,
        log_status,
        read_classification,
        read_qc,
        sample_status,
        write_status,
    )

    if not (args.qc or args.classification or args.taxa):
        raise ConfigError("give at least one of --qc, --classification and --taxa")
    settings = config_from(args.config, args.settings)["report"]
    taxa = read_feature_table(args.taxa) if args.taxa else None
    samples, empty = (taxa.samples, taxa.without_empty_samples()[1]) if taxa else ([], [])
    if args.classification:
        classification = read_classification(args.classification)
    else:  # the taxa table's unclassified entry, as the report would derive it
        classification = classification_from_taxa(taxa) if taxa else None
    status = sample_status(
        qc=read_qc(args.qc) if args.qc else None,
        classification=classification,
        samples=samples,
        empty=empty,
        qc_thresholds=settings["qc"],
        coverage=settings["coverage"],
    )
    write_status(status, args.output)
    log_status(status)
    log.info(
        "wrote %s: %d samples, %d excluded",
        args.output,
        len(status),
        int((status["excluded"] == "yes").sum()),
    )
    return 0
