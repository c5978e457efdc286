"""Our profiles read by the tools users have: the Kraken-style report by Pavian and KrakenTools
(through the Python twins of their parsers in tests/peer_readers.py: neither installs here), the
CAMI profile scored by OPAL (cami-opal, run as a program) and the BIOM table checked by the
`biom` program. Every number the tools see is compared with one counted here from the per-read
output and the taxonomy's nodes.dmp, not from our writers.

Sample: sim04 (Enterobacteriaceae, enterococci, 3 % human reads) classified against a database
without Klebsiella pneumoniae and Salmonella enterica, so that the profile has unclassified reads,
missing species and errors for OPAL to score; sim02, and a sample of unclassifiable reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from conftest import READS, ROOT, TEST_DATA, write_fastq
from peer_readers import Refused, combine_kreports, kreport2mpa, pavian_read_report

from microbiome.cli.main import main
from microbiome.profile.merge import read_rank_table

REFERENCES = TEST_DATA / "references"
TAXDUMP = TEST_DATA / "taxonomy"
LEFT_OUT = ("klebsiella_pneumoniae.fna.gz", "salmonella_enterica.fna.gz")
CANONICAL = ("superkingdom", "phylum", "class", "order", "family", "genus", "species")
KRAKEN_CODES = dict(zip(CANONICAL, "DPCOFGS", strict=True))
REAL_KRAKEN2 = sorted((TEST_DATA / "profiler_outputs").glob("kraken2__*"))


# --- the taxonomy, read from the dump files directly ---------------------------------------------


def _dmp(name: str) -> list[list[str]]:
    with open(TAXDUMP / name, encoding="utf-8") as f:
        return [[x.strip() for x in line.split("|")] for line in f]


PARENT = {int(r[0]): int(r[1]) for r in _dmp("nodes.dmp")}
RANK = {int(r[0]): r[2] for r in _dmp("nodes.dmp")}
NAME = {int(r[0]): r[1] for r in _dmp("names.dmp") if r[3] == "scientific name"}


def lineage(taxid: int) -> list[int]:
    """Root first, down to ``taxid``."""
    out = [taxid]
    while out[-1] != 1:
        out.append(PARENT[out[-1]])
    return out[::-1]


def at_rank(taxid: int, rank: str) -> int | None:
    return next((t for t in lineage(taxid) if RANK[t] == rank), None)


# --- the samples ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Per sample: the report, CAMI profile, rank table and per-read output of `microbiome
    classify` (reads as classified: --abundance none, so that every number is a count)."""
    out = tmp_path_factory.mktemp("interop")
    refs = [str(p) for p in sorted(REFERENCES.glob("*.fna.gz")) if p.name not in LEFT_OUT]
    db = out / "refs.mbdb"
    build = ["db", "build", "--sequences", *refs, "--taxonomy", str(TAXDUMP), "-o", str(db)]
    assert main([*build, "--seqid2taxid", str(REFERENCES / "genomes.tsv"), "-q"]) == 0
    noise = write_fastq(out / "noise.fq", [(f"n{i}", "ACGT" * 30, "I" * 120) for i in range(5)])
    inputs = {
        "sim04": [READS / "sim04_R1.fastq.gz", "-2", READS / "sim04_R2.fastq.gz"],
        "sim02": [READS / "sim02_R1.fastq.gz", "-2", READS / "sim02_R2.fastq.gz"],
        "noise": [noise],
    }
    files = {}
    for sample, reads in inputs.items():
        paths = {k: out / f"{sample}.{k}" for k in ("kreport", "cami", "tsv", "kraken")}
        args = ["classify", "--db", str(db), "-1", *map(str, reads), "-s", sample, "-q"]
        args += ["--report", str(paths["kreport"]), "--cami", str(paths["cami"])]
        args += ["--tsv", str(paths["tsv"]), "--output", str(paths["kraken"])]
        assert main([*args, "--abundance", "none"]) == 0
        files[sample] = paths
    return files


def read_calls(path: Path) -> tuple[Counter, int]:
    """Reads per assigned taxid (0: unclassified) from the per-read output, and all reads."""
    with open(path, encoding="utf-8") as f:
        calls = Counter(int(line.split("\t")[2]) for line in f)
    return calls, sum(calls.values())


