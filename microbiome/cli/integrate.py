"""Link taxa and metabolite tables to clinical metadata: associations, correlations, biomarkers."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("microbiome")


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "integrate",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " Joins the tables on sample IDs (join_report.tsv lists every unmatched ID), filters"
        " and transforms them (CLR taxa, log metabolites), fits per-feature linear models"
        " against clinical variables (OLS, or a mixed model with a random intercept per patient),"
        " correlates taxa with metabolites (Spearman), and cross-validates L1 logistic and"
        " random forest classifiers of a binary outcome on taxa, metabolites and both. Settings"
        " come from the config's integrate: and metadata: sections (--config; else the"
        " defaults), flags override them.",
    )
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument(
        "--taxa",
        metavar="TABLE",
        help="taxa table: ours (<rank>.counts.tsv), "
        "BIOM, or a plain TSV/CSV in either orientation "
        "(other profilers' outputs: `microbiome import-profiles` first)",
    )
    inputs.add_argument(
        "--taxa-format",
        choices=("microbiome", "biom", "tsv"),
        help="format of --taxa (default: detected)",
    )
    inputs.add_argument(
        "--taxa-orientation",
        choices=("auto", "samples-as-rows", "samples-as-columns"),
        help="orientation of a plain-TSV --taxa table (default: detected)",
    )
    inputs.add_argument(
        "--metabolites",
        metavar="TABLE",
        help="metabolite table: samples x metabolites (either orientation)",
    )
    inputs.add_argument(
        "--annotation",
        metavar="TABLE",
        help="metabolite annotation: first column the metabolite name",
    )
    inputs.add_argument("--metadata", required=True, metavar="SHEET", help="clinical sheet")
    inputs.add_argument("--sample-column", help="sample ID column of the sheet (default: found)")
    inputs.add_argument("--patient-column", help="patient ID column of the sheet (default: found)")
    inputs.add_argument(
        "--config",
        metavar="YAML",
        help="config with integrate: and metadata: sections (default: defaults)",
    )
    parser.add_argument("-o", "--outdir", required=True, help="output folder")
    parser.add_argument(
        "--exclude",
        metavar="STATUS_TSV",
        help="sample status table (microbiome sample-status): samples with excluded = yes are"
        " left out of every analysis and listed with the reason in join_report.tsv",
    )
    analysis = parser.add_argument_group("analysis (override the config)")
    analysis.add_argument(
        "--rank",
        help="collapse the taxa to this rank, e.g. genus (default: the config's"
        " integrate.rank with --config, else the table as it is)",
    )
    analysis.add_argument(
        "--variables",
        type=_list,
        metavar="A,B",
        help="clinical variables to test (default: the outcome)",
    )
    analysis.add_argument(
        "--covariates", type=_list, metavar="A,B", help="covariates of every model"
    )
    analysis.add_argument("--outcome", help="binary outcome column of the biomarker models")
    analysis.add_argument(
        "--positive",
        type=_list,
        metavar="L1,L2",
        help="level(s) of the outcome coded positive; the others negative",
    )
    analysis.add_argument("--folds", type=int, help="cross-validation folds")
    analysis.add_argument("--repeats", type=int, help="repeats of the cross-validation")
    analysis.add_argument("--permutations", type=int, help="label permutations (p-value)")
    analysis.add_argument(
        "--permutation-alpha",
        type=float,
        metavar="A",
        help="stop permuting once p > A is sure (0: draw every permutation)",
    )
    analysis.add_argument("--seed", type=int, help="random seed")
    analysis.add_argument(
        "--threads", type=int, help="processes of the cross-validation rounds and permutations"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the integration."""
    import dataclasses

    from microbiome.config import load_config, load_schema, schema_errors
    from microbiome.errors import ConfigError
    from microbiome.integrate.run import Settings, run_integrate

    if args.config:
        config = load_config(args.config)
    else:
        config = {}
        schema_errors(config, load_schema("config"))  # fills in the defaults
    if not args.taxa and not args.metabolites:
        raise ConfigError("give --taxa, --metabolites or both")
    settings = Settings.from_config(config["integrate"])
    if not args.config:  # the workflow's default rank is for its own tables: keep a table as it is
        settings = dataclasses.replace(settings, rank="")
    top = {
        k: getattr(args, k)
        for k in ("rank", "variables", "covariates", "outcome", "positive")
        if getattr(args, k) is not None
    }
    for k in ("variables", "covariates", "positive"):
        if k in top:
            top[k] = tuple(top[k])
    inner = {
        k: getattr(args, k)
        for k in ("folds", "repeats", "permutations", "seed", "threads")
        if getattr(args, k) is not None
    }
    for k, v in inner.items():
        if v < (2 if k == "folds" else 0 if k in ("permutations", "seed") else 1):
            raise ConfigError(f"--{k} {v} is too small")
    if args.permutation_alpha is not None:
        if not 0 <= args.permutation_alpha <= 1:
            raise ConfigError(f"--permutation-alpha {args.permutation_alpha} is not in [0, 1]")
        inner["permutation_alpha"] = args.permutation_alpha
    if args.taxa_orientation:
        top["taxa_orientation"] = args.taxa_orientation
    settings = dataclasses.replace(
        settings, **top, biomarkers=dataclasses.replace(settings.biomarkers, **inner)
    )
    meta_cfg = config["metadata"]
    exclude = None
    if args.exclude:
        from microbiome.status import read_exclusions

        exclude = read_exclusions(args.exclude)
    written = run_integrate(
        metadata_path=args.metadata,
        outdir=args.outdir,
        settings=settings,
        taxa_path=args.taxa,
        taxa_format=args.taxa_format,
        metabolites_path=args.metabolites,
        annotation_path=args.annotation,
        variable_types=meta_cfg["variables"] if args.config else None,
        sample_column=args.sample_column or meta_cfg["sample_column"] or None,
        patient_column=args.patient_column or meta_cfg["patient_column"] or None,
        exclude=exclude,
    )
    log.info("wrote %d outputs into %s", len(written), args.outdir)
    return 0
