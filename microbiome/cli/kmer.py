"""Count, inspect and sketch k-mers: count, dump, histo, query, sketch, compare."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import IO

from microbiome.errors import ConfigError
from microbiome.io.atomic import write_stdout

log = logging.getLogger("microbiome")


def _doc(func) -> str:
    return func.__doc__.strip().splitlines()[0]


def _description(func) -> str:
    return " ".join(line.strip() for line in func.__doc__.strip().splitlines())


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``microbiome kmer`` and its subcommands."""
    parser = subparsers.add_parser(
        "kmer",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " Canonical k-mers (k from 1 to 31), counted exactly; see docs/kmer.md.",
    )
    sub = parser.add_subparsers(dest="kmer_command", metavar="KMER_COMMAND")
    parser.set_defaults(func=lambda args: _no_subcommand(parser))

    count = sub.add_parser("count", help=_doc(run_count), description=_description(run_count))
    count.add_argument("reads", nargs="+", metavar="READS", help="FASTQ/FASTA, plain or gzip")
    count.add_argument("-k", "--kmer-size", type=int, default=31, help="k-mer length (default 31)")
    count.add_argument("-o", "--output", required=True, metavar="KMERS", help="count file to write")
    count.add_argument(
        "-m",
        "--min-count",
        type=int,
        default=1,
        help="write only k-mers seen at least this often (default 1)",
    )
    count.add_argument("-t", "--threads", type=int, default=1, help="threads (default 1)")
    count.set_defaults(func=run_count)

    dump = sub.add_parser("dump", help=_doc(run_dump), description=_description(run_dump))
    dump.add_argument("counts", metavar="KMERS", help="count file of `microbiome kmer count`")
    dump.add_argument("-o", "--output", metavar="TSV", help="output file (default: stdout)")
    dump.add_argument(
        "-m", "--min-count", type=int, default=1, help="print only k-mers counted this often"
    )
    dump.set_defaults(func=run_dump)

    histo = sub.add_parser("histo", help=_doc(run_histo), description=_description(run_histo))
    histo.add_argument("counts", metavar="KMERS", help="count file of `microbiome kmer count`")
    histo.add_argument("-o", "--output", metavar="TSV", help="output file (default: stdout)")
    histo.set_defaults(func=run_histo)

    query = sub.add_parser("query", help=_doc(run_query), description=_description(run_query))
    query.add_argument("counts", metavar="KMERS", help="count file of `microbiome kmer count`")
    query.add_argument("kmers", nargs="+", metavar="KMER", help="k-mers (strings of length k)")
    query.set_defaults(func=run_query)

    sketch = sub.add_parser("sketch", help=_doc(run_sketch), description=_description(run_sketch))
    sketch.add_argument("reads", nargs="+", metavar="READS", help="FASTQ/FASTA, plain or gzip")
    sketch.add_argument("-o", "--output", required=True, metavar="SKETCH", help="file to write")
    sketch.add_argument("-k", "--kmer-size", type=int, default=31, help="k-mer length (default 31)")
    sketch.add_argument(
        "-s", "--scaled", type=int, default=1000, help="keep about 1 k-mer in SCALED (default 1000)"
    )
    sketch.add_argument("--seed", type=int, default=42, help="hash seed (default 42)")
    sketch.add_argument("-n", "--name", help="sketch name (default: from the first file)")
    sketch.set_defaults(func=run_sketch)

    compare = sub.add_parser(
        "compare", help=_doc(run_compare), description=_description(run_compare)
    )
    compare.add_argument("sketches", nargs="+", metavar="SKETCH", help="sketch files")
    compare.add_argument("--jaccard", metavar="TSV", help="write the Jaccard matrix here")
    compare.add_argument("--containment", metavar="TSV", help="write the containment matrix here")
    compare.set_defaults(func=run_compare)


def _no_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _check_positive(value: int, flag: str) -> None:
    if value < 1:
        raise ConfigError(f"{flag} must be at least 1, not {value}")


@contextlib.contextmanager
def _output(path: str | None, binary: bool = False) -> Iterator[IO]:
    """An output stream: stdout when ``path`` is None or ``-`` (streamed), else the file (see
    :func:`~microbiome.io.atomic.atomic_path`)."""
    from microbiome.io.atomic import STDOUT, atomic_path, stdout_errors

    if path is None or path == STDOUT:
        with stdout_errors():
            yield sys.stdout.buffer if binary else sys.stdout
        return

    with (
        atomic_path(path) as tmp,
        open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as f,
    ):
        yield f