def clade_counts(calls: Counter) -> Counter:
    clade: Counter = Counter()
    for taxid, n in calls.items():
        for t in lineage(taxid) if taxid else ():
            clade[t] += n
    return clade


# --- Pavian and KrakenTools: the twins follow the tools on real Kraken 2 reports -----------------


@pytest.mark.parametrize("path", REAL_KRAKEN2, ids=lambda p: p.name.split("__")[1][:22])
def test_twins_read_real_kraken2_reports(path):
    """What the twins make of reports that Kraken 2 wrote, which both tools are built for."""
    rows = pavian_read_report(path)
    assert [r["name"] for r in rows[:2]] == ["u_unclassified", "-_root"]
    total = sum(r["taxonReads"] for r in rows)
    assert rows[1]["percentage"] == pytest.approx(100 * rows[1]["cladeReads"] / total, rel=1e-5)
    mpa = kreport2mpa(path)
    assert mpa and all(p.split("|")[0].startswith(("k__", "p__")) for p, _ in mpa)
    combined = combine_kreports([path, path])
    assert combined["taxa"]["1"]["tot_all"] == 2 * rows[1]["cladeReads"]


def test_twins_refuse_what_the_tools_refuse(tmp_path):
    no_root = tmp_path / "no_root.txt"
    no_root.write_text("100.00\t4\t4\tU\t0\tunclassified\n")  # Kraken 2's all-unclassified
    with pytest.raises(Refused, match="required format"):
        pavian_read_report(no_root)
    ok = tmp_path / "ok.txt"
    ok.write_text(" 50.00\t4\t4\tU\t0\tunclassified\n 50.00\t4\t4\tR\t1\troot\n")
    with pytest.raises(Refused, match="first report has no root"):
        combine_kreports([no_root, ok])
    skipped = tmp_path / "skipped.txt"
    skipped.write_text("100.00\t4\t0\tR\t1\troot\n100.00\t4\t4\tS\t562\t    Escherichia coli\n")
    with pytest.raises(Refused, match="IndexError"):
        kreport2mpa(skipped)
    with pytest.raises(Refused, match="no parent"):
        combine_kreports([skipped])


# --- Pavian and KrakenTools read ours -----------------------------------------------------------


@pytest.mark.parametrize("sample", ["sim04", "noise"])
def test_pavian_reads_our_report(samples, sample):
    calls, total = read_calls(samples[sample]["kraken"])
    clade = clade_counts(calls)
    rows = pavian_read_report(samples[sample]["kreport"])
    assert [r["name"] for r in rows[:2]] == ["u_unclassified", "-_root"]
    assert rows[0]["taxonReads"] == calls[0]
    assert sum(r["taxonReads"] for r in rows) == total
    seen = {int(r["taxID"]): r for r in rows[1:]}
    assert seen.keys() == (set(clade) or {1})
    for taxid, row in seen.items():
        assert (row["cladeReads"], row["taxonReads"]) == (clade[taxid], calls[taxid])
        assert row["percentage"] == pytest.approx(100 * clade[taxid] / total, rel=1e-5)
        # the lineage Pavian builds from the indentation is the taxonomy's
        names = [NAME[t] for t in lineage(taxid)]
        assert [x.split("_", 1)[1] for x in row["taxLineage"].split("|")] == names
        code = KRAKEN_CODES.get(RANK[taxid], "-")
        assert row["taxRank"] == code and row["name"] == f"{code.lower()}_{NAME[taxid]}"
    if sample == "sim04":
        assert calls[0] > 0.2 * total  # human, Klebsiella, Salmonella
        assert seen[562]["taxLineage"].endswith("|g_Escherichia|s_Escherichia coli")


def test_kreport2mpa_reads_our_report(samples):
    calls, _ = read_calls(samples["sim04"]["kraken"])
    clade = clade_counts(calls)
    expected = {}
    for taxid in clade:
        if RANK[taxid] not in KRAKEN_CODES:
            continue
        path = [t for t in lineage(taxid) if RANK[t] in KRAKEN_CODES]
        levels = [KRAKEN_CODES[RANK[t]].lower().replace("d", "k") + "__" + NAME[t] for t in path]
        expected["|".join(levels).replace(" ", "_")] = clade[taxid]
    got = kreport2mpa(samples["sim04"]["kreport"])
    assert dict(got) == expected and len(got) == len(expected)
    coli = "|".join(["k__Bacteria", "p__Pseudomonadota", "c__Gammaproteobacteria",
                     "o__Enterobacterales", "f__Enterobacteriaceae", "g__Escherichia",
                     "s__Escherichia_coli"])  # fmt: skip
    assert dict(got)[coli] == clade[562] > 0
    # with the intermediate ranks, one line per taxon below the root
    assert len(kreport2mpa(samples["sim04"]["kreport"], intermediate_ranks=True)) == len(clade) - 1


