#!/usr/bin/env python3
"""Database build time and peak memory at several sizes: ``microbiome db build`` against
``kraken2-build`` on the same sequences and taxonomy. Not a test.

Issue 15's "real-size databases" benchmark. The references are the shared genomes
(``/work/shared/data/genomes``, all 23) plus seeded mutated copies of them: copy ``c`` of a
genome substitutes each base with probability ``--rate`` (default 0.05, a uniformly drawn other
base; N stays N; ``numpy.random.default_rng((c, genome index))``), and is a new species (taxid
``900000000 + 100 c + genome index``, named ``<species> mutant c``) under the genus of its
original, added to a copy of the shared NCBI taxdump subset. A database of ``n`` sets is the 23
originals plus copies 1 .. n-1, one plain FASTA per set (``>SEQID|kraken:taxid|TAXID``
headers). At 5 % substitutions about 80 % of a copy's 31-mer minimizers are new, so a copy adds
nearly as much to the table as a new species would; at 1 % most would be shared.

Per size it runs, one after the other:

- ``kraken2-build --add-to-library`` per set file (``--no-masking``), then ``--build
  --threads T``: wall time summed, peak RSS the largest of those steps;
- ``microbiome db build -t T`` with the default ``--max-memory`` and with ``--max-memory M``
  (default ``1G``), which must give the same file, byte for byte (compared here).

Wall time and peak RSS come from ``wait4`` on each command (``ru_maxrss`` covers the command's
whole process tree: the largest of it and its waited-for descendants). Printed: database sizes,
wall, peak RSS and the ratios to Kraken 2's. Inputs are cached in ``benchmarks/work/dbscale``;
results in ``results.json`` there (``--rerun`` rebuilds).

Usage: python benchmarks/db_build_scale.py [--sets 2 6 14] [--rate 0.05] [--threads 2]
       [--max-memory 1G] [--bounded-largest-only] [--rerun | --rerun-ours]
"""

from __future__ import annotations

import argparse
import filecmp
import gzip
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from common import WORK, need, timed
from profile_vs_kraken2 import GENOMES, TAXDUMP, Tax, genome_table

OUT = WORK / "dbscale"
TAXID_BASE = 900_000_000
_OTHER = np.frombuffer(b"CGTAAGTACTTACGTA", dtype=np.uint8).reshape(4, 4)  # row: base, col: 1..3


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def read_fasta(path: Path) -> list[tuple[str, np.ndarray]]:
    records, name, chunks = [], None, []
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.startswith(">"):
                if name is not None:
                    records.append((name, np.frombuffer("".join(chunks).encode(), np.uint8)))
                name, chunks = line[1:].split()[0], []
            else:
                chunks.append(line.strip().upper())
    if name is not None:
        records.append((name, np.frombuffer("".join(chunks).encode(), np.uint8)))
    return records


