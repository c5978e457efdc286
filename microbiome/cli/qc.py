"""Quality control of one sample: adapter and quality trimming, filters, host removal."""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from pathlib import Path

from microbiome.errors import ConfigError

log = logging.getLogger("microbiome")

#: Flags that set a QC setting of the same name (dashes for underscores).
SETTING_FLAGS = {
    "engine": str,
    "adapters": str,
    "adapter_error_rate": float,
    "adapter_min_overlap": int,
    "quality_cutoff": int,
    "max_n": float,
    "min_length": int,
    "complexity_threshold": float,
    "host_method": str,
    "host_threshold": float,
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from microbiome.config import section_defaults

    defaults = section_defaults("qc")
    parser = subparsers.add_parser(
        "qc",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " Writes the cleaned reads (gzip FASTQ) and <sample>.qc.json into OUTDIR. Defaults of"
        " every setting are those of the workflow config (microbiome/schemas/config.schema.yaml,"
        " section qc), which also gives their ranges.",
    )
    parser.add_argument(
        "-1",
        dest="reads1",
        required=True,
        metavar="R1",
        help="reads (mate 1, single-end, or both mates interleaved: FASTQ or BAM/CRAM, detected"
        " and read as pairs)",
    )
    parser.add_argument("-2", dest="reads2", metavar="R2", help="mate 2 of paired-end reads")
    host = parser.add_mutually_exclusive_group()
    host.add_argument(
        "--host",
        nargs="+",
        metavar="FASTA",
        help="host reference(s) to index and remove (human, usually)",
    )
    host.add_argument(
        "--host-index",
        metavar="INDEX",
        help="a host index of `microbiome qc-index` (with --host-method bowtie2:"
        " the prefix of a Bowtie 2 index)",
    )
    parser.add_argument("-o", "--outdir", required=True, help="output folder")
    parser.add_argument("-s", "--sample-id", help="sample name (default: from the R1 file name)")
    parser.add_argument("-t", "--threads", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--settings",
        metavar="JSON",
        help="QC settings as a JSON object (keys of the config's qc section); flags override it",
    )
    # default None: a flag overrides --settings only when given; the schema's default otherwise
    for name, kind in SETTING_FLAGS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=kind,
            default=None,
            help=f"setting {name} (default {defaults[name]})",
        )
    parser.add_argument(
        "--no-trim-n",
        dest="trim_n",
        action="store_false",
        default=None,
        help="do not trim N bases at read ends",
    )
    parser.add_argument("--dedup", action="store_true", default=None, help="remove duplicates")
    parser.add_argument(
        "--keep-singletons",
        action="store_true",
        default=None,
        help="keep surviving mates of dropped pairs",
    )
    parser.set_defaults(func=run)

    index = subparsers.add_parser(
        "qc-index",
        help="Build the host index (minimizers of a host genome) used by `microbiome qc`.",
        description="Index the minimizers of host FASTA files (plain or gzip) into one"
        " memory-mapped file, shared by every QC job.",
    )
    index.add_argument("references", nargs="+", metavar="FASTA", help="host sequences")
    index.add_argument("-o", "--output", required=True, help="index file to write")
    index.add_argument(
        "-l",
        type=int,
        default=defaults["host_l"],
        help="minimizer length (default %(default)s, the config's qc.host_l)",
    )
    index.add_argument(
        "-w",
        type=int,
        default=defaults["host_w"],
        help="minimizer window (default %(default)s, the config's qc.host_w)",
    )
    index.add_argument(
        "--bowtie2",
        action="store_true",
        help="build a Bowtie 2 index (OUTPUT is its prefix) for --host-method bowtie2",
    )
    index.add_argument("-t", "--threads", type=int, default=1, help="threads (bowtie2-build)")
    index.set_defaults(func=run_index)

    merge = subparsers.add_parser(
        "merge-qc",
        help="Merge per-sample QC statistics into one table and MultiQC custom content.",
        description="Merge <sample>.qc.json files into one TSV (one row per sample); with"
        " --multiqc, also write *_mqc.tsv files that `multiqc` picks up.",
    )
    merge.add_argument("json", nargs="+", metavar="JSON", help="per-sample QC statistics")
    merge.add_argument("-o", "--output", required=True, metavar="TSV", help="merged table")
    merge.add_argument("--multiqc", metavar="DIR", help="folder for MultiQC custom content")
    merge.set_defaults(func=run_merge)