def run_count(args: argparse.Namespace) -> int:
    """Count the canonical k-mers of reads files exactly, into one count file.

    All files (FASTQ or FASTA, plain or gzip) are counted together; a k-mer and its reverse
    complement count as one, k-mers covering a base other than A, C, G, T are skipped.
    """
    from microbiome.kmer.count import count_kmers
    from microbiome.kmer.encoding import check_k

    check_k(args.kmer_size, "-k")
    _check_positive(args.threads, "--threads")
    _check_positive(args.min_count, "--min-count")
    summary = count_kmers(
        args.reads, args.output, args.kmer_size, threads=args.threads, min_count=args.min_count
    )
    log.info(
        "%s reads, %s k-mers, %s distinct, %s written to %s",
        f"{summary.reads:,}",
        f"{summary.total_kmers:,}",
        f"{summary.distinct_kmers:,}",
        f"{summary.written_kmers:,}",
        args.output,
    )
    return 0


def run_dump(args: argparse.Namespace) -> int:
    """Print KMER<TAB>COUNT lines of a count file, sorted by k-mer.

    The lines are those of `jellyfish dump -c -t` for a canonical (-C) count, in sorted order.
    """
    from microbiome.kmer.report import dump_lines

    _check_positive(args.min_count, "--min-count")
    with _output(args.output, binary=True) as out:
        for chunk in dump_lines(args.counts, min_count=args.min_count):
            out.write(chunk)
    return 0


def run_histo(args: argparse.Namespace) -> int:
    """Print COUNT<TAB>NUMBER_OF_KMERS lines: how many k-mers were seen each number of times.

    Only counts that occur are listed, ascending, as `jellyfish histo` does.
    """
    from microbiome.kmer.report import histogram

    counts, numbers = histogram(args.counts)
    with _output(args.output) as out:
        out.write("".join(f"{c}\t{n}\n" for c, n in zip(counts, numbers, strict=True)))
    return 0


def run_query(args: argparse.Namespace) -> int:
    """Print KMER<TAB>COUNT for each k-mer given (0 if absent), looked up in a count file.

    A k-mer and its reverse complement give the same count.
    """
    from microbiome.kmer.report import query

    for text, count in zip(args.kmers, query(args.counts, args.kmers), strict=True):
        write_stdout(f"{text.upper()}\t{count}\n")
    return 0


def run_sketch(args: argparse.Namespace) -> int:
    """Make a FracMinHash sketch of a sample's reads or of a genome (FASTQ/FASTA).

    Keeps every canonical k-mer whose seeded hash falls below 2**64/SCALED, with its abundance;
    all files given make one sketch.
    """
    from microbiome.io.samplesheet import check_sample_id
    from microbiome.kmer.encoding import check_k
    from microbiome.kmer.format import write_sketch
    from microbiome.kmer.sketch import sketch_files

    check_k(args.kmer_size, "-k")
    _check_positive(args.scaled, "--scaled")
    if args.name is not None:
        check_sample_id(args.name, "-n/--name")
    if not 0 <= args.seed < 2**64:
        raise ConfigError(f"--seed must be from 0 to 2**64 - 1, not {args.seed}")
    sketch = sketch_files(
        args.reads, k=args.kmer_size, scaled=args.scaled, seed=args.seed, name=args.name
    )
    write_sketch(args.output, sketch)
    log.info(
        "%s: %s hashes from %s k-mers", sketch.name, f"{len(sketch):,}", f"{sketch.total_kmers:,}"
    )
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Compare sketches: Jaccard and containment matrices (TSV, rows and columns by name).

    Containment row A, column B is the fraction of A's k-mers found in B. Without --jaccard or
    --containment both matrices go to stdout, each after a '# jaccard' or '# containment' line.
    """
    from microbiome.kmer.sketch import compare_files

    result = compare_files(args.sketches)
    jaccard = result.jaccard.to_csv(sep="\t", float_format="%.6g", index_label="sample")
    contain = result.containment.to_csv(sep="\t", float_format="%.6g", index_label="sample")
    if args.jaccard:
        with _output(args.jaccard) as out:
            out.write(jaccard)
    if args.containment:
        with _output(args.containment) as out:
            out.write(contain)
    if not args.jaccard and not args.containment:
        write_stdout(f"# jaccard\n{jaccard}# containment\n{contain}")
    return 0
