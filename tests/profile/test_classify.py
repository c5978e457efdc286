"""Read classification: the call kernel against its naive twin, and accuracy on simulated reads."""

from __future__ import annotations

import gzip
import importlib.util

import numpy as np
import pandas as pd
import pytest
from conftest import READS, TEST_DATA, write_fastq
from naive import naive_call, naive_minimizer_taxa, naive_minimizers

from microbiome.cli.main import main
from microbiome.errors import ConfigError
from microbiome.io.reads import read_batches
from microbiome.profile import _kernels
from microbiome.profile.classify import classify_batch, classify_reads
from microbiome.profile.database import build_database, load_database
from microbiome.taxonomy import Taxonomy

REFERENCES = TEST_DATA / "references"
TAXDUMP = TEST_DATA / "taxonomy"


def random_tree(rng, n):
    parent = {1: 1}
    for t in range(2, n + 1):
        parent[t] = int(rng.integers(1, t))
    return parent


@pytest.mark.parametrize("confidence", [0.0, 0.1, 0.3, 0.6, 1.0])
def test_call_kernel_matches_naive(confidence):
    rng = np.random.default_rng(11)
    for n_taxa in (1, 3, 12, 60):
        parent = random_tree(rng, n_taxa)
        tax = Taxonomy.from_edges(parent, {}, {})
        for _ in range(150):
            total = int(rng.integers(0, 40))
            hits = [
                int(t) if rng.random() < 0.7 else 0 for t in rng.integers(1, n_taxa + 1, size=total)
            ]
            # Few distinct taxa most of the time: ties and deep paths are both exercised.
            if rng.random() < 0.5 and hits:
                keep = rng.choice(hits, size=2)
                hits = [h if h in keep else 0 for h in hits]
            min_hits = int(rng.integers(0, 3))
            expected = naive_call(hits, total, parent, confidence, min_hits)
            nodes = np.array([tax.node(h) if h else -1 for h in hits], dtype=np.int32)
            starts = np.array([0, total], dtype=np.int64)
            calls = np.empty(1, dtype=np.int32)
            totals = np.empty(1, dtype=np.int64)
            # Split in two "mates" to check the pooling of a pair.
            cut = total // 2
            _kernels.classify_fragments(
                nodes[:cut],
                np.array([0, cut], dtype=np.int64),
                nodes[cut:],
                np.array([0, total - cut], dtype=np.int64),
                True,
                tax.parents,
                tax.depth,
                confidence,
                min_hits,
                calls,
                totals,
            )
            got = 0 if calls[0] < 0 else int(tax.taxids[calls[0]])
            assert got == expected, (hits, confidence, min_hits)
            assert totals[0] == total
            _kernels.classify_fragments(
                nodes,
                starts,
                nodes[:0],
                starts,
                False,
                tax.parents,
                tax.depth,
                confidence,
                min_hits,
                calls,
                totals,
            )
            assert (0 if calls[0] < 0 else int(tax.taxids[calls[0]])) == expected


def test_batch_matches_naive_pipeline(tmp_path, threads):
    """Minimizers -> lookup -> call on reads cut from the references, against the twins."""
    rng = np.random.default_rng(5)
    parent = {1: 1, 10: 1, 100: 10, 101: 10}
    tax = Taxonomy.from_edges(parent, {100: "species", 101: "species", 10: "genus"}, {})
    genome = {t: "".join(rng.choice(list("ACGT"), size=3000)) for t in (100, 101)}
    shared = "".join(rng.choice(list("ACGT"), size=500))
    genome[100] += shared
    genome[101] = shared + genome[101]
    fasta = tmp_path / "refs.fa"
    fasta.write_text("".join(f">g{t} kraken:taxid|{t}\n{s}\n" for t, s in genome.items()))
    k, w = 21, 4
    build_database([fasta], tax, None, tmp_path / "db", k=k, w=w, threads=threads)
    db = load_database(tmp_path / "db")
    table = naive_minimizer_taxa([(s, t) for t, s in genome.items()], parent, k, w)
    records = []
    for i in range(60):
        t = (100, 101)[i % 2]
        start = int(rng.integers(0, len(genome[t]) - 120))
        seq = list(genome[t][start : start + int(rng.integers(10, 120))])
        for j in rng.integers(0, len(seq), size=int(rng.integers(0, 4))):
            seq[j] = "ACGTN"[int(rng.integers(0, 5))]
        records.append((f"r{i}", "".join(seq), "I" * len(seq)))
    records.append(("allN", "N" * 50, "I" * 50))
    reads = write_fastq(tmp_path / "r.fq", records)
    batch = next(read_batches(reads))
    result = classify_batch(db, batch, confidence=0.2, min_hit_groups=1)
    for i, (_, seq, _) in enumerate(records):
        values = [v for v, _ in naive_minimizers(seq, k, w, db.seed)]
        hits = [table.get(v, 0) for v in values]
        expected = naive_call(hits, len(values), parent, 0.2, 1)
        call = int(result.calls[i])
        assert (0 if call < 0 else int(db.taxonomy.taxids[call])) == expected, records[i]