def _settings(args: argparse.Namespace):
    from microbiome.qc.pipeline import QCSettings

    values = {}
    if args.settings:
        try:
            values = json.loads(args.settings)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--settings is not valid JSON: {exc.msg}") from exc
        if not isinstance(values, dict):
            raise ConfigError("--settings must be a JSON object")
    for name in (*SETTING_FLAGS, "trim_n", "dedup", "keep_singletons"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    return QCSettings.from_mapping(values)


def run(args: argparse.Namespace) -> int:
    """QC of one sample."""
    from microbiome.cli.stats import sample_id
    from microbiome.io.atomic import write_text_atomic
    from microbiome.io.samplesheet import check_distinct_mates
    from microbiome.qc import bowtie2
    from microbiome.qc.host import build_host_index
    from microbiome.qc.pipeline import run_qc

    if args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, not {args.threads}")
    settings = _settings(args)
    sample = sample_id(args.sample_id, args.reads1)
    check_distinct_mates(args.reads1, args.reads2)
    outdir = Path(args.outdir)
    with _scratch(outdir) as tmp:
        index = args.host_index
        if args.host and settings.host_method == "bowtie2":
            index = os.path.join(tmp, "host")
            bowtie2.build_index(args.host, index, threads=args.threads)
        elif args.host:
            index = os.path.join(tmp, "host.idx")
            build_host_index(args.host, index)
        result = run_qc(
            sample,
            args.reads1,
            args.reads2,
            outdir,
            settings,
            host_index=index,
            threads=args.threads,
        )
    write_text_atomic(outdir / f"{sample}.qc.json", json.dumps(result.to_dict(), indent=1) + "\n")
    return 0


def _scratch(outdir: Path) -> tempfile.TemporaryDirectory:
    """A temporary folder in ``outdir`` (made) for a host index built on the fly; an OSError
    (a read-only folder) names ``outdir``, not the temporary folder's name."""
    from microbiome.io.atomic import make_folder

    try:
        return tempfile.TemporaryDirectory(prefix=".host-index-", dir=make_folder(outdir))
    except OSError as exc:
        if exc.filename is not None and os.fspath(exc.filename).startswith(os.fspath(outdir)):
            exc.filename = os.fspath(outdir)
        raise


def run_index(args: argparse.Namespace) -> int:
    """Build a host index."""
    from microbiome.qc import bowtie2
    from microbiome.qc.host import build_host_index

    if args.bowtie2:
        bowtie2.build_index(args.references, args.output, threads=args.threads)
        log.info("%s: Bowtie 2 index built", args.output)
        return 0
    header = build_host_index(args.references, args.output, l=args.l, w=args.w)
    log.info(
        "%s: %s minimizers of %s bases", args.output, f"{header['n']:,}", f"{header['bases']:,}"
    )
    return 0


def run_merge(args: argparse.Namespace) -> int:
    """Merge per-sample QC statistics."""
    from microbiome.io.atomic import write_text_atomic
    from microbiome.io.jsonfiles import load_sample_files
    from microbiome.qc.summary import merged_table, multiqc_fates, multiqc_general_stats

    samples = load_sample_files(
        args.json, keys=("steps",), what="QC statistics file of `microbiome qc`"
    )
    write_text_atomic(args.output, merged_table(samples))
    if args.multiqc:
        folder = Path(args.multiqc)
        write_text_atomic(
            folder / "microbiome_qc_general_stats_mqc.tsv", multiqc_general_stats(samples)
        )
        write_text_atomic(folder / "microbiome_qc_fates_mqc.tsv", multiqc_fates(samples))
    return 0
