#!/usr/bin/env python3
"""Regenerate the bundled demo/test data set ``test_data/`` (and ``config/samples.tsv``).

Everything is derived from the read-only real-data folder (``../shared/data`` relative
to the repository root by default).  The script is deterministic: fixed seeds for ART
and numpy, gzip members written with ``mtime=0`` and no file name, so reruns produce
byte-identical files (given the same ART / zlib versions).

Usage (from the repository root)::

    python test_data/make_test_data.py                # uses ../shared/data
    python test_data/make_test_data.py --shared /path/to/shared/data

Requires: Python >= 3.10 with numpy and pandas, and ``art_illumina`` (ART 2.5.8,
Debian package ``art-nextgen-simulation-tools``) on PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SEED = 20240917

# --------------------------------------------------------------------------------------
# Design tables
# --------------------------------------------------------------------------------------
FRAGMENT_BP = 150_000
N_PAIRS_REAL = 10_000  # ERR878216 pairs to keep
N_PAIRS_SIM = 4_000  # pairs per simulated sample (including human spike-in)

# slug -> source genome file in shared/data/genomes (one strain per species)
REFERENCES = {
    "escherichia_coli": "NC_000913.3__Escherichia_coli_K-12_MG1655.fna.gz",
    "shigella_flexneri": "GCF_002950215.1__Shigella_flexneri_2a_ATCC_29903.fna.gz",
    "salmonella_enterica": "GCF_000006945.2__Salmonella_enterica_Typhimurium_LT2.fna.gz",
    "klebsiella_pneumoniae": "CP003200.1__Klebsiella_pneumoniae_HS11286.fna.gz",
    "enterococcus_faecalis": "GCF_000392875.1__Enterococcus_faecalis_ATCC_19433.fna.gz",
    "enterococcus_faecium": "GCF_001544255.1__Enterococcus_faecium_NBRC_100486.fna.gz",
    "akkermansia_muciniphila": "NC_010655.1__Akkermansia_muciniphila_ATCC_BAA-835.fna.gz",
    "segatella_copri": "GCF_902167755.1__Prevotella_copri_DSM_18205.fna.gz",
    "bifidobacterium_longum": "CP001095.1__Bifidobacterium_longum_infantis_ATCC_15697.fna.gz",
    "clostridium_perfringens": "GCA_000013285.1__Clostridium_perfringens_ATCC_13124.fna.gz",
    "bacteroides_fragilis": "NZ_CP069563.1_first80kb__Bacteroides_fragilis_FDAARGOS_1225.fna.gz",
    "faecalibacterium_duncaniae": "IMG645951831__Faecalibacterium_prausnitzii_A2-165.cds.fna.gz",
    "blautia_obeum": "IMG650377967__Blautia_obeum_A2-162.cds.fna.gz",
}

HUMAN_TAXID = 9606
HUMAN_SPECIES = "Homo sapiens"
HUMAN_FILES = ["human_GRCh38_KI270762.1_altcontig.fa.gz", "human_chrM__MT-human.fa.gz"]
HUMAN_FRACTION_SIM04 = 0.03

# Designed read-pair fractions of the bacterial part of each sample (each row sums to 1).
COMPOSITION = {
    "sim01": {  # "healthy-like": butyrate producers, mucin degrader, bifidobacteria
        "faecalibacterium_duncaniae": 0.25,
        "akkermansia_muciniphila": 0.15,
        "bifidobacterium_longum": 0.15,
        "blautia_obeum": 0.15,
        "bacteroides_fragilis": 0.12,
        "segatella_copri": 0.10,
        "escherichia_coli": 0.05,
        "enterococcus_faecalis": 0.03,
    },
    "sim02": {  # same synthetic patient (P01), later timepoint: shifted proportions
        "akkermansia_muciniphila": 0.25,
        "faecalibacterium_duncaniae": 0.20,
        "bacteroides_fragilis": 0.15,
        "segatella_copri": 0.15,
        "bifidobacterium_longum": 0.10,
        "blautia_obeum": 0.10,
        "escherichia_coli": 0.03,
        "klebsiella_pneumoniae": 0.02,
    },
    "sim03": {  # dysbiotic: Enterobacteriaceae / Enterococcus / C. perfringens bloom
        "escherichia_coli": 0.25,
        "klebsiella_pneumoniae": 0.20,
        "enterococcus_faecalis": 0.15,
        "clostridium_perfringens": 0.12,
        "enterococcus_faecium": 0.10,
        "salmonella_enterica": 0.08,
        "shigella_flexneri": 0.05,
        "bacteroides_fragilis": 0.05,
    },
    "sim04": {  # dysbiotic, E. coli + Shigella (LCA), plus ~3 % human reads (host removal)
        "escherichia_coli": 0.20,
        "shigella_flexneri": 0.15,
        "klebsiella_pneumoniae": 0.15,
        "enterococcus_faecium": 0.15,
        "enterococcus_faecalis": 0.10,
        "clostridium_perfringens": 0.10,
        "salmonella_enterica": 0.05,
        "bifidobacterium_longum": 0.05,
        "faecalibacterium_duncaniae": 0.05,
    },
}
HUMAN_SPIKE = {"sim04": HUMAN_FRACTION_SIM04}

ART_ARGS = ["-ss", "HS25", "-l", "150", "-m", "300", "-s", "30", "-p", "-na", "-q"]

# Metabolites copied from KIM_ADENOMAS_2020 (selected by Subpathway + a few names)
METABOLITE_SUBPATHWAYS = [
    "Short Chain Fatty Acid",
    "Fatty Acid, Branched",
    "Medium Chain Fatty Acid",
    "Primary Bile Acid Metabolism",
    "Secondary Bile Acid Metabolism",
    "Tryptophan Metabolism",
]
METABOLITE_NAMES = [
    "3-hydroxybutyrate (BHBA)",
    "p-cresol",
    "p-cresol sulfate",
    "3-phenylpropionate (hydrocinnamate)",
]

# Demo samples: KIM Study.Group used to choose the donor subject + synthetic columns.
DEMO_SAMPLES = [
    # sample, patient, timepoint, KIM group, treatment, response, antibiotics
    ("ERR878216", "P02", 0, "Control", "fibre_supplement", "responder", "no"),
    ("SRR514303", "P03", 0, "Adenoma", "placebo", "non-responder", "no"),
    ("sim01", "P01", 0, "Control", "fibre_supplement", "responder", "no"),
    ("sim02", "P01", 1, "Control", "fibre_supplement", "responder", "no"),
    ("sim03", "P04", 0, "Adenoma", "fibre_supplement", "non-responder", "yes"),
    ("sim04", "P05", 0, "Carcinoma", "placebo", "non-responder", "yes"),
]


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
@contextlib.contextmanager
def gz_writer(path: Path):
    """Text writer producing a reproducible gzip file (mtime=0, no stored name)."""
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            with io.TextIOWrapper(gz, encoding="ascii", newline="\n") as fh:
                yield fh


def read_fasta(path: Path):
    """Yield (header_without_>, sequence) from a (gzipped) FASTA."""
    opener = gzip.open if str(path).endswith(".gz") else open
    header, chunks = None, []
    with opener(path, "rt") as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if line.startswith(">"):
                if header is not None:
                    yield header, "".join(chunks)
                header, chunks = line[1:], []
            elif line:
                chunks.append(line.strip())
    if header is not None:
        yield header, "".join(chunks)


def write_fasta(fh, records, width=80):
    for header, seq in records:
        fh.write(f">{header}\n")
        for i in range(0, len(seq), width):
            fh.write(seq[i : i + width] + "\n")


def read_fastq_records(path: Path):
    """Yield 4-line FASTQ records as tuples of raw lines (with newline), unmodified."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        while True:
            rec = tuple(fh.readline() for _ in range(4))
            if not rec[0]:
                return
            if not rec[0].startswith("@") or not rec[2].startswith("+"):
                raise ValueError(f"malformed FASTQ record in {path}: {rec[0]!r}")
            yield rec


