"""Check a sample sheet and a config before a run; report every problem at once."""

from __future__ import annotations

import argparse
import logging

from microbiome.errors import ConfigError, MicrobiomeError, ValidationErrors

log = logging.getLogger("microbiome")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " Checks the config against workflow/schemas/config.schema.yaml, and the sample sheet:"
        " columns, sample IDs, that every reads file exists, is readable and not empty, and is"
        " used once. Relative paths in the sheet are relative to the sheet's folder. With"
        " --config, also the metadata sheet against its declared column types, listing the"
        " samples that are in only one of the two sheets.",
    )
    parser.add_argument(
        "--samples", metavar="SHEET", help="sample sheet (TSV/CSV); default: the config's 'samples'"
    )
    parser.add_argument("--config", metavar="YAML", help="workflow config (YAML)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate; raise ValidationErrors with every problem found in either file."""
    from microbiome.config import load_config
    from microbiome.io.samplesheet import load_sample_sheet

    problems: list[MicrobiomeError] = []
    samples_path = args.samples
    if args.config:
        try:
            config = load_config(args.config)
            samples_path = samples_path or config["samples"]
            log.info("%s: config OK", args.config)
        except ValidationErrors as exc:
            problems.extend(exc.errors)
        except MicrobiomeError as exc:
            problems.append(exc)
    if samples_path is None:
        if problems:
            raise ValidationErrors(problems)
        raise ConfigError("give --samples, or --config with a 'samples' key")
    try:
        table = load_sample_sheet(samples_path)
    except ValidationErrors as exc:
        problems.extend(exc.errors)
    except MicrobiomeError as exc:
        problems.append(exc)
    if args.config and not problems and config["metadata"]["table"]:
        problems.extend(_check_metadata(config["metadata"], set(table.index)))
    if problems:
        raise ValidationErrors(problems)
    interleaved = table[(table["layout"] == "paired") & (table["fastq_2"] == "")]
    for sample in interleaved.index:
        log.info("note: sample %s: fastq_1 is interleaved paired-end; treated as paired", sample)
    paired = int((table["layout"] == "paired").sum())
    log.info(
        "%s: %d samples OK (%d paired-end, %d single-end, %d patients)",
        samples_path,
        len(table),
        paired,
        len(table) - paired,
        table.loc[table["patient_id"] != "", "patient_id"].nunique(),
    )
    return 0


def _check_metadata(cfg: dict, samples: set[str]) -> list[MicrobiomeError]:
    """Problems of the config's metadata sheet; log the samples in one sheet only."""
    from microbiome.io.metadata import read_metadata

    try:
        metadata = read_metadata(
            cfg["table"],
            cfg["variables"],
            sample_column=cfg["sample_column"] or None,
            patient_column=cfg["patient_column"] or None,
        )
    except MicrobiomeError as exc:
        return [exc]
    match = metadata.match(sorted(samples))
    if match.only_in_data:
        log.warning(
            "%s: no metadata for %d samples of the sample sheet: %s",
            cfg["table"],
            len(match.only_in_data),
            ", ".join(match.only_in_data),
        )
    if match.only_in_metadata:
        log.warning(
            "%s: %d samples are not in the sample sheet: %s",
            cfg["table"],
            len(match.only_in_metadata),
            ", ".join(match.only_in_metadata),
        )
    log.info(
        "%s: metadata OK (%d samples, %d variables)",
        cfg["table"],
        len(metadata.table),
        len(metadata.types),
    )
    return []