def test_combine_kreports_reads_our_reports(samples):
    """The sample without classified reads goes first: the script takes the tree's root from the
    first report, so it needs that report's root line."""
    order = ["noise", "sim04", "sim02"]
    combined = combine_kreports([samples[s]["kreport"] for s in order])
    per_sample = [read_calls(samples[s]["kraken"]) for s in order]
    assert combined["total"] == sum(total for _, total in per_sample)
    assert combined["unclassified"] == {i: c[0] for i, (c, _) in enumerate(per_sample, 1)}
    for taxid, node in combined["taxa"].items():
        clades = [clade_counts(c)[int(taxid)] for c, _ in per_sample]
        direct = [c[int(taxid)] for c, _ in per_sample]
        assert (node["tot_all"], node["tot_lvl"]) == (sum(clades), sum(direct))
        assert node["name"] == NAME[int(taxid)]
    union = set().union(*(clade_counts(c) for c, _ in per_sample))
    assert set(map(int, combined["taxa"])) == union


# --- OPAL scores our CAMI profile ----------------------------------------------------------------


def opal_program() -> str | None:
    """opal.py from MICROBIOME_OPAL, the .venv-opal/ that .ci/run makes, or the PATH."""
    for candidate in (os.environ.get("MICROBIOME_OPAL"), ROOT / ".venv-opal" / "bin" / "opal.py"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return shutil.which("opal.py")


OPAL = opal_program()
needs_opal = pytest.mark.skipif(
    OPAL is None,
    reason="OPAL is not installed: python3 -m venv .venv-opal && .venv-opal/bin/pip install "
    "cami-opal==1.0.14 (its own venv: it pins pandas 2), or set MICROBIOME_OPAL",
)


def truth_percentages() -> dict[str, dict[int, float]]:
    """sim04's bacterial composition (the human reads left out) at each canonical rank, in %."""
    truth = pd.read_csv(TEST_DATA / "truth" / "sim04.profile.tsv", sep="\t")
    truth = truth[truth["taxid"] != 9606]
    out: dict[str, dict[int, float]] = {rank: {} for rank in CANONICAL}
    for taxid, pairs in zip(truth["taxid"], truth["n_pairs"], strict=True):
        for rank in CANONICAL:
            t = at_rank(int(taxid), rank)
            out[rank][t] = out[rank].get(t, 0.0) + 100.0 * pairs / truth["n_pairs"].sum()
    return out


def write_gold_standard(path: Path, sample_id: str) -> None:
    rows = []
    for rank, values in truth_percentages().items():
        for taxid, percent in values.items():
            path_ids = [at_rank(taxid, r) for r in CANONICAL[: CANONICAL.index(rank) + 1]]
            taxpath = "|".join("" if t is None else str(t) for t in path_ids)
            names = "|".join("" if t is None else NAME[t] for t in path_ids)
            rows.append(f"{taxid}\t{rank}\t{taxpath}\t{names}\t{percent}")
    header = [f"@SampleID:{sample_id}", "@Version:0.9.1", "@Ranks:" + "|".join(CANONICAL)]
    columns = "@@TAXID\tRANK\tTAXPATH\tTAXPATHSN\tPERCENTAGE"
    path.write_text("\n".join([*header, "@TaxonomyID:NCBI", "", columns, *rows]) + "\n")


def expected_metrics(predicted: dict[int, float], gold: dict[int, float]) -> dict[str, float]:
    """OPAL's metrics at one rank, from fractions (OPAL's definitions: l1norm.py,
    braycurtis.py, binary_metrics.py)."""
    tp = len(predicted.keys() & gold.keys())
    fp, fn = len(predicted.keys() - gold.keys()), len(gold.keys() - predicted.keys())
    taxa = predicted.keys() | gold.keys()
    diff = sum(abs(predicted.get(t, 0.0) - gold.get(t, 0.0)) for t in taxa)
    purity, completeness = tp / (tp + fp), tp / (tp + fn)
    return {
        "True positives": tp,
        "False positives": fp,
        "False negatives": fn,
        "Purity": purity,
        "Completeness": completeness,
        "F1 score": 2 * purity * completeness / (purity + completeness),
        "L1 norm error": diff,
        "Bray-Curtis distance": diff / (sum(predicted.values()) + sum(gold.values())),
        "Sum of abundances": sum(predicted.values()),
    }


@pytest.mark.slow
@needs_opal
@pytest.mark.parametrize("normalize", [False, True], ids=["as_written", "normalized"])
def test_opal_scores_our_cami_profile(samples, tmp_path, normalize):
    """OPAL reads our CAMI profile and scores it as we would: percentages of all reads (what a
    rank lacks to 100 is unassigned), or renormalised per rank with ``--normalize``."""
    gold = tmp_path / "gold.cami"
    write_gold_standard(gold, "sim04")
    command = [OPAL, "-g", str(gold), "-o", str(tmp_path / "opal"), "-l", "microbiome"]
    command += ["--normalize"] * normalize + [str(samples["sim04"]["cami"])]
    done = subprocess.run(command, capture_output=True, text=True, env=_without_venv())
    assert done.returncode == 0, done.stderr[-2000:]
    results = pd.read_csv(tmp_path / "opal" / "results.tsv", sep="\t")
    ours = results[results["tool"] == "microbiome"]
    assert set(ours["sample"]) == {"sim04"}
    calls, total = read_calls(samples["sim04"]["kraken"])
    truth = truth_percentages()
    for rank in CANONICAL:
        predicted = Counter()
        for taxid, n in calls.items():
            t = at_rank(taxid, rank) if taxid else None
            if t is not None:
                predicted[t] += n
        denominator = sum(predicted.values()) if normalize else total
        fractions = {t: n / denominator for t, n in predicted.items()}
        gold_fractions = {t: p / 100 for t, p in truth[rank].items()}
        got = ours[ours["rank"] == rank].set_index("metric")["value"]
        for metric, value in expected_metrics(fractions, gold_fractions).items():
            assert got[metric] == pytest.approx(value, abs=1e-9), (rank, metric)
    species = ours[ours["rank"] == "species"].set_index("metric")["value"]
    # two species are not in the database: 7 of 9 found; one of their reads is called
    # Bacteroides fragilis (absent from sim04), the one false positive
    assert species["Completeness"] == pytest.approx(7 / 9)
    assert species["Purity"] == pytest.approx(7 / 8) and 0 < species["L1 norm error"] < 2


def _without_venv() -> dict[str, str]:
    """OPAL runs from its own venv: our venv's variables must not leak into it."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["MPLBACKEND"] = "Agg"
    return env


# --- the biom program checks our BIOM table ------------------------------------------------------


def biom_program() -> str:
    return shutil.which("biom") or str(Path(sys.executable).parent / "biom")


def test_biom_validates_and_summarizes_our_table(samples, tmp_path):
    tables = [samples[s]["tsv"] for s in ("sim04", "sim02", "noise")]
    assert main(["merge-profiles", *map(str, tables), "-o", str(tmp_path), "-q"]) == 0
    table = tmp_path / "profiles.biom"
    done = subprocess.run(
        [biom_program(), "validate-table", "-i", str(table)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "is a valid BIOM-formatted file" in done.stdout, done.stdout
    done = subprocess.run(
        [biom_program(), "summarize-table", "-i", str(table)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    fields = {k: v.strip() for k, _, v in (x.partition(":") for x in lines)}
    after = lines[lines.index("Counts/sample detail:") + 1 :]
    detail = {k: float(v) for k, _, v in (x.partition(":") for x in after if x)}
    species = {}
    for sample in ("sim04", "sim02", "noise"):
        calls, _ = read_calls(samples[sample]["kraken"])
        species[sample] = {t: n for t, n in clade_counts(calls).items() if RANK[t] == "species"}
    assert detail == {s: float(sum(v.values())) for s, v in species.items()}
    taxa = set().union(*species.values())
    assert (fields["Num samples"], fields["Num observations"]) == ("3", str(len(taxa)))
    assert float(fields["Total count"]) == sum(detail.values())
    assert read_rank_table(samples["noise"]["tsv"]).metadata["status"] == "empty"