def split_counts(total: int, fractions: dict[str, float]) -> dict[str, int]:
    """Largest-remainder rounding so counts sum exactly to ``total``."""
    keys = list(fractions)
    w = np.array([fractions[k] for k in keys], dtype=float)
    w = w / w.sum()
    raw = w * total
    base = np.floor(raw).astype(int)
    rest = total - base.sum()
    order = sorted(range(len(keys)), key=lambda i: (-(raw[i] - base[i]), i))
    for i in order[:rest]:
        base[i] += 1
    return {k: int(c) for k, c in zip(keys, base, strict=True)}


def copy_file(src: Path, dst: Path):
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


# --------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------
def make_real_reads(shared: Path, out: Path):
    reads = out / "reads"
    reads.mkdir(parents=True, exist_ok=True)
    r1 = read_fastq_records(shared / "reads" / "ERR878216_R1.fastq.gz")
    r2 = read_fastq_records(shared / "reads" / "ERR878216_R2.fastq.gz")
    with (
        gz_writer(reads / "ERR878216_R1.fastq.gz") as o1,
        gz_writer(reads / "ERR878216_R2.fastq.gz") as o2,
    ):
        n = 0
        for a, b in zip(r1, r2, strict=True):
            if a[0].split()[0].rsplit("/", 1)[0] != b[0].split()[0].rsplit("/", 1)[0]:
                raise ValueError(f"ERR878216 mates out of sync: {a[0]!r} {b[0]!r}")
            o1.write("".join(a))
            o2.write("".join(b))
            n += 1
            if n == N_PAIRS_REAL:
                break
    if n != N_PAIRS_REAL:
        raise ValueError(f"only {n} ERR878216 pairs available")
    # 2,500 single-end reads: all of them, records unmodified (re-compressed reproducibly)
    with gz_writer(reads / "SRR514303_SE.fastq.gz") as o:
        for rec in read_fastq_records(shared / "reads" / "SRR514303_subset2500_SE.fastq.gz"):
            o.write("".join(rec))


