"""Alpha and beta diversity, PCoA, PERMANOVA/PERMDISP and alpha tests against clinical metadata."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("microbiome")


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from microbiome.config import section_defaults

    # The defaults of the settings are the schema's (the config's diversity section).
    defaults = section_defaults("diversity")
    parser = subparsers.add_parser(
        "diversity",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " TABLE is one of our merged tables (results/tables/<rank>.counts.tsv), a BIOM file or"
        " a plain TSV of samples by taxa in either orientation. Writes into OUTDIR: alpha.tsv"
        " (Shannon with the natural log), beta/<metric>.distances.tsv, pcoa/, tests/"
        " (permanova.tsv, permdisp.tsv, alpha_tests.tsv, skipped_variables.tsv), excluded.tsv,"
        " figures/ (SVG and PNG) and parameters.json. All metrics and tests are scikit-bio's;"
        " when a patient (--patient-column) has several samples, permutations are restricted to"
        " patients and alpha is tested on patient means or by a mixed model.",
    )
    parser.add_argument("--table", required=True, help="taxa table (TSV or BIOM)")
    parser.add_argument("--metadata", help="clinical metadata sheet (TSV/CSV, one row per sample)")
    parser.add_argument("-o", "--outdir", required=True, help="output folder")
    parser.add_argument(
        "--orientation",
        choices=("auto", "samples-as-rows", "samples-as-columns"),
        default="auto",
        help="of a plain TSV (default: auto)",
    )
    parser.add_argument("--rank", help="collapse the table to this rank by lineage first")
    parser.add_argument(
        "--variables",
        type=_csv,
        help="comma-separated metadata columns to test (default: every column)",
    )
    parser.add_argument(
        "--variable-types",
        metavar="YAML",
        help="declared column types as in the config's `metadata: variables:`, inline YAML/JSON"
        " ('{bmi: {type: continuous}}') or a file holding that mapping (default: inferred)",
    )
    parser.add_argument("--sample-column", help="sample ID column of the metadata sheet")
    parser.add_argument("--patient-column", help="patient ID column of the metadata sheet")
    parser.add_argument(
        "--metrics",
        type=_csv,
        default=defaults["metrics"],
        help=f"comma-separated beta diversity metrics (default {','.join(defaults['metrics'])};"
        " also weighted_unifrac, unweighted_unifrac with --tree)",
    )
    parser.add_argument("--tree", help="Newick tree whose tips are the taxa (UniFrac, Faith's PD)")
    parser.add_argument(
        "--sketches",
        nargs="+",
        default=(),
        metavar="SKETCH",
        help="FracMinHash sketches of `microbiome kmer sketch`, one per sample, named by sample"
        " ID: adds the kmer_jaccard distance",
    )
    parser.add_argument(
        "--pseudocount",
        type=float,
        default=defaults["pseudocount"],
        help="added before the CLR (default %(default)s)",
    )
    parser.add_argument(
        "--rarefaction-depth",
        type=int,
        default=defaults["rarefaction_depth"],
        help="rarefy to this depth (default %(default)s; 0: off)",
    )
    parser.add_argument(
        "--rarefaction-repeats",
        type=int,
        default=defaults["rarefaction_repeats"],
        help="draws (default %(default)s)",
    )
    parser.add_argument(
        "--rarefaction-steps",
        type=int,
        default=defaults["rarefaction_steps"],
        help="depths per curve (default %(default)s)",
    )
    parser.add_argument(
        "--rarefaction-max-depth",
        type=int,
        default=defaults["rarefaction_max_depth"],
        help="deepest point of the rarefaction curves (default %(default)s; 0: the 95th"
        " percentile of the samples' depths, at least the rarefaction depth)",
    )
    parser.add_argument(
        "--no-curves",
        dest="rarefaction_curves",
        action="store_false",
        help="no rarefaction curves (no alpha.rarefaction_curves.tsv, no rarefaction figure)",
    )
    parser.add_argument(
        "--permutations",
        type=int,
        default=defaults["permutations"],
        help="of PERMANOVA and PERMDISP, restricted when patients repeat (default %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults["seed"], help="random seed (default %(default)s)"
    )
    parser.add_argument(
        "--missing",
        choices=("drop", "skip"),
        default=defaults["missing"],
        help="a variable with missing values: drop those samples from its tests or skip the"
        " variable (default %(default)s)",
    )
    parser.add_argument(
        "--no-figures", dest="figures", action="store_false", help="write the tables only"
    )
    parser.add_argument(
        "--exclude",
        metavar="STATUS_TSV",
        help="sample status table (microbiome sample-status): samples with excluded = yes are"
        " left out of every analysis and listed with the reason in excluded.tsv",
    )
    parser.set_defaults(func=run)


def _declarations(text: str | None) -> dict:
    """The --variable-types mapping, inline or from a file."""
    import os

    import yaml

    from microbiome.errors import ConfigError

    if not text:
        return {}
    try:
        if os.path.isfile(text):
            with open(text, encoding="utf-8") as f:
                declared = yaml.safe_load(f)
        else:
            declared = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--variable-types: not valid YAML or JSON: {exc}") from None
    if not isinstance(declared, dict):
        raise ConfigError("--variable-types: expected a mapping of column -> {type: ...}")
    return declared


def run(args: argparse.Namespace) -> int:
    """Run the diversity analysis."""
    from microbiome.diversity.run import DiversityOptions, run_diversity
    from microbiome.io.feature_table import read_feature_table

    metadata = None
    if args.metadata:
        from microbiome.io.metadata import read_metadata

        metadata = read_metadata(
            args.metadata,
            _declarations(args.variable_types),
            sample_column=args.sample_column,
            patient_column=args.patient_column,
        )
    table = read_feature_table(
        args.table,
        orientation=args.orientation,
        sample_ids=set(metadata.table.index) if metadata is not None else None,
    )
    options = DiversityOptions(
        metrics=tuple(args.metrics),
        variables=tuple(args.variables) if args.variables is not None else None,
        pseudocount=args.pseudocount,
        rarefaction_depth=args.rarefaction_depth,
        rarefaction_repeats=args.rarefaction_repeats,
        rarefaction_steps=args.rarefaction_steps,
        rarefaction_curves=args.rarefaction_curves,
        rarefaction_max_depth=args.rarefaction_max_depth,
        permutations=args.permutations,
        seed=args.seed,
        missing=args.missing,
        rank=args.rank,
        tree=args.tree,
        sketches=tuple(args.sketches),
        figures=args.figures,
    )
    exclude = None
    if args.exclude:
        from microbiome.status import read_exclusions

        exclude = read_exclusions(args.exclude)
    summary = run_diversity(table, metadata, args.outdir, options, exclude=exclude)
    log.info(
        "%d samples, %d taxa; tested: %s; wrote %s",
        summary["n_samples"],
        summary["n_features"],
        ", ".join(summary["variables_tested"]) or "nothing",
        args.outdir,
    )
    return 0