def mutate(seq: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``seq`` with each A/C/G/T replaced by another base with probability ``rate``."""
    out = seq.copy()
    code = np.full(256, -1, dtype=np.int8)
    code[list(b"ACGT")] = [0, 1, 2, 3]
    where = np.flatnonzero((rng.random(seq.shape[0]) < rate) & (code[seq] >= 0))
    shift = rng.integers(0, 3, size=where.shape[0])
    out[where] = _OTHER[code[seq[where]], shift]
    return out


def make_inputs(sets: int, rate: float) -> tuple[list[Path], Path]:
    """The set files 0 .. sets-1 and the taxonomy folder (cached)."""
    genomes = genome_table()
    tax = Tax(TAXDUMP)
    names = {}
    with open(TAXDUMP / "names.dmp") as f:
        for line in f:
            cols = line.split("\t|\t")
            if cols[3].startswith("scientific name"):
                names[int(cols[0])] = cols[1]
    folder = OUT / f"refs_rate{rate}"
    folder.mkdir(parents=True, exist_ok=True)
    taxonomy = folder / f"taxonomy_{sets}"
    if not (taxonomy / "names.dmp").exists():
        taxonomy.mkdir(exist_ok=True)
        nodes = (TAXDUMP / "nodes.dmp").read_text()
        extra_nodes, extra_names = [], []
        for c in range(1, sets):
            for i, g in enumerate(genomes):
                taxid = TAXID_BASE + 100 * c + i
                genus = tax.at(g["species"], "genus") or tax.parent[g["species"]]
                extra_nodes.append(f"{taxid}\t|\t{genus}\t|\tspecies\t|" + "\t\t|" * 10 + "\n")
                name = f"{names.get(g['species'], g['species'])} mutant {c}"
                extra_names.append(f"{taxid}\t|\t{name}\t|\t\t|\tscientific name\t|\n")
        (taxonomy / "nodes.dmp").write_text(nodes + "".join(extra_nodes))
        (taxonomy / "names.dmp").write_text(
            (TAXDUMP / "names.dmp").read_text() + "".join(extra_names)
        )
    files = []
    originals = None
    for c in range(sets):
        path = folder / f"set{c:02d}.fa"
        files.append(path)
        if path.exists():
            continue
        if originals is None:
            originals = [read_fasta(GENOMES / g["file"]) for g in genomes]
        log(f"writing {path.name}")
        with open(f"{path}.part", "wb") as out:
            for i, (g, records) in enumerate(zip(genomes, originals, strict=True)):
                rng = np.random.default_rng((c, i))
                taxid = g["taxid"] if c == 0 else TAXID_BASE + 100 * c + i
                for name, seq in records:
                    seq = seq if c == 0 else mutate(seq, rate, rng)
                    seqid = name if c == 0 else f"{name}_m{c}"
                    out.write(f">{seqid}|kraken:taxid|{taxid}\n".encode())
                    for start in range(0, seq.shape[0], 80):
                        out.write(seq[start : start + 80].tobytes() + b"\n")
        Path(f"{path}.part").rename(path)
    return files, taxonomy


def build_kraken2(files: list[Path], taxonomy: Path, threads: int, db: Path) -> dict:
    build = need("kraken2-build", "kraken2")
    shutil.rmtree(db, ignore_errors=True)
    shutil.copytree(taxonomy, db / "taxonomy")
    wall, rss = 0.0, 0.0
    for path in files:
        t = timed([build, "--add-to-library", str(path), "--db", str(db), "--no-masking"])
        wall, rss = wall + t.wall, max(rss, t.max_rss_mb)
    t = timed([build, "--build", "--db", str(db), "--threads", str(threads)])
    size = sum((db / f).stat().st_size for f in ("hash.k2d", "opts.k2d", "taxo.k2d"))
    shutil.rmtree(db / "library", ignore_errors=True)  # disk: the copies of the inputs
    return {"wall_s": wall + t.wall, "build_only_s": t.wall, "rss_mb": max(rss, t.max_rss_mb),
            "size_mb": size / 1e6}  # fmt: skip


def build_ours(
    microbiome: str, files: list[Path], taxonomy: Path, threads: int, db: Path, memory: str | None
) -> dict:
    db.unlink(missing_ok=True)
    command = [microbiome, "db", "build", "--sequences", *map(str, files), "--taxonomy",
               str(taxonomy), "-t", str(threads), "-o", str(db), "-q"]  # fmt: skip
    if memory:
        command += ["--max-memory", memory]
    t = timed(command)
    return {"wall_s": t.wall, "rss_mb": t.max_rss_mb, "size_mb": db.stat().st_size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, nargs="+", default=[2, 6, 14])
    parser.add_argument("--rate", type=float, default=0.05, help="substitutions per base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--max-memory", default="1G", help="ours with this --max-memory too ('none': not)"
    )
    parser.add_argument(
        "--bounded-largest-only", action="store_true", help="--max-memory at the largest only"
    )
    parser.add_argument(
        "--rerun-ours", action="store_true", help="re-measure ours, keep Kraken 2's figures"
    )
    parser.add_argument("--rerun", action="store_true", help="rebuild sizes already measured")
    args = parser.parse_args()

    microbiome = shutil.which("microbiome") or sys.exit("benchmark: install the package first")
    OUT.mkdir(parents=True, exist_ok=True)
    store = OUT / "results.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    for sets in args.sets:
        key = f"{sets}@{args.rate}/{args.max_memory}"
        if key in results and not (args.rerun or args.rerun_ours):
            continue
        files, taxonomy = make_inputs(sets, args.rate)
        bases = sum(p.stat().st_size for p in files)
        row: dict = {"sets": sets, "rate": args.rate, "fasta_mb": bases / 1e6}
        log(f"{sets} sets: microbiome db build")
        ours, bounded = OUT / f"sets{sets}.mbdb", OUT / "bounded.mbdb"
        row["ours"] = build_ours(microbiome, files, taxonomy, args.threads, ours, None)
        results[key] = {**results.get(key, {}), **row}  # ours is kept if Kraken 2 is stopped
        store.write_text(json.dumps(results, indent=1))
        if key in results and "kraken2" in results[key] and args.rerun_ours and not args.rerun:
            row["kraken2"] = results[key]["kraken2"]
        else:
            log(f"{sets} sets: kraken2-build")
            row["kraken2"] = build_kraken2(files, taxonomy, args.threads, OUT / "kraken2_db")
        if args.max_memory != "none" and (sets == max(args.sets) or not args.bounded_largest_only):
            log(f"{sets} sets: microbiome db build --max-memory {args.max_memory}")
            row["ours_bounded"] = build_ours(
                microbiome, files, taxonomy, args.threads, bounded, args.max_memory
            )
            row["identical"] = filecmp.cmp(ours, bounded, shallow=False)
            bounded.unlink()
        results[key] = row
        store.write_text(json.dumps(results, indent=1))

    bound = args.max_memory
    print(f"| sets | FASTA MB | DB MB ours / K2 | wall s K2 / ours / ours {bound} | peak RSS MB "
          f"K2 / ours / ours {bound} | wall ratio | RSS ratio | same bytes |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for sets in args.sets:
        r = results[f"{sets}@{args.rate}/{args.max_memory}"]
        if "kraken2" not in r:
            continue
        k2, a = r["kraken2"], r["ours"]
        b = r.get("ours_bounded", {"wall_s": float("nan"), "rss_mb": float("nan")})
        same = {True: "yes", False: "NO"}.get(r.get("identical"), "-")
        print(
            f"| {sets} | {r['fasta_mb']:.0f} | {a['size_mb']:.0f} / {k2['size_mb']:.0f} | "
            f"{k2['wall_s']:.0f} / {a['wall_s']:.0f} / {b['wall_s']:.0f} | "
            f"{k2['rss_mb']:.0f} / {a['rss_mb']:.0f} / {b['rss_mb']:.0f} | "
            f"{a['wall_s'] / k2['wall_s']:.2f} / {b['wall_s'] / k2['wall_s']:.2f} | "
            f"{a['rss_mb'] / k2['rss_mb']:.2f} / {b['rss_mb'] / k2['rss_mb']:.2f} | {same} |"
        )


if __name__ == "__main__":
    main()