@pytest.fixture(scope="module")
def real_db(tmp_path_factory):
    out = tmp_path_factory.mktemp("classify") / "refs.mbdb"
    build_database([REFERENCES], TAXDUMP, REFERENCES / "genomes.tsv", out, threads=2)
    return load_database(out)


def _truth(sample):
    truth = pd.read_csv(TEST_DATA / "truth" / f"{sample}.reads.tsv.gz", sep="\t")
    truth["read_id"] = truth["read_id"].str.replace(r"/[12]$", "", regex=True)
    return truth.drop_duplicates("read_id").set_index("read_id")["taxid"]


def _score(path, sample, tax):
    out = pd.read_csv(path, sep="\t", header=None, names=["flag", "id", "taxid", "len", "hits"])
    truth = _truth(sample)
    assert len(out) == len(truth)
    correct = wrong = unclassified = human = human_classified = 0
    for read_id, called in zip(out["id"], out["taxid"], strict=True):
        true = int(truth[read_id])
        if true == 9606:
            human += 1
            human_classified += called != 0
        elif called == 0:
            unclassified += 1
        elif called in tax.lineage(true):
            correct += 1
        else:
            wrong += 1
    n = correct + wrong + unclassified
    return correct / n, wrong / n, human, human_classified


@pytest.mark.parametrize("sample", ["sim01", "sim03", "sim04"])
def test_accuracy_on_simulated_pairs(tmp_path, real_db, sample, threads):
    out = tmp_path / f"{sample}.reads.gz"
    result = classify_reads(
        real_db,
        READS / f"{sample}_R1.fastq.gz",
        READS / f"{sample}_R2.fastq.gz",
        threads=threads,
        output=out,
    )
    assert result.total_reads == 4000 and result.paired
    assert sum(result.direct_counts.values()) == 4000
    assert result.direct_counts[0] == result.unclassified
    correct, wrong, human, human_classified = _score(out, sample, real_db.taxonomy)
    # Measured: 100 % correct, 0 wrong (reads simulated from the reference fragments).
    assert correct >= 0.98
    assert wrong < 0.005
    if sample == "sim04":
        assert human == 120 and human_classified <= 0.05 * human  # measured: 0
    with gzip.open(out, "rt") as f:
        flag, _read_id, taxid, lengths, hit_list = f.readline().rstrip("\n").split("\t")
    assert flag in "CU" and lengths.count("|") == 1 and " |:| " in hit_list


def test_single_end_and_confidence(tmp_path, real_db):
    loose = classify_reads(real_db, READS / "sim01_R1.fastq.gz", threads=1)
    strict = classify_reads(real_db, READS / "sim01_R1.fastq.gz", threads=2, confidence=0.9)
    assert not loose.paired and loose.total_reads == strict.total_reads == 4000
    assert loose.unclassified < 40
    assert strict.unclassified >= loose.unclassified  # harder to pass, never easier
    species = {562, 623, 28901, 573, 1351, 1352, 239935, 165179, 216816, 1502, 817, 411483, 40520}
    assert sum(c for t, c in loose.direct_counts.items() if t in species) >= 0.95 * 4000


def test_reads_without_valid_kmers_are_unclassified(tmp_path, real_db):
    records = [("short", "ACGTACGT", "IIIIIIII"), ("allN", "N" * 150, "I" * 150), ("empty", "", "")]
    reads = write_fastq(tmp_path / "r.fq", records)
    out = tmp_path / "r.out"
    result = classify_reads(real_db, reads, output=out)
    assert result.total_reads == 3 and result.unclassified == 3
    assert result.direct_counts == {0: 3} and result.minimizers == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "U\tshort\t0\t8\t"
    assert [line.split("\t")[1] for line in lines] == ["short", "allN", "empty"]


def test_bad_arguments(real_db):
    with pytest.raises(ConfigError, match="confidence"):
        classify_reads(real_db, READS / "sim01_R1.fastq.gz", confidence=1.5)
    with pytest.raises(ConfigError, match="threads"):
        classify_reads(real_db, READS / "sim01_R1.fastq.gz", threads=0)


