"""Check a sample sheet and a config before a run; report every problem at once."""

from __future__ import annotations

import argparse
import logging

from microbiome.errors import ConfigError

log = logging.getLogger("microbiome")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " Checks the config against microbiome/schemas/config.schema.yaml, and the sample sheet:"
        " columns, sample IDs, that every reads file exists, is readable and not empty, and is"
        " used once. Relative paths in the sheet are relative to the sheet's folder. With"
        " --config, also the metadata sheet against its declared column types, listing the"
        " samples that are in only one of the two sheets and the values whose surrounding"
        " spaces were removed, the settings that must go together, and the taxa table (mode:"
        " tables) and metabolite table the config names. In mode: tables there is no sample"
        " sheet unless --samples names one.",
    )
    parser.add_argument(
        "--samples", metavar="SHEET", help="sample sheet (TSV/CSV); default: the config's 'samples'"
    )
    parser.add_argument("--config", metavar="YAML", help="workflow config (YAML)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate; raise ValidationErrors with every problem found in the config and the sheets."""
    from microbiome.validation import check_run

    if args.config is None and args.samples is None:
        raise ConfigError("give --samples, or --config with a 'samples' key")
    checked = check_run(args.config, samples=args.samples)
    for warning in checked.warnings:
        log.warning("%s", warning)
    if args.config:
        log.info("%s: config OK", args.config)
    if checked.metadata is not None:
        metadata = checked.metadata
        log.info(
            "%s: metadata OK (%d samples, %d variables)",
            metadata.path,
            len(metadata.table),
            len(metadata.types),
        )
    table = checked.samples
    if table is not None:
        interleaved = table[(table["layout"] == "paired") & (table["fastq_2"] == "")]
        for sample in interleaved.index:
            log.info(
                "note: sample %s: fastq_1 is interleaved paired-end; treated as paired", sample
            )
        paired = int((table["layout"] == "paired").sum())
        log.info(
            "%s: %d samples OK (%d paired-end, %d single-end, %d patients)",
            checked.samples_path,
            len(table),
            paired,
            len(table) - paired,
            table.loc[table["patient_id"] != "", "patient_id"].nunique(),
        )
    return 0
