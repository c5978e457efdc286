"""Read statistics of FASTQ/FASTA/SAM/BAM/CRAM files: counts, lengths, GC, N rate, qualities."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from pathlib import Path

from microbiome.errors import ConfigError
from microbiome.io.atomic import write_stdout, write_text_atomic
from microbiome.io.reads import DEFAULT_CHUNK_BYTES

log = logging.getLogger("microbiome")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " One sample per call: one file (single-end, or interleaved mates: SAM/BAM/CRAM or"
        " FASTQ, detected and read as pairs), two with --paired (mates are checked to pair"
        " record by record), or several single-end files reported one by one. Writes JSON with"
        " -o, and a table on stdout otherwise.",
    )
    parser.add_argument("reads", nargs="+", metavar="READS", help="reads files")
    parser.add_argument("-o", "--output", metavar="JSON", help="write the statistics as JSON")
    parser.add_argument("--tsv", metavar="TSV", help="also write the summary table (TSV)")
    parser.add_argument("-s", "--sample-id", help="sample name (default: from the first file)")
    parser.add_argument(
        "--paired", action="store_true", help="READS are mate 1 and mate 2 of one paired-end sample"
    )
    parser.add_argument("-t", "--threads", type=int, default=1, help="threads (default 1)")
    parser.add_argument(
        "--chunk-mb",
        type=int,
        default=DEFAULT_CHUNK_BYTES >> 20,
        help=f"MB of FASTQ text per batch (default {DEFAULT_CHUNK_BYTES >> 20})",
    )
    parser.set_defaults(func=run)

    merge = subparsers.add_parser(
        "merge-stats",
        help="Merge per-sample statistics JSON files into one table (TSV).",
        description="Merge the JSON files of `microbiome stats -o` into one TSV table, one row"
        " per sample and mate.",
    )
    merge.add_argument("json", nargs="+", metavar="JSON", help="per-sample statistics files")
    merge.add_argument("-o", "--output", metavar="TSV", help="output table (default: stdout)")
    merge.set_defaults(func=run_merge)


def sample_id(given: str | None, first_file: str, option: str = "-s/--sample-id") -> str:
    """The sample name: ``given`` (checked by the sample sheet's rule, naming ``option``), else
    made from the name of the first reads file."""
    from microbiome.io.samplesheet import check_sample_id

    return check_sample_id(given, option) if given is not None else _sample_name(first_file)


def _sample_name(path: str) -> str:
    name = Path(path).name
    for suffix in (
        ".gz",
        ".bz2",
        ".xz",
        ".zst",
        ".fastq",
        ".fq",
        ".fasta",
        ".fa",
        ".fna",
        ".bam",
        ".cram",
        ".sam",
    ):
        name = name.removesuffix(suffix)
    for mate in ("_R1_001", "_R1", "_1", ".R1", ".1"):
        if name.endswith(mate):
            return name.removesuffix(mate)
    return name


def _table(samples: list[dict]) -> str:
    from microbiome.stats import merge_tables, summary_columns

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=summary_columns(), delimiter="\t", lineterminator="\n")
    writer.writeheader()
    for row in merge_tables(samples):
        writer.writerow({k: "NA" if v is None else v for k, v in row.items()})
    return out.getvalue()


def run(args: argparse.Namespace) -> int:
    """Compute the statistics of one sample and write them."""
    from microbiome.stats import sample_stats

    if args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, not {args.threads}")
    if args.chunk_mb < 1:
        raise ConfigError(f"--chunk-mb must be at least 1, not {args.chunk_mb}")
    if args.paired and len(args.reads) != 2:
        raise ConfigError(f"--paired needs exactly two files, got {len(args.reads)}")
    if args.paired:
        from microbiome.io.samplesheet import check_distinct_mates

        check_distinct_mates(args.reads[0], args.reads[1], "the two files of --paired")
    sample = sample_id(args.sample_id, args.reads[0])
    options = {"threads": args.threads, "chunk_bytes": args.chunk_mb << 20}
    if args.paired:
        result = sample_stats(sample, args.reads[0], args.reads[1], **options)
    else:
        parts = [sample_stats(sample, path, **options) for path in args.reads]
        result = parts[0]
        for part in parts[1:]:
            if part["layout"] != "single" or result["layout"] != "single":
                raise ConfigError(
                    "an interleaved file (mates alternating) must be given on its own"
                )
            result["files"] += part["files"]
            result["reads"] += part["reads"]
    log.info(
        "%s: %s reads in %d file(s)",
        sample,
        f"{sum(f['reads'] for f in result['files']):,}",
        len(result["files"]),
    )
    if args.output:
        write_text_atomic(args.output, json.dumps(result, indent=1) + "\n")
    if args.tsv:
        write_text_atomic(args.tsv, _table([result]))
    if not args.output and not args.tsv:
        write_stdout(_table([result]))
    return 0


def run_merge(args: argparse.Namespace) -> int:
    """Merge per-sample JSON files into one table."""
    from microbiome.io.jsonfiles import load_sample_files

    samples = load_sample_files(
        args.json, keys=("files",), what="statistics file of `microbiome stats -o`"
    )
    text = _table(samples)
    if args.output:
        write_text_atomic(args.output, text)
    else:
        write_stdout(text)
    return 0