@pytest.mark.skipif(
    importlib.util.find_spec("microbiome.profile.writers") is None,
    reason="microbiome.profile.writers is not written yet",
)
def test_cli_classify(tmp_path, real_db, capsys):
    report = tmp_path / "s.kreport"
    code = main(
        [
            "classify",
            "--db",
            real_db.path,
            "-1",
            str(READS / "sim03_R1.fastq.gz"),
            "-2",
            str(READS / "sim03_R2.fastq.gz"),
            "-t",
            "2",
            "--report",
            str(report),
            "--output",
            str(tmp_path / "s.reads.gz"),
            "--cami",
            str(tmp_path / "s.cami"),
            "--tsv",
            str(tmp_path / "s.tsv"),
            "-s",
            "S",
        ]
    )
    assert code == 0
    assert report.exists() and (tmp_path / "s.cami").exists() and (tmp_path / "s.tsv").exists()
    # stderr is not a terminal: no progress lines unless asked for
    assert "progress:" not in capsys.readouterr().err
    args = ["classify", "--db", real_db.path, "-1", str(READS / "sim03_R1.fastq.gz")]
    assert main([*args, "--report", str(report), "--progress", "-q"]) == 0
    lines = [
        x for x in capsys.readouterr().err.splitlines() if x.startswith("microbiome: progress")
    ]
    assert lines[0].startswith("microbiome: progress: classify: 0 reads, ")
    assert lines[-1].startswith("microbiome: progress: classify: 4,000 reads, ")
    assert lines[-1].endswith(", done")


def test_cli_classify_bad_database(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"x" * 100)
    code = main(
        [
            "classify",
            "--db",
            str(bad),
            "-1",
            str(READS / "sim03_R1.fastq.gz"),
            "--report",
            str(tmp_path / "r"),
        ]
    )
    assert code in (1, 2)
    assert not (tmp_path / "r").exists()


def _peak_rss_mb(command: list[str]) -> float:
    """Peak resident memory of a child process (wait4), in MB."""
    import os
    import subprocess

    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        assert process.returncode == 0, process.stderr.read().decode()
    return usage.ru_maxrss / 1024


def test_memory_does_not_grow_with_the_reads(tmp_path, real_db):
    """Issue 4's scale check: the same reads duplicated 10x peak within 10 % of the memory."""
    import sys

    records = {1: [], 2: []}
    for mate in (1, 2):
        for sample in ("sim01", "sim02", "sim03", "sim04"):
            with gzip.open(READS / f"{sample}_R{mate}.fastq.gz", "rb") as f:
                records[mate].append(f.read())
    inputs = {}
    for copies in (1, 10):
        for mate in (1, 2):
            path = tmp_path / f"x{copies}_R{mate}.fastq"
            with open(path, "wb") as f:
                for _ in range(copies):  # several 1 MB batches even for one copy
                    f.writelines(records[mate])
            inputs[copies, mate] = str(path)
    peaks = {}
    for copies in (1, 10):
        command = [sys.executable, "-c", "from microbiome.cli.main import run; run()",
                   "classify", "--db",
                   str(real_db.path), "-1", inputs[copies, 1], "-2", inputs[copies, 2], "-t", "2",
                   "--report", str(tmp_path / f"x{copies}.kreport"),
                   "--output", str(tmp_path / f"x{copies}.reads.gz")]  # fmt: skip
        peaks[copies] = _peak_rss_mb(command)
    assert peaks[10] <= 1.10 * peaks[1], peaks
    # And the work was really done ten times over.
    first = (tmp_path / "x1.kreport").read_text().splitlines()[0].split("\t")
    tenfold = (tmp_path / "x10.kreport").read_text().splitlines()[0].split("\t")
    assert int(tenfold[1]) == 10 * int(first[1])


def test_classify_imports_no_heavy_libraries(tmp_path, real_db):
    """`microbiome classify` starts fast: no pandas, scikit-bio, matplotlib, Snakemake,
    scikit-learn or jsonschema (they cost seconds and tens of MB; issue 15's start-up)."""
    import json
    import subprocess
    import sys

    heavy = ["pandas", "skbio", "matplotlib", "snakemake", "sklearn", "jsonschema", "statsmodels"]
    script = (
        "import json, sys\n"
        "from microbiome.cli.main import main\n"
        "code = main(sys.argv[1:])\n"
        f"print(json.dumps([code, [m for m in {heavy!r} if m in sys.modules]]))\n"
    )
    report = tmp_path / "r.kreport"
    command = [sys.executable, "-c", script, "classify", "--db", str(real_db.path),
               "-1", str(READS / "sim01_R1.fastq.gz"), "-2", str(READS / "sim01_R2.fastq.gz"),
               "--report", str(report), "--tsv", str(tmp_path / "t.tsv"),
               "--cami", str(tmp_path / "c.cami"), "-q"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    code, imported = json.loads(done.stdout.splitlines()[-1])
    assert code == 0 and report.stat().st_size > 0 and (tmp_path / "t.tsv").stat().st_size > 0
    assert imported == []
    # The test can fail: the same check sees pandas once a command imports it.
    done = subprocess.run(
        [sys.executable, "-c", "import sys, microbiome.profile.summary;"
         "print('pandas' in sys.modules)"], capture_output=True, text=True, check=True
    )  # fmt: skip
    assert done.stdout.strip() == "True"