def make_references(shared: Path, out: Path) -> pd.DataFrame:
    gdir = shared / "genomes"
    gtab = pd.read_csv(gdir / "genomes.tsv", sep="\t", dtype=str, keep_default_na=False)
    gtab = gtab.set_index("file")
    refdir = out / "references"
    refdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for slug, src in REFERENCES.items():
        meta = gtab.loc[src]
        cds_only = meta["assembly_status"].startswith("CDS only")
        taken, total = [], 0
        for header, seq in read_fasta(gdir / src):
            if total >= FRAGMENT_BP:
                break
            if not cds_only and total + len(seq) > FRAGMENT_BP:
                seq = seq[: FRAGMENT_BP - total]  # contiguous piece from record start
            if len(seq) == 0:
                continue
            taken.append((header, seq))
            total += len(seq)
        with gz_writer(refdir / f"{slug}.fna.gz") as fh:
            write_fasta(fh, taken)
        for header, seq in taken:
            rows.append(
                {
                    "file": f"{slug}.fna.gz",
                    "seqid": header.split()[0],
                    "taxid": int(meta["ncbi_species_taxid"]),
                    "strain_taxid": meta["strain_or_subsp_taxid"],
                    "species": meta["ncbi_species_name"],
                    "length": len(seq),
                    "source_file": src,
                }
            )
    df = pd.DataFrame(rows)
    df.to_csv(refdir / "genomes.tsv", sep="\t", index=False)
    return df


def copy_static(shared: Path, out: Path):
    tax = shared / "taxonomy"
    for name in ("nodes.dmp", "names.dmp"):
        copy_file(tax / "ncbi_taxdump_subset" / name, out / "taxonomy" / name)
    copy_file(tax / "genome_taxonomy_ncbi.tsv", out / "taxonomy" / "genome_taxonomy_ncbi.tsv")
    for name in (
        "human_chrM__MT-human.fa.gz",
        "human_GRCh38_KI270762.1_altcontig.fa.gz",
        "phiX174_NC_001422.1.fa.gz",
    ):
        copy_file(shared / "host" / name, out / "host" / name)
    for name in ("NexteraPE-PE.fa", "TruSeq3-PE-2.fa", "TruSeq3-SE.fa"):
        copy_file(shared / "adapters" / name, out / "adapters" / name)


