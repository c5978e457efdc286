"""Build, inspect and check the taxonomic profiling database: build, inspect, check."""

from __future__ import annotations

import argparse
import logging
import sys

from microbiome.errors import ConfigError
from microbiome.io.atomic import write_stdout

log = logging.getLogger("microbiome")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``microbiome db`` and its subcommands."""
    parser = subparsers.add_parser(
        "db",
        help=__doc__.splitlines()[0],
        description=__doc__
        + " Every reference minimizer maps to the lowest common ancestor of the taxa of the"
        " sequences that contain it (Kraken 2's design); one memory-mapped file.",
    )
    sub = parser.add_subparsers(dest="db_command", metavar="DB_COMMAND")
    parser.set_defaults(func=lambda args: _no_subcommand(parser))

    build = sub.add_parser(
        "build",
        help="build a database from reference genomes and a taxonomy",
        description="Build a database from reference genomes (FASTA, plain or compressed, or"
        " GenBank) and a taxonomy (NCBI taxdump folder or GTDB TSV). A sequence's taxid comes"
        " from 'kraken:taxid|N' in its header, the GenBank source taxon, or --seqid2taxid (by"
        " sequence ID or file name). Prints the per-genome summary on stdout.",
    )
    build.add_argument(
        "--sequences",
        nargs="+",
        required=True,
        metavar="FASTA",
        help="reference FASTA/GenBank files, or folders of them",
    )
    build.add_argument(
        "--taxonomy",
        required=True,
        metavar="TAXONOMY",
        help="NCBI taxdump folder (nodes.dmp, names.dmp) or GTDB taxonomy TSV",
    )
    build.add_argument(
        "--seqid2taxid",
        metavar="MAP",
        help="TSV of sequence ID or file name -> taxid (or with a header naming a taxid column)",
    )
    build.add_argument(
        "--rename-duplicates",
        action="store_true",
        help="a sequence ID used in more than one file is an error, unless this renames each"
        " to '<file name>:<ID>' (also a --seqid2taxid key); renamed IDs are logged and listed in"
        " the summary",
    )
    build.add_argument("-k", type=int, default=31, help="minimizer length (default 31)")
    build.add_argument("-w", type=int, default=15, help="minimizer window in k-mers (default 15)")
    build.add_argument("--seed", type=int, default=0, help="minimizer hash seed (default 0)")
    build.add_argument(
        "--read-length",
        type=int,
        default=150,
        help="read length of the k-mer distribution stored for abundance estimation"
        " (Bracken's -r; default 150): use the read length of your samples",
    )
    build.add_argument(
        "--step",
        type=int,
        help="distance between the reference windows classified for the k-mer distribution"
        " (default: read length / 10)",
    )
    build.add_argument("-t", "--threads", type=int, default=2, help="threads (default 2)")
    build.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory the build may use, e.g. 4G or 500M (K, M, G, T: powers of 1024; KB, MB, GB,"
        " TB: of 1000); minimizers beyond it are spilled to temporary files next to the output;"
        " the database is the same whatever the value (default: half the machine's or the"
        " job's memory)",
    )
    build.add_argument("-o", "--output", required=True, metavar="DB", help="database file")
    build.set_defaults(func=run_build)

    inspect = sub.add_parser(
        "inspect",
        help="print a database's parameters and per-genome and per-taxon summary",
        description="Print a database's parameters (on stderr) and its per-genome and per-taxon"
        " summary as TSV (on stdout); checks every block of the file against its digest.",
    )
    inspect.add_argument("database", metavar="DB")
    inspect.set_defaults(func=run_inspect)

    check = sub.add_parser(
        "check",
        help="check every block of a database against its digest",
        description="Read the whole database and check every 4 KiB block against its digest"
        " (classify checks only the blocks it reads, as it reads them). Exit 0 and one line on"
        " stderr if the file is intact, 1 and the first corrupt block if not.",
    )
    check.add_argument("database", metavar="DB")
    check.set_defaults(func=run_check)


def _no_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_build(args: argparse.Namespace) -> int:
    """Build a database."""
    from microbiome.profile.database import build_database, parse_memory, summary_table

    if args.threads < 1:
        raise ConfigError(f"--threads must be at least 1 (got {args.threads})")
    max_memory = None if args.max_memory is None else parse_memory(args.max_memory)
    header = build_database(
        args.sequences,
        args.taxonomy,
        args.seqid2taxid,
        args.output,
        k=args.k,
        w=args.w,
        seed=args.seed,
        threads=args.threads,
        read_length=args.read_length,
        step=args.step,
        rename_duplicates=args.rename_duplicates,
        max_memory=max_memory,
    )
    write_stdout(summary_table(header))
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    """Inspect a database."""
    from microbiome.profile.database import load_database, summary_table

    db = load_database(args.database)
    db.check()
    h = db.header
    dist = h["kmer_distribution"]
    log.info(
        "%s: format %d, k=%d, w=%d, seed=%d, %d minimizers, %d taxa, %d genomes, %.1f Mbp, "
        "k-mer distribution of %d species for %d bp reads (windows every %d bp), "
        "checksum %s (ok)",
        db.path,
        h["format_version"],
        db.k,
        db.w,
        db.seed,
        len(db),
        len(db.taxonomy),
        len(db.genomes),
        h["bases"] / 1e6,
        dist["species"],
        dist["read_length"],
        dist["step"],
        h["checksum"],
    )
    write_stdout(summary_table(h))
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Check a database's every block."""
    from microbiome.profile.database import load_database

    db = load_database(args.database)
    blocks = db.check()
    log.info(
        "%s: %d blocks of %d bytes match their digests (checksum %s)",
        db.path,
        blocks,
        db.header["block_bytes"],
        db.header["checksum"],
    )
    return 0
