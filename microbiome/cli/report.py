"""Write the cohort report and the per-patient clinician reports (HTML and PDF), offline."""

from __future__ import annotations

import argparse
import logging

from microbiome.errors import ConfigError

log = logging.getLogger("microbiome")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " Reads the taxa table and whatever else exists (QC summary, metadata, the diversity"
        " and integrate folders, metabolites); a stage that did not run becomes a plain note."
        " Writes OUTDIR/cohort.html, OUTDIR/indices.tsv, OUTDIR/microbiome_report_mqc.tsv and"
        " OUTDIR/patients/<patient>.html and .pdf. Settings: the config's report section"
        " (microbiome/schemas/config.schema.yaml).",
    )
    parser.add_argument(
        "--taxa",
        required=True,
        metavar="TABLE",
        help="abundance table with lineages, e.g. results/tables/species.counts.tsv (or"
        " .relative.tsv, BIOM, a samples x taxa TSV)",
    )
    parser.add_argument("--qc", metavar="TSV", help="QC summary of `microbiome merge-qc`")
    parser.add_argument(
        "--status",
        metavar="TSV",
        help="status table of `microbiome sample-status` (the verdicts and exclusions every"
        " stage uses); without it the report decides them from --qc and --classification",
    )
    parser.add_argument(
        "--classification",
        metavar="TSV",
        help="classification summary (classified share of reads per sample), used without --status",
    )
    parser.add_argument(
        "--metadata", metavar="SHEET", help="clinical metadata (sample_id, patient_id, ...)"
    )
    parser.add_argument(
        "--samples",
        metavar="SHEET",
        help="sample sheet whose patient_id column maps samples to patients (without --metadata)",
    )
    parser.add_argument("--diversity", metavar="DIR", help="output folder of microbiome diversity")
    parser.add_argument("--integrate", metavar="DIR", help="output folder of microbiome integrate")
    parser.add_argument("--metabolites", metavar="TSV", help="samples x metabolites table")
    parser.add_argument(
        "--metabolite-annotation",
        metavar="TSV",
        help="metabolite annotation (metabolite, superpathway, subpathway)",
    )
    parser.add_argument("--database", metavar="DB", help="profiling database (for the methods)")
    settings = parser.add_mutually_exclusive_group()
    settings.add_argument("--config", metavar="YAML", help="workflow config (YAML)")
    settings.add_argument(
        "--settings", metavar="JSON", help="the workflow config as a JSON object (from a rule)"
    )
    parser.add_argument(
        "--patient",
        action="append",
        metavar="ID",
        help="write only this patient's report (ID or report file name; repeatable)",
    )
    parser.add_argument(
        "--no-cohort", action="store_true", help="do not write the cohort report and tables"
    )
    parser.add_argument("--no-patients", action="store_true", help="write no patient report")
    parser.add_argument("--no-pdf", action="store_true", help="write HTML only")
    parser.add_argument("-o", "--outdir", required=True, metavar="OUTDIR", help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the cohort once, then write the reports asked for."""
    from microbiome.config import config_from
    from microbiome.io.samplesheet import check_sample_id
    from microbiome.report.cohort import Inputs, load_cohort
    from microbiome.report.render import write_reports

    if args.no_cohort and args.no_patients:
        raise ConfigError("--no-cohort and --no-patients together leave nothing to write")
    if args.patient and args.no_patients:
        raise ConfigError("--patient and --no-patients contradict each other")
    for patient in args.patient or ():
        check_sample_id(patient, "--patient", column="patient_id")
    if args.status and args.classification:
        raise ConfigError(
            "--classification is only used without --status (the status table already holds"
            " the classified shares)"
        )
    config = config_from(args.config, args.settings)
    inputs = Inputs(
        taxa=args.taxa,
        qc=args.qc,
        status=args.status,
        classification=args.classification,
        metadata=args.metadata,
        samples=args.samples,
        diversity=args.diversity,
        integrate=args.integrate,
        metabolites=args.metabolites,
        metabolite_annotation=args.metabolite_annotation,
        database=args.database,
    )
    cohort = load_cohort(inputs, config)
    written = write_reports(
        cohort,
        args.outdir,
        patients=[] if args.no_patients else args.patient,
        cohort_report=not args.no_cohort,
        pdf=not args.no_pdf,
    )
    log.info("wrote %d report file(s) into %s", len(written), args.outdir)
    return 0