def run_art(fasta: Path, prefix: Path, fold: float, seed: int):
    cmd = [
        "art_illumina",
        *ART_ARGS,
        "-i",
        str(fasta),
        "-f",
        f"{fold:.4f}",
        "-rs",
        str(seed),
        "-o",
        str(prefix),
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pairs = []
    for a, b in zip(
        read_fastq_records(Path(f"{prefix}1.fq")),
        read_fastq_records(Path(f"{prefix}2.fq")),
        strict=True,
    ):
        na, nb = a[0][1:].split()[0], b[0][1:].split()[0]
        if na[:-2] != nb[:-2]:
            raise ValueError(f"ART mates out of sync: {na} {nb}")
        seqid = na[:-2].rsplit("-", 1)[0]
        pairs.append(
            (seqid, a[1].rstrip("\n"), a[3].rstrip("\n"), b[1].rstrip("\n"), b[3].rstrip("\n"))
        )
    return pairs


def simulate_pool(fasta: Path, length: int, need: int, seed: int, tmp: Path, tag: str):
    """Simulate at least ``need`` pairs with ART (raising coverage if necessary)."""
    fold = max(0.5, 1.5 * need * 2 * 150 / length)
    for attempt in range(6):
        pairs = run_art(fasta, tmp / f"{tag}_{attempt}_", fold, seed + attempt)
        if len(pairs) >= need:
            return pairs
        fold *= 2
    raise RuntimeError(f"ART produced too few pairs for {tag}")


def make_simulations(shared: Path, out: Path, refs: pd.DataFrame):
    reads, truth = out / "reads", out / "truth"
    reads.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    refdir = out / "references"
    comp_rows = []
    with tempfile.TemporaryDirectory(prefix="mk_test_data_") as td:
        tmp = Path(td)
        # plain FASTA inputs for ART
        sources = {}  # key -> (fasta, bp, taxid, species, file label)
        for slug in REFERENCES:
            sub = refs[refs.file == f"{slug}.fna.gz"]
            fa = tmp / f"{slug}.fna"
            with open(fa, "w") as fh:
                write_fasta(fh, read_fasta(refdir / f"{slug}.fna.gz"))
            sources[slug] = (
                fa,
                int(sub.length.sum()),
                int(sub.taxid.iloc[0]),
                sub.species.iloc[0],
                f"references/{slug}.fna.gz",
            )
        for name in HUMAN_FILES:
            recs = list(read_fasta(shared / "host" / name))
            fa = tmp / name.replace(".gz", "")
            with open(fa, "w") as fh:
                write_fasta(fh, recs)
            sources[name] = (
                fa,
                sum(len(s) for _, s in recs),
                HUMAN_TAXID,
                HUMAN_SPECIES,
                f"host/{name}",
            )

        for si, (sample, design) in enumerate(COMPOSITION.items(), start=1):
            rng = np.random.default_rng(SEED + si)
            human = HUMAN_SPIKE.get(sample, 0.0)
            n_human = int(round(N_PAIRS_SIM * human))
            counts = split_counts(N_PAIRS_SIM - n_human, design)
            if n_human:
                counts.update(split_counts(n_human, {h: sources[h][1] for h in HUMAN_FILES}))
            selected = []  # (seqid, taxid, s1, q1, s2, q2)
            for gi, (key, need) in enumerate(counts.items()):
                if need == 0:
                    continue
                fa, bp, taxid, species, label = sources[key]
                pool = simulate_pool(
                    fa, bp, need, SEED + 1000 * si + 10 * gi, tmp, f"{sample}_{gi}"
                )
                idx = np.sort(rng.choice(len(pool), size=need, replace=False))
                for i in idx:
                    seqid, s1, q1, s2, q2 = pool[i]
                    selected.append((seqid, taxid, s1, q1, s2, q2))
                frac = design.get(key, 0.0) * (1 - human) if key in design else None
                comp_rows.append(
                    {
                        "sample_id": sample,
                        "taxid": taxid,
                        "species": species,
                        "source": label,
                        "source_bp": bp,
                        "design_read_fraction": round(frac, 6) if frac is not None else None,
                        "n_pairs": need,
                    }
                )
            if n_human:
                comp_rows_h = [
                    r for r in comp_rows if r["sample_id"] == sample and r["taxid"] == HUMAN_TAXID
                ]
                for r in comp_rows_h:
                    r["design_read_fraction"] = round(
                        human * r["source_bp"] / sum(sources[h][1] for h in HUMAN_FILES), 6
                    )
            order = rng.permutation(len(selected))
            truth_rows = []
            with (
                gz_writer(reads / f"{sample}_R1.fastq.gz") as o1,
                gz_writer(reads / f"{sample}_R2.fastq.gz") as o2,
            ):
                for k, j in enumerate(order, start=1):
                    seqid, taxid, s1, q1, s2, q2 = selected[j]
                    rid = f"{sample}_{k:06d}"
                    o1.write(f"@{rid}/1\n{s1}\n+\n{q1}\n")
                    o2.write(f"@{rid}/2\n{s2}\n+\n{q2}\n")
                    truth_rows.append((rid, seqid, taxid))
            with gz_writer(truth / f"{sample}.reads.tsv.gz") as fh:
                fh.write("read_id\tseqid\ttaxid\n")
                for rid, seqid, taxid in truth_rows:
                    fh.write(f"{rid}\t{seqid}\t{taxid}\n")
            prof = (
                pd.DataFrame(truth_rows, columns=["read_id", "seqid", "taxid"])
                .groupby("taxid")
                .size()
            )
            prof = prof.rename("n_pairs").reset_index()
            names = {sources[k][2]: sources[k][3] for k in sources}
            prof.insert(1, "species", prof.taxid.map(names))
            prof["read_fraction"] = (prof.n_pairs / prof.n_pairs.sum()).round(6)
            prof = prof.sort_values(["n_pairs", "taxid"], ascending=[False, True])
            prof.to_csv(truth / f"{sample}.profile.tsv", sep="\t", index=False)

    comp = pd.DataFrame(comp_rows)
    # genome-copy (cell) fraction implied by read counts and the simulated source length
    comp["genome_fraction"] = comp.n_pairs / comp.source_bp
    comp["genome_fraction"] = (
        comp.genome_fraction / comp.groupby("sample_id").genome_fraction.transform("sum")
    ).round(6)
    comp.to_csv(truth / "composition.tsv", sep="\t", index=False)
    return comp


def make_metadata(shared: Path, out: Path):
    kim = shared / "multiomics" / "KIM_ADENOMAS_2020"
    md = pd.read_csv(kim / "metadata.tsv.gz", sep="\t", dtype=str)
    mtb = pd.read_csv(kim / "mtb.tsv.gz", sep="\t", index_col=0)
    mmap = pd.read_csv(kim / "mtb.map.tsv.gz", sep="\t", dtype=str, keep_default_na=False)
    sel = mmap[mmap.Subpathway.isin(METABOLITE_SUBPATHWAYS) | mmap.Compound.isin(METABOLITE_NAMES)]
    sel = sel.sort_values(["Superpathway", "Subpathway", "Compound"])
    mets = [m for m in sel.Compound if m in mtb.columns]
    ok = set(mtb.index[mtb[mets].notna().all(axis=1)])
    md = md[md.Sample.isin(ok)].sort_values("Sample")

    rng = np.random.default_rng(SEED)
    used, borrowed, clinical, prov = set(), {}, [], []
    for sample, patient, tp, group, treatment, response, abx in DEMO_SAMPLES:
        if patient in borrowed:  # later timepoint of same patient: same clinical donor,
            donor = borrowed[patient]  # metabolites from a matched (group/age/sex) subject
            d = md[md.Sample == donor].iloc[0]
            cand = md[
                (md["Study.Group"] == d["Study.Group"])
                & (md.Age == d.Age)
                & (md.Gender == d.Gender)
                & ~md.Sample.isin(used)
            ]
        else:
            cand = md[(md["Study.Group"] == group) & ~md.Sample.isin(used)]
            donor = None
        pick = cand.Sample.iloc[int(rng.integers(len(cand)))]
        used.add(pick)
        if donor is None:
            donor = pick
            borrowed[patient] = donor
        d = md[md.Sample == donor].iloc[0]
        clinical.append(
            {
                "sample_id": sample,
                "patient_id": patient,
                "timepoint": tp,
                "age_band": d.Age,
                "sex": d.Gender.lower(),
                "bmi": None,
                "diagnosis": d["Study.Group"],
                "treatment": treatment,
                "response": response,
                "antibiotics": abx,
            }
        )
        prov.append(
            {
                "sample_id": sample,
                "clinical_from_kim_subject": donor,
                "metabolites_from_kim_subject": pick,
            }
        )
    clin = pd.DataFrame(clinical)
    # synthetic BMI: one value per patient (+ small change between timepoints)
    bmi_pat = {p: round(float(rng.normal(26.0, 3.5)), 1) for p in sorted(clin.patient_id.unique())}
    clin["bmi"] = [
        round(bmi_pat[p] - 0.4 * t, 1) for p, t in zip(clin.patient_id, clin.timepoint, strict=True)
    ]
    mdir = out / "metadata"
    mdir.mkdir(parents=True, exist_ok=True)
    clin.to_csv(mdir / "clinical.tsv", sep="\t", index=False)
    provdf = pd.DataFrame(prov)
    provdf.to_csv(mdir / "sample_provenance.tsv", sep="\t", index=False)

    vals = mtb.loc[provdf.metabolites_from_kim_subject, mets]
    vals.index = provdf.sample_id.values
    vals.index.name = "sample_id"
    vals.to_csv(mdir / "metabolites.tsv", sep="\t", float_format="%.3f")
    ann = sel[sel.Compound.isin(mets)][["Compound", "HMDB", "KEGG", "Superpathway", "Subpathway"]]
    ann = ann.rename(
        columns={
            "Compound": "metabolite",
            "Superpathway": "superpathway",
            "Subpathway": "subpathway",
        }
    )
    ann = ann.replace({"HMDB": {"NA": ""}, "KEGG": {"NA": ""}})
    ann.to_csv(mdir / "metabolites_annotation.tsv", sep="\t", index=False)
    return clin, provdf, mets


def make_kim_subset(shared: Path, out: Path, per_group: int = 12, n_genera: int = 30):
    """A small real cohort table for the diversity tests: from KIM_ADENOMAS_2020, the first
    ``per_group`` samples (by ID) of each study group and the ``n_genera`` genera with the most
    reads in them (ties by name), as samples x genera counts, and their metadata rows."""
    kim = shared / "multiomics" / "KIM_ADENOMAS_2020"
    meta = pd.read_csv(kim / "metadata.tsv.gz", sep="\t", dtype=str, keep_default_na=False)
    counts = pd.read_csv(kim / "genera.counts.tsv.gz", sep="\t", index_col=0)
    meta = meta[meta["Sample"].isin(counts.index)].sort_values("Sample")
    chosen = meta.groupby("Study.Group", sort=True).head(per_group)
    chosen = chosen.sort_values("Sample")
    sub = counts.loc[chosen["Sample"]]
    totals = sub.sum(axis=0)
    order = sorted(sub.columns, key=lambda c: (-int(totals[c]), c))[:n_genera]
    sub = sub[sorted(order)]
    sub.index.name = "Sample"
    folder = out / "multiomics"
    folder.mkdir(parents=True, exist_ok=True)
    sub.to_csv(folder / "kim_genera.counts.tsv", sep="\t", lineterminator="\n")
    columns = ["Sample", "Subject", "Study.Group", "Age", "Gender"]
    chosen[columns].to_csv(folder / "kim_metadata.tsv", sep="\t", index=False, lineterminator="\n")


def make_sample_sheet(config: Path):
    config.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(REPO / "test_data" / "reads", config.parent)
    patients = {s: p for s, p, *_ in DEMO_SAMPLES}
    lines = ["sample_id\tpatient_id\tfastq_1\tfastq_2"]
    for sample, *_ in DEMO_SAMPLES:
        if sample == "SRR514303":
            lines.append(f"{sample}\t{patients[sample]}\t{rel}/SRR514303_SE.fastq.gz\t")
        else:
            lines.append(
                f"{sample}\t{patients[sample]}\t{rel}/{sample}_R1.fastq.gz\t{rel}/{sample}_R2.fastq.gz"
            )
    config.write_text("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--shared",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="shared real-data folder (default: %(default)s)",
    )
    ap.add_argument(
        "--out", type=Path, default=REPO / "test_data", help="output folder (default: %(default)s)"
    )
    ap.add_argument(
        "--config",
        type=Path,
        default=REPO / "config" / "samples.tsv",
        help="demo sample sheet to write (default: %(default)s)",
    )
    args = ap.parse_args(argv)
    shared, out = args.shared.resolve(), args.out.resolve()
    if not (shared / "genomes" / "genomes.tsv").exists():
        sys.exit(f"shared data not found under {shared} (use --shared)")
    if shutil.which("art_illumina") is None:
        sys.exit("art_illumina not found on PATH (apt-get install art-nextgen-simulation-tools)")
    out.mkdir(parents=True, exist_ok=True)
    print("real reads ...", file=sys.stderr)
    make_real_reads(shared, out)
    print("reference fragments ...", file=sys.stderr)
    refs = make_references(shared, out)
    print("taxonomy, host, adapters ...", file=sys.stderr)
    copy_static(shared, out)
    print("simulated samples (ART) ...", file=sys.stderr)
    comp = make_simulations(shared, out, refs)
    print("metadata ...", file=sys.stderr)
    make_metadata(shared, out)
    print("KIM cohort subset ...", file=sys.stderr)
    make_kim_subset(shared, out)
    make_sample_sheet(args.config)
    with pd.option_context("display.width", 200, "display.max_rows", 100):
        print(comp.to_string(index=False))


if __name__ == "__main__":
    main()
