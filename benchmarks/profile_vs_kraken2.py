#!/usr/bin/env python3
"""Accuracy and speed of ``microbiome classify`` against Kraken 2 on mock gut communities.

Issue 4's benchmark. Not a test. From the shared genomes (``/work/shared/data/genomes``) and the
shared NCBI taxdump subset it:

1. builds a Kraken 2 database (``kraken2-build --add-to-library`` per genome with
   ``>SEQID|kraken:taxid|TAXID`` headers, ``--no-masking``, then ``--build --threads T``) and ours
   (``microbiome db build -t T``) from the SAME sequences and taxonomy, leaving out two genomes to
   test generalisation: E. coli O157:H7 Sakai (a strain absent whose species stays, through K-12
   and SE15) and Enterococcus casseliflavus (a species absent; its genus stays);
2. simulates mock communities with ART (HiSeq 2500, 2 x 150 bp, insert 300 +- 30), one ART run per
   genome so that every read's origin is known, with different species mixes that include the
   held-out strain and species, plus 3 % human reads (the human pieces in
   ``/work/shared/data/host``), shuffled, as plain FASTQ;
3. classifies each community with both tools (``--threads T``, per-read output and report), and
   prints side by side, per community and mean: read-level species and genus sensitivity, the
   wrong-species rate, L1 distance and Bray-Curtis dissimilarity of the report profiles to the
   truth at species and genus, species presence F1 (0.1 % threshold), reads per second, peak RSS,
   database build time and size; then PASS/FAIL per target of issue 4.

Definitions (a read is a pair, one fragment):
- *species sensitivity*: of the bacterial reads whose species is in the database, the share
  assigned to that species or one of its strains;
- *wrong-species rate*: of all bacterial reads, the share assigned to (a strain of) another species;
- *genus sensitivity*: of the bacterial reads whose genus is in the database, the share assigned to
  that genus or below it;
- *profiles*: the reports' clade reads at rank S (or G) divided by the classified reads (so reads
  left above the rank count as missing mass); truth: reads per species (genus) over the bacterial
  reads. L1 = sum |p - q| (0..2); Bray-Curtis = sum |p - q| / sum (p + q);
- *presence F1*: species at >= 0.1 % in the profile against species at >= 0.1 % in the truth.

Inputs and databases are cached in benchmarks/work/profile/ (``--rebuild`` rebuilds the databases
and re-times their builds). Wall time and peak RSS come from ``wait4`` on each child; both tools
get one untimed warm-up run (numba's compilation cache, the databases in the page cache); with
``--runs N`` the fastest of N classification runs counts. Both are also timed without per-read
output (Kraken 2 ``--output /dev/null``), and ours with ``--abundance bracken`` and ``em`` when
``microbiome classify`` has that option (profiles then from the ``abundance`` column of ``--tsv``).

Usage: python benchmarks/profile_vs_kraken2.py [--pairs 200000] [--communities 3] [--threads 2]
       [--runs 1] [--rebuild]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from common import ROOT, WORK, art_pairs, best_of, need, timed

SHARED = ROOT.parent / "shared" / "data"
GENOMES = SHARED / "genomes"
TAXDUMP = SHARED / "taxonomy" / "ncbi_taxdump_subset"
HOST = SHARED / "host"
OUT = WORK / "profile"

HELD_OUT = {
    "NC_002695.2__Escherichia_coli_O157H7_Sakai.fna.gz": "strain absent, species present",
    "NC_020995.1__Enterococcus_casseliflavus_EC20.fna.gz": "species absent, genus present",
}
HUMAN_FRACTION = 0.03
THRESHOLD = 0.001  # presence threshold for F1

# Relative read shares per community (keys: start of the genome file name). Every community
# holds the held-out strain (Sakai) and species (E. casseliflavus).
MIXES = [
    # 1: even-ish mix of everything (incl. the skin contaminant and the 80 kb B. fragilis piece)
    {"*": 1.0, "NZ_CP069563.1": 0.05, "GCF_006742205.1": 0.3},
    # 2: Enterobacteriaceae bloom: E. coli strains, Shigella, Salmonella, Klebsiella
    {"NC_000913.3": 8, "NC_002695.2": 10, "NC_013654.1": 4, "GCF_002949675.1": 3,
     "GCF_002950215.1": 3, "GCF_000006945.2": 5, "GCF_000742135.1": 4, "CP003200.1": 2,
     "GCF_902167755.1": 3, "IMG645951831": 2, "NC_020995.1": 1, "CP001095.1": 1},
    # 3: healthy-looking commensals, skewed, with enterococci and lactobacilli
    {"IMG645951831": 20, "GCF_902167755.1": 15, "IMG650377967": 12, "NC_010655.1": 8,
     "CP001095.1": 10, "IMG637000140": 4, "NC_020995.1": 6, "GCF_000392875.1": 2,
     "NZ_GG692854.1-draft": 1, "GCF_001544255.1": 2, "GCA_000013285.1": 1.5,
     "NC_002695.2": 1.5, "NC_000913.3": 0.5, "NZ_CP069563.1": 0.05},
]  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------- taxonomy


class Tax:
    """Parents and ranks of the taxdump subset."""

    def __init__(self, folder: Path) -> None:
        self.parent: dict[int, int] = {}
        self.rank: dict[int, str] = {}
        with open(folder / "nodes.dmp") as f:
            for line in f:
                cols = line.split("\t|\t")
                taxid = int(cols[0])
                self.parent[taxid] = int(cols[1])
                self.rank[taxid] = cols[2].strip()
        self._memo: dict[tuple[int, str], int] = {}

    def at(self, taxid: int, rank: str) -> int:
        """Ancestor of ``taxid`` (itself included) at ``rank``; 0 when it has none."""
        key = (taxid, rank)
        if key not in self._memo:
            node, found = taxid, 0
            while node in self.parent:
                if self.rank[node] == rank:
                    found = node
                    break
                if self.parent[node] == node:
                    break
                node = self.parent[node]
            self._memo[key] = found
        return self._memo[key]


def genome_table() -> list[dict]:
    """The shared genomes: file, database taxid (strain when the taxonomy has it), species."""
    rows = []
    with open(GENOMES / "genomes.tsv") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"), strict=True)))
    tax = Tax(TAXDUMP)
    genomes = []
    for row in rows:
        strain = row["strain_or_subsp_taxid"]
        taxid = (
            int(strain) if strain and int(strain) in tax.parent else int(row["ncbi_species_taxid"])
        )
        species = tax.at(taxid, "species")
        genomes.append(
            {
                "file": row["file"],
                "name": row["strain_or_subsp_name"] or row["ncbi_species_name"],
                "taxid": taxid,
                "species": species,
                "genus": tax.at(species, "genus"),
                "held_out": row["file"] in HELD_OUT,
            }
        )
    return genomes


def plain_reference(genome: dict, folder: Path) -> Path:
    """The genome as plain FASTA with ``>SEQID|kraken:taxid|TAXID`` headers (cached)."""
    out = folder / (genome["file"].removesuffix(".gz").removesuffix(".fna") + ".fa")
    if not out.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with gzip.open(GENOMES / genome["file"], "rt") as f, open(f"{out}.part", "w") as g:
            for line in f:
                if line.startswith(">"):
                    seqid = line[1:].split()[0]
                    line = f">{seqid}|kraken:taxid|{genome['taxid']}\n"
                g.write(line)
        os.replace(f"{out}.part", out)
    return out


# ----------------------------------------------------------------------------------- databases


def dir_size(path: Path) -> int:
    return (
        path.stat().st_size
        if path.is_file()
        else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    )


def build_kraken2(refs: list[Path], threads: int, rebuild: bool, folder: Path = OUT) -> dict:
    db = folder / "kraken2_db"
    stamp = folder / "kraken2_db.json"
    if stamp.exists() and not rebuild:
        return json.loads(stamp.read_text())
    build = need("kraken2-build", "kraken2")
    shutil.rmtree(db, ignore_errors=True)
    shutil.copytree(TAXDUMP, db / "taxonomy")
    log(f"kraken2-build: {len(refs)} genomes")
    add_wall, add_rss = 0.0, 0.0
    for ref in refs:
        t = timed([build, "--add-to-library", str(ref), "--db", str(db), "--no-masking"])
        add_wall += t.wall
        add_rss = max(add_rss, t.max_rss_mb)
    t = timed([build, "--build", "--db", str(db), "--threads", str(threads)])
    size = sum((db / f).stat().st_size for f in ("hash.k2d", "opts.k2d", "taxo.k2d"))
    info = {
        "db": str(db),
        "build_s": add_wall + t.wall,
        "build_only_s": t.wall,
        "build_rss_mb": max(add_rss, t.max_rss_mb),
        "size_mb": size / 1e6,
        "library_mb": dir_size(db / "library") / 1e6,
    }
    stamp.write_text(json.dumps(info, indent=1))
    return info


def build_ours(
    microbiome: str, refs: list[Path], threads: int, rebuild: bool, folder: Path = OUT
) -> dict:
    db = folder / "microbiome.db"
    stamp = folder / "microbiome_db.json"
    if stamp.exists() and not rebuild:
        return json.loads(stamp.read_text())
    if db.is_dir():
        shutil.rmtree(db)
    elif db.exists():
        db.unlink()
    log(f"microbiome db build: {len(refs)} genomes")
    t = timed(
        [microbiome, "db", "build", "--sequences", *map(str, refs), "--taxonomy", str(TAXDUMP),
         "-t", str(threads), "-o", str(db), "-q"]
    )  # fmt: skip
    info = {
        "db": str(db),
        "build_s": t.wall,
        "build_only_s": t.wall,
        "build_rss_mb": t.max_rss_mb,
        "size_mb": dir_size(db) / 1e6,
    }
    stamp.write_text(json.dumps(info, indent=1))
    return info


# ----------------------------------------------------------------------------------- communities


def community_counts(index: int, genomes: list[dict], pairs: int) -> dict[str, int]:
    """Pairs per genome file (and ``"human"``) of community ``index`` (0-based)."""
    if index < len(MIXES):
        mix = MIXES[index]
        weights = {}
        for g in genomes:
            w = next((v for k, v in mix.items() if k != "*" and g["file"].startswith(k)), None)
            if w is None:
                w = mix.get("*")
            if w:
                weights[g["file"]] = float(w)
    else:  # further communities: random log-normal shares over a random half of the genomes
        rng = np.random.default_rng(1000 + index)
        chosen = {g["file"] for g in genomes if rng.random() < 0.5} | set(HELD_OUT)
        weights = {f: float(rng.lognormal(0, 1.2)) for f in sorted(chosen)}
    human = round(pairs * HUMAN_FRACTION)
    total = sum(weights.values())
    counts = {f: max(1, round((pairs - human) * w / total)) for f, w in weights.items()}
    counts["human"] = pairs - sum(counts.values())
    return counts


def human_reference(folder: Path) -> Path:
    out = folder / "human.fa"
    if not out.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with open(f"{out}.part", "w") as g:
            for path in sorted(HOST.glob("human*.fa*")):
                opener = gzip.open if path.suffix == ".gz" else open
                with opener(path, "rt") as f:
                    g.write(f.read())
        os.replace(f"{out}.part", out)
    return out


def read_records(path: Path, n: int) -> list[bytes]:
    """The first ``n`` FASTQ records of a file, each as its three lines after the name."""
    records = []
    with open(path, "rb") as f:
        while len(records) < n:
            name = f.readline()
            if not name:
                break
            records.append(f.readline() + f.readline() + f.readline())
    return records


def simulate_community(
    index: int, genomes: list[dict], pairs: int, threads: int, refs: dict[str, Path]
) -> tuple[Path, Path, dict]:
    """Shuffled R1/R2 FASTQ of one community, read names ``<source>_<n>``; plus its counts."""
    name = f"c{index + 1}_{pairs}"
    r1, r2, meta = OUT / f"{name}_R1.fastq", OUT / f"{name}_R2.fastq", OUT / f"{name}.json"
    if r1.exists() and r2.exists() and meta.exists():
        return r1, r2, json.loads(meta.read_text())
    counts = community_counts(index, genomes, pairs)
    sources = sorted(counts)
    log(f"community {index + 1}: ART on {len(sources)} sources, {pairs} pairs")
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        tmp = Path(tmp)

        def one(k: int) -> tuple[list[bytes], list[bytes]]:
            source = sources[k]
            n = counts[source]
            prefix = tmp / f"s{k}_"
            fq1, fq2 = art_pairs(refs[source], n, prefix, seed=7919 * (index + 1) + k)
            out = read_records(fq1, n), read_records(fq2, n)
            fq1.unlink()
            fq2.unlink()
            return out

        with ThreadPoolExecutor(max_workers=threads) as pool:
            simulated = list(pool.map(one, range(len(sources))))
    names, mates1, mates2 = [], [], []
    for source, (m1, m2) in zip(sources, simulated, strict=True):
        tag = "human" if source == "human" else f"g{[g['file'] for g in genomes].index(source)}"
        names += [f"{tag}_{i}" for i in range(len(m1))]
        mates1 += m1
        mates2 += m2
    order = np.random.default_rng(index).permutation(len(names))
    for path, mates, mate in ((r1, mates1, 1), (r2, mates2, 2)):
        with open(f"{path}.part", "wb") as f:
            for i in order:
                f.write(f"@{names[i]}/{mate}\n".encode() + mates[i])
        os.replace(f"{path}.part", path)
    meta.write_text(json.dumps(counts, indent=1))
    return r1, r2, counts


def head_pairs(r1: Path, r2: Path, n: int) -> tuple[Path, Path]:
    """The first ``n`` pairs, for the warm-up runs."""
    out1, out2 = OUT / "warm_R1.fastq", OUT / "warm_R2.fastq"
    for src, dst in ((r1, out1), (r2, out2)):
        with open(src, "rb") as f, open(dst, "wb") as g:
            for i, line in enumerate(f):
                if i >= 4 * n:
                    break
                g.write(line)
    return out1, out2


# ----------------------------------------------------------------------------------- scoring


def read_assignments(path: Path) -> dict[str, int]:
    """Read ID -> taxid (0 unclassified) from Kraken-style per-read output."""
    opener = gzip.open if path.suffix == ".gz" else open
    calls = {}
    with opener(path, "rt") as f:
        for line in f:
            cols = line.split("\t", 3)
            read_id = cols[1]
            if read_id.endswith(("/1", "/2")):
                read_id = read_id[:-2]
            calls[read_id] = int(cols[2]) if cols[0] == "C" else 0
    return calls


def report_profile(path: Path, code: str, within_rank: bool = False) -> dict[int, float]:
    """Clade reads at rank ``code`` over the classified reads (or over the reads at that rank),
    from a Kraken-style report."""
    clade: dict[int, float] = {}
    classified = 0
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 6:
                continue
            reads, rank, taxid = float(cols[1]), cols[-3], int(cols[-2])
            if taxid == 1:
                classified = reads
            if rank == code:
                clade[taxid] = clade.get(taxid, 0.0) + reads
    if within_rank:
        classified = sum(clade.values())
    return {t: r / classified for t, r in clade.items()} if classified else {}


def short(source: str) -> str:
    """Genome name from its file name."""
    if "__" not in source:
        return source
    return source.split("__")[1].removesuffix(".fna.gz").removesuffix(".cds")


def l1(p: dict[int, float], q: dict[int, float]) -> float:
    return sum(abs(p.get(t, 0.0) - q.get(t, 0.0)) for t in set(p) | set(q))


def bray_curtis(p: dict[int, float], q: dict[int, float]) -> float:
    total = sum(p.values()) + sum(q.values())
    return l1(p, q) / total if total else 0.0


def f1(p: dict[int, float], q: dict[int, float]) -> float:
    called = {t for t, v in p.items() if v >= THRESHOLD}
    present = {t for t, v in q.items() if v >= THRESHOLD}
    tp = len(called & present)
    return 2 * tp / (len(called) + len(present)) if called or present else 1.0


def score(
    calls: dict[str, int], report: Path, genomes: list[dict], tax: Tax, db_species: set[int],
    db_genera: set[int]
) -> dict:  # fmt: skip
    """Read-level and profile metrics of one classification against the truth in the names."""
    truth_species: dict[int, int] = {}
    truth_genus: dict[int, int] = {}
    n_bact = sp_den = sp_ok = sp_wrong = ge_den = ge_ok = human = human_cls = 0
    held = {"strain": [0, 0, 0], "species": [0, 0, 0]}  # reads, right species/genus, wrong species
    for read_id, taxid in calls.items():
        tag = read_id.split("_", 1)[0]
        if tag == "human":
            human += 1
            human_cls += taxid != 0
            continue
        g = genomes[int(tag[1:])]
        n_bact += 1
        truth_species[g["species"]] = truth_species.get(g["species"], 0) + 1
        truth_genus[g["genus"]] = truth_genus.get(g["genus"], 0) + 1
        called_species = tax.at(taxid, "species") if taxid else 0
        called_genus = tax.at(taxid, "genus") if taxid else 0
        if g["species"] in db_species:
            sp_den += 1
            sp_ok += called_species == g["species"]
        if called_species and called_species != g["species"]:
            sp_wrong += 1
        if g["genus"] in db_genera:
            ge_den += 1
            ge_ok += called_genus == g["genus"]
        if g["held_out"]:
            h = held["strain" if g["species"] in db_species else "species"]
            h[0] += 1
            h[1] += (
                called_species == g["species"]
                if g["species"] in db_species
                else called_genus == g["genus"]
            )
            h[2] += bool(called_species) and called_species != g["species"]
    true_s = {t: c / n_bact for t, c in truth_species.items()}
    absent = sum(v for t, v in true_s.items() if t not in db_species)
    true_g = {t: c / n_bact for t, c in truth_genus.items()}
    prof_s, prof_g = report_profile(report, "S"), report_profile(report, "G")
    return {
        "species_sens": sp_ok / sp_den,
        "wrong_species": sp_wrong / n_bact,
        "genus_sens": ge_ok / ge_den,
        "l1_species": l1(prof_s, true_s),
        "bc_species": bray_curtis(prof_s, true_s),
        "l1_genus": l1(prof_g, true_g),
        "bc_genus": bray_curtis(prof_g, true_g),
        "f1_species": f1(prof_s, true_s),
        "l1_floor": 2 * absent,
        "l1_species_rank": l1(report_profile(report, "S", True), true_s),
        "l1_genus_rank": l1(report_profile(report, "G", True), true_g),
        "human_classified": human_cls / human if human else 0.0,
        "held_strain_species": held["strain"][1] / max(held["strain"][0], 1),
        "held_strain_wrong": held["strain"][2] / max(held["strain"][0], 1),
        "held_species_genus": held["species"][1] / max(held["species"][0], 1),
        "held_species_wrong": held["species"][2] / max(held["species"][0], 1),
    }


def tsv_profile(path: Path, rank: str) -> dict[int, float]:
    """Species (genus) shares of a ``microbiome classify --tsv`` table (``abundance`` column when
    the abundances were estimated, else ``fraction``)."""
    profile = {}
    with open(path) as f:
        lines = [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]
    header, rows = lines[0], lines[1:]
    column = header.index("abundance" if "abundance" in header else "fraction")
    for row in rows:
        if row[0] == rank:
            profile[int(row[1])] = float(row[column])
    return profile


def profile_scores(
    prof_s: dict[int, float], prof_g: dict[int, float], genomes: list[dict], counts: dict
) -> dict:
    """Profile metrics alone (for estimated abundances)."""
    truth_species: dict[int, float] = {}
    truth_genus: dict[int, float] = {}
    files = [g["file"] for g in genomes]
    n_bact = sum(c for s, c in counts.items() if s != "human")
    for source, c in counts.items():
        if source != "human":
            g = genomes[files.index(source)]
            truth_species[g["species"]] = truth_species.get(g["species"], 0) + c / n_bact
            truth_genus[g["genus"]] = truth_genus.get(g["genus"], 0) + c / n_bact
    return {
        "l1_species": l1(prof_s, truth_species),
        "bc_species": bray_curtis(prof_s, truth_species),
        "l1_genus": l1(prof_g, truth_genus),
        "f1_species": f1(prof_s, truth_species),
    }


# ----------------------------------------------------------------------------------- main


ROWS = [
    ("species_sens", "species sensitivity (reads)", "{:.2%}"),
    ("wrong_species", "wrong-species rate (reads)", "{:.2%}"),
    ("genus_sens", "genus sensitivity (reads)", "{:.2%}"),
    ("l1_species", "profile L1, species", "{:.4f}"),
    ("l1_floor", "  floor: L1 of a perfect classifier", "{:.4f}"),
    ("bc_species", "Bray-Curtis, species", "{:.4f}"),
    ("l1_genus", "profile L1, genus", "{:.4f}"),
    ("bc_genus", "Bray-Curtis, genus", "{:.4f}"),
    ("f1_species", "presence F1, species (0.1 %)", "{:.3f}"),
    ("l1_species_rank", "L1 species, renormalised within rank", "{:.4f}"),
    ("l1_genus_rank", "L1 genus, renormalised within rank", "{:.4f}"),
    ("held_strain_species", "held-out strain (Sakai): right species", "{:.2%}"),
    ("held_strain_wrong", "held-out strain (Sakai): wrong species", "{:.2%}"),
    ("held_species_genus", "held-out species (E. cass.): right genus", "{:.2%}"),
    ("held_species_wrong", "held-out species (E. cass.): a wrong species", "{:.2%}"),
    ("human_classified", "human reads classified", "{:.2%}"),
    ("reads_per_s", "pairs/s (classification, wall)", "{:,.0f}"),
    ("wall_s", "classification wall (s)", "{:.1f}"),
    ("report_only_per_s", "pairs/s, report only (no per-read output)", "{:,.0f}"),
    ("rss_mb", "peak RSS (MB)", "{:,.0f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=200_000, help="pairs per community")
    parser.add_argument("--communities", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1, help="classification runs, best kept")
    parser.add_argument("--rebuild", action="store_true", help="rebuild and re-time the databases")
    args = parser.parse_args()

    microbiome = shutil.which("microbiome") or sys.exit("benchmark: install the package first")
    kraken2 = need("kraken2", "kraken2")
    need("kraken2-build", "kraken2")
    need("art_illumina", "art-nextgen-simulation-tools")
    OUT.mkdir(parents=True, exist_ok=True)
    tax = Tax(TAXDUMP)
    genomes = genome_table()
    refs = {g["file"]: plain_reference(g, OUT / "refs") for g in genomes}
    refs["human"] = human_reference(OUT / "refs")
    in_db = [g for g in genomes if not g["held_out"]]
    db_refs = [refs[g["file"]] for g in in_db]
    db_species = {g["species"] for g in in_db}
    db_genera = {g["genus"] for g in in_db}

    k2db = build_kraken2(db_refs, args.threads, args.rebuild)
    ourdb = build_ours(microbiome, db_refs, args.threads, args.rebuild)

    communities = [
        simulate_community(i, genomes, args.pairs, args.threads, refs)
        for i in range(args.communities)
    ]

    # Warm-up: numba's compilation cache and both databases into the page cache.
    w1, w2 = head_pairs(communities[0][0], communities[0][1], 2000)
    timed(
        [
            kraken2,
            "--db",
            k2db["db"],
            "--threads",
            str(args.threads),
            "--paired",
            "--report",
            str(OUT / "warm.k2.kreport"),
            "--output",
            "-",
            str(w1),
            str(w2),
        ]
    )
    timed([microbiome, "classify", "--db", ourdb["db"], "-1", str(w1), "-2", str(w2), "-t",
           str(args.threads), "--report", str(OUT / "warm.mb.kreport"), "-q"])  # fmt: skip
    help_text = subprocess.run(
        [microbiome, "classify", "--help"], capture_output=True, text=True
    ).stdout
    has_abundance = "--abundance" in help_text

    results: dict[str, list[dict]] = {"kraken2": [], "microbiome": []}
    abundance: list[dict] = []
    for i, (r1, r2, counts) in enumerate(communities):
        n = sum(counts.values())
        tag = f"c{i + 1}"
        k_report, k_out = OUT / f"{tag}.kraken2.kreport", OUT / f"{tag}.kraken2.out"
        log(f"{tag}: kraken2")
        t = best_of(
            args.runs,
            [kraken2, "--db", k2db["db"], "--threads", str(args.threads), "--paired",
             "--report", str(k_report), "--output", str(k_out), str(r1), str(r2)]
        )  # fmt: skip
        s = score(read_assignments(k_out), k_report, genomes, tax, db_species, db_genera)
        s.update(reads_per_s=n / t.wall, wall_s=t.wall, rss_mb=t.max_rss_mb)
        results["kraken2"].append(s)

        t = best_of(
            args.runs,
            [kraken2, "--db", k2db["db"], "--threads", str(args.threads), "--paired",
             "--report", str(k_report), "--output", os.devnull, str(r1), str(r2)]
        )  # fmt: skip
        s["report_only_per_s"] = n / t.wall

        m_report, m_out = OUT / f"{tag}.microbiome.kreport", OUT / f"{tag}.microbiome.reads"
        log(f"{tag}: microbiome classify")
        t = best_of(
            args.runs,
            [microbiome, "classify", "--db", ourdb["db"], "-1", str(r1), "-2", str(r2),
             "-t", str(args.threads), "--report", str(m_report), "--tsv",
             str(OUT / f"{tag}.microbiome.tsv"), "--output", str(m_out), "-q",
             *(["--abundance", "none"] if has_abundance else [])]
        )  # fmt: skip
        s = score(read_assignments(m_out), m_report, genomes, tax, db_species, db_genera)
        s.update(reads_per_s=n / t.wall, wall_s=t.wall, rss_mb=t.max_rss_mb)
        results["microbiome"].append(s)

        t = best_of(
            args.runs,
            [microbiome, "classify", "--db", ourdb["db"], "-1", str(r1), "-2", str(r2),
             "-t", str(args.threads), "--report", str(m_report), "-q",
             *(["--abundance", "none"] if has_abundance else [])]
        )  # fmt: skip
        s["report_only_per_s"] = n / t.wall

        if has_abundance:
            for method in ("bracken", "em"):
                a_tsv = OUT / f"{tag}.microbiome.{method}.tsv"
                log(f"{tag}: microbiome classify --abundance {method}")
                t = timed(
                    [microbiome, "classify", "--db", ourdb["db"], "-1", str(r1), "-2", str(r2),
                     "-t", str(args.threads), "--report", str(OUT / f"{tag}.{method}.kreport"),
                     "--tsv", str(a_tsv), "--abundance", method, "-q"]
                )  # fmt: skip
                a = profile_scores(tsv_profile(a_tsv, "species"), tsv_profile(a_tsv, "genus"),
                                   genomes, counts)  # fmt: skip
                a.update(method=method, community=tag, wall_s=t.wall, rss_mb=t.max_rss_mb)
                abundance.append(a)

    # ------------------------------------------------------------------ table
    names = [f"c{i + 1}" for i in range(len(communities))]
    print()
    print(f"{len(communities)} communities x {args.pairs:,} pairs (ART HS25 2x150, 3 % human), "
          f"{len(in_db)} genomes in the databases; held out: "
          + "; ".join(f"{f.split('__')[1].removesuffix('.fna.gz')} ({why})"
                      for f, why in HELD_OUT.items()))  # fmt: skip
    for i, (_r1, _r2, counts) in enumerate(communities):
        mix = sorted(((c, s) for s, c in counts.items()), reverse=True)
        print(
            f"  c{i + 1}: "
            + ", ".join(f"{short(s)} {c / args.pairs:.1%}" for c, s in mix[:6])
            + (", ..." if len(mix) > 6 else "")
        )
    print()
    header = (
        "| metric | " + " | ".join(f"{c} K2 | {c} ours" for c in names) + " | mean K2 | mean ours |"
    )
    print(header)
    print("|---|" + "---:|" * (2 * len(names) + 2))
    means: dict[str, dict[str, float]] = {"kraken2": {}, "microbiome": {}}
    for key, label, fmt in ROWS:
        cells = []
        for k, m in zip(results["kraken2"], results["microbiome"], strict=True):
            cells += [fmt.format(k[key]), fmt.format(m[key])]
        for tool in means:
            means[tool][key] = float(np.mean([r[key] for r in results[tool]]))
        cells += [fmt.format(means["kraken2"][key]), fmt.format(means["microbiome"][key])]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for method in ("bracken", "em"):
        rows = [a for a in abundance if a["method"] == method]
        if not rows:
            continue
        extra = (
            ("l1_species", f"L1 species, ours --abundance {method}", "{:.4f}"),
            ("bc_species", f"Bray-Curtis species, ours --abundance {method}", "{:.4f}"),
            ("l1_genus", f"L1 genus, ours --abundance {method}", "{:.4f}"),
            ("f1_species", f"F1 species, ours --abundance {method}", "{:.3f}"),
            ("wall_s", f"wall (s), ours --abundance {method}", "{:.1f}"),
        )
        for key, label, fmt in extra:
            cells = []
            for a in rows:
                cells += ["", fmt.format(a[key])]
            cells += ["", fmt.format(float(np.mean([a[key] for a in rows])))]
            print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print("| database | build wall (s) | build peak RSS (MB) | size (MB) |")
    print("|---|---:|---:|---:|")
    print(
        f"| Kraken 2 (add-to-library + build) | {k2db['build_s']:.1f} "
        f"(build alone {k2db['build_only_s']:.1f}) | {k2db['build_rss_mb']:,.0f} | "
        f"{k2db['size_mb']:.1f} (hash+opts+taxo; library/ {k2db['library_mb']:.0f}) |"
    )
    print(f"| microbiome db build | {ourdb['build_s']:.1f} | {ourdb['build_rss_mb']:,.0f} | "
          f"{ourdb['size_mb']:.1f} |")  # fmt: skip

    k, m = means["kraken2"], means["microbiome"]
    l1_ours = m["l1_species"]
    targets = [
        ("species F1 >= Kraken 2's", m["f1_species"] >= k["f1_species"],
         f"{m['f1_species']:.3f} vs {k['f1_species']:.3f}"),
        ("species profile L1 <= half of Kraken 2's", l1_ours <= 0.5 * k["l1_species"],
         f"{l1_ours:.4f} vs {0.5 * k['l1_species']:.4f} (K2 {k['l1_species']:.4f})"),
        ("throughput >= Kraken 2's", m["reads_per_s"] >= k["reads_per_s"],
         f"{m['reads_per_s']:,.0f} vs {k['reads_per_s']:,.0f} pairs/s"),
        ("peak RSS <= 1.5x Kraken 2's", m["rss_mb"] <= 1.5 * k["rss_mb"],
         f"{m['rss_mb']:,.0f} vs {1.5 * k['rss_mb']:,.0f} MB ({m['rss_mb'] / k['rss_mb']:.2f}x)"),
        ("build time <= Kraken 2's", ourdb["build_s"] <= k2db["build_s"],
         f"{ourdb['build_s']:.1f} vs {k2db['build_s']:.1f} s"),
    ]  # fmt: skip
    for method in ("bracken", "em"):
        rows = [a for a in abundance if a["method"] == method]
        if rows:
            l1_ab = float(np.mean([a["l1_species"] for a in rows]))
            f1_ab = float(np.mean([a["f1_species"] for a in rows]))
            targets.append((f"species profile L1 <= half of Kraken 2's, --abundance {method}",
                            l1_ab <= 0.5 * k["l1_species"],
                            f"{l1_ab:.4f} vs {0.5 * k['l1_species']:.4f}"))  # fmt: skip
            targets.append((f"species F1 >= Kraken 2's, --abundance {method}",
                            f1_ab >= k["f1_species"],
                            f"{f1_ab:.3f} vs {k['f1_species']:.3f}"))  # fmt: skip
    print()
    for label, ok, detail in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {label}: {detail}")
    (OUT / "results.json").write_text(
        json.dumps(
            {
                "results": results,
                "abundance": abundance,
                "kraken2_db": k2db,
                "microbiome_db": ourdb,
            },
            indent=1,
        )  # fmt: skip
    )


if __name__ == "__main__":
    main()
