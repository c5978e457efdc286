"""Database build and on-disk format: LCA of minimizers, taxid sources, corruption checks."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import signal
import struct
import time

import numpy as np
import pytest
from conftest import TEST_DATA
from naive import naive_minimizer_taxa

from microbiome.cli.main import main
from microbiome.errors import ConfigError, DatabaseError, InputError
from microbiome.profile.classify import classify_reads
from microbiome.profile.database import MAGIC, build_database, load_database, parse_memory
from microbiome.taxonomy import Taxonomy

REFERENCES = TEST_DATA / "references"
TAXDUMP = TEST_DATA / "taxonomy"

#: A small tree: 1 -> 10 -> (100 -> 1000, 1001), (101)
PARENT = {1: 1, 10: 1, 100: 10, 101: 10, 1000: 100, 1001: 100}
RANKS = {10: "genus", 100: "species", 101: "species", 1000: "strain", 1001: "strain"}


@pytest.fixture(scope="module")
def small_taxonomy() -> Taxonomy:
    return Taxonomy.from_edges(PARENT, RANKS, {t: f"taxon {t}" for t in PARENT})


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Random genomes sharing segments, so that some minimizers go to inner nodes."""
    rng = np.random.default_rng(3)

    def rand(n):
        return "".join(rng.choice(list("ACGT"), size=n))

    shared = rand(400)
    genus_wide = rand(300)
    seqs = {
        "a1": (rand(900) + shared + genus_wide + rand(200), 1000),
        "a2": (rand(700) + shared + "NNNN" + rand(300).lower(), 1001),
        "b": (rand(800) + genus_wide + rand(10), 101),
        "c": (rand(500), 100),
    }
    folder = tmp_path_factory.mktemp("refs")
    with open(folder / "refs.fa", "w") as f:
        for name, (seq, taxid) in seqs.items():
            f.write(f">{name} kraken:taxid|{taxid} test\n{seq}\n")
    return folder / "refs.fa", [(s, t) for s, t in seqs.values()]


@pytest.mark.parametrize(("k", "w"), [(31, 15), (21, 5), (15, 1)])
def test_table_matches_naive_lca(tmp_path, small_taxonomy, references, threads, k, w):
    fasta, seqs = references
    out = tmp_path / "db"
    build_database([fasta], small_taxonomy, None, out, k=k, w=w, threads=threads)
    db = load_database(out)
    expected = naive_minimizer_taxa(seqs, PARENT, k, w, 0)
    values = np.array(sorted(expected), dtype=np.uint64)
    nodes = db.lookup(values)
    got = {int(v): int(db.taxonomy.taxids[n]) for v, n in zip(values, nodes, strict=True)}
    assert got == expected
    assert len(db) == len(expected)
    assert {101, 10} <= set(got.values())  # genus-wide segment -> the genus
    # Values that are not reference minimizers are not found.
    assert (db.lookup(values ^ np.uint64(0x5555)) == -1).sum() >= len(values) - 2


def test_same_references_give_the_same_database_bytes(
    tmp_path, small_taxonomy, references, monkeypatch
):
    """However long a build takes and with how many threads: build times stay out of the file."""
    fasta, _ = references
    build_database([fasta], small_taxonomy, None, tmp_path / "first", threads=1)
    slow = itertools.count(step=60.0)  # a minute passes whenever the clock is read
    monkeypatch.setattr(time, "monotonic", lambda: next(slow))
    build_database([fasta], small_taxonomy, None, tmp_path / "second", threads=2)
    assert (tmp_path / "second").read_bytes() == (tmp_path / "first").read_bytes()


def test_genome_summary_and_pruned_taxonomy(tmp_path, small_taxonomy, references):
    fasta, _ = references
    header = build_database([fasta], small_taxonomy, None, tmp_path / "db")
    db = load_database(tmp_path / "db")
    assert [g.taxid for g in db.genomes] == [1000, 1001, 101, 100]
    assert all(g.name.startswith("refs.fa:") for g in db.genomes)
    for g in db.genomes:
        assert 0 < g.unique_minimizers <= g.minimizers
    assert db.genomes[3].unique_minimizers == db.genomes[3].minimizers  # nothing shared
    assert sum(t["minimizers_assigned"] for t in header["taxon_summary"]) == len(db)
    assert set(db.taxonomy.taxids.tolist()) == set(PARENT)


@pytest.fixture(scope="module")
def real_db(tmp_path_factory):
    out = tmp_path_factory.mktemp("db") / "refs.mbdb"
    build_database([REFERENCES], TAXDUMP, REFERENCES / "genomes.tsv", out, threads=2)
    return out


def test_real_database(real_db):
    db = load_database(real_db)
    assert len(db.genomes) == 13
    assert {g.taxid for g in db.genomes} == {
        562,
        623,
        28901,
        573,
        1351,
        1352,
        239935,
        165179,
        216816,
        1502,
        817,
        411483,
        40520,
    }
    duncaniae = next(g for g in db.genomes if g.taxid == 411483)
    assert duncaniae.sequences == 178 and duncaniae.length == 150202
    coli = next(g for g in db.genomes if g.taxid == 562)
    assert coli.unique_minimizers < coli.minimizers  # shares minimizers with its relatives
    assert db.taxonomy.lca(562, 623) == 543
    assert db.k == 31 and db.w == 15


def test_cli_build_and_inspect(tmp_path, capsys):
    out = tmp_path / "x.mbdb"
    args = [
        "db",
        "build",
        "--sequences",
        str(REFERENCES / "escherichia_coli.fna.gz"),
        str(REFERENCES / "shigella_flexneri.fna.gz"),
        "--taxonomy",
        str(TAXDUMP),
        "--seqid2taxid",
        str(REFERENCES / "genomes.tsv"),
        "-t",
        "1",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    assert "escherichia_coli.fna.gz\tescherichia_coli.fna.gz\t562\t1\t150000" in (
        capsys.readouterr().out
    )
    assert main(["db", "inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "shigella_flexneri.fna.gz" in text and "Enterobacteriaceae" in text


def test_unmapped_sequence_is_named(tmp_path, small_taxonomy):
    fasta = tmp_path / "refs.fa"
    fasta.write_text(">good kraken:taxid|100\n" + "ACGT" * 30 + "\n>orphan desc\n" + "A" * 80)
    with pytest.raises(InputError, match="sequence 'orphan' has no taxid") as info:
        build_database([fasta], small_taxonomy, None, tmp_path / "db")
    assert info.value.file == str(fasta)
    assert not (tmp_path / "db").exists()


def test_taxid_missing_from_taxonomy_is_named(tmp_path, small_taxonomy):
    fasta = tmp_path / "refs.fa"
    fasta.write_text(">stray\n" + "ACGT" * 30 + "\n")
    table = tmp_path / "map.tsv"
    table.write_text("stray\t4242\n")
    with pytest.raises(InputError, match="sequence 'stray' has taxid 4242, which is not in"):
        build_database([fasta], small_taxonomy, table, tmp_path / "db")
    assert (
        main(
            [
                "db",
                "build",
                "--sequences",
                str(fasta),
                "--taxonomy",
                str(TAXDUMP),
                "--seqid2taxid",
                str(table),
                "-o",
                str(tmp_path / "db"),
            ]
        )
        == 1
    )


def test_seqid2taxid_by_file_name_and_bad_table(tmp_path, small_taxonomy):
    fasta = tmp_path / "genome_b.fna.gz"
    with gzip.open(fasta, "wt") as f:
        f.write(">c1\n" + "ACGTTGCA" * 20 + "\n>c2\n" + "GGCATTAC" * 20 + "\n")
    table = tmp_path / "map.tsv"
    table.write_text("genome_b\t101\n")
    build_database([fasta], small_taxonomy, table, tmp_path / "db", k=15, w=3)
    db = load_database(tmp_path / "db")
    assert db.genomes[0].taxid == 101 and db.genomes[0].sequences == 2
    table.write_text("genome_b\t101\ngenome_b\t100\n")
    with pytest.raises(InputError, match="has taxid 100 here but 101") as info:
        build_database([fasta], small_taxonomy, table, tmp_path / "db")
    assert info.value.line == 2
    table.write_text("genome_b\tx\n")
    with pytest.raises(InputError, match="not a positive integer"):
        build_database([fasta], small_taxonomy, table, tmp_path / "db")


GENBANK = """LOCUS       TESTSEQ                  120 bp    DNA     linear   BCT 01-JAN-2024
DEFINITION  Test sequence.
ACCESSION   TESTSEQ
VERSION     TESTSEQ.1
FEATURES             Location/Qualifiers
     source          1..120
                     /organism="Test"
                     /db_xref="taxon:101"
ORIGIN
        1 acgtacgtta gcattacgga ttacgatcga tcgatcgatt acgcatgcat gcatcgatcg
       61 atgcatgcta gctagcatcg atcgatgcat gctagctagc atgcatgcat cgatcgatgc
//
"""


def test_genbank_taxon(tmp_path, small_taxonomy):
    gb = tmp_path / "test.gbk"
    gb.write_text(GENBANK)
    build_database([gb], small_taxonomy, None, tmp_path / "db", k=21, w=5)
    db = load_database(tmp_path / "db")
    assert db.genomes[0].taxid == 101 and db.genomes[0].length == 120
    assert len(db) > 0


def _rewrite_header(path, change):
    data = path.read_bytes()
    (size,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    header = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + size])
    change(header)
    text = json.dumps(header).encode()
    text += b" " * ((-(len(MAGIC) + 4 + len(text))) % 8)
    path.write_bytes(MAGIC + struct.pack("<I", len(text)) + text + data[len(MAGIC) + 4 + size :])


def test_corrupt_databases(tmp_path, small_taxonomy, references):
    fasta, _ = references
    good = tmp_path / "good.db"
    build_database([fasta], small_taxonomy, None, good)
    data = good.read_bytes()

    version = tmp_path / "version.db"
    version.write_bytes(data)
    _rewrite_header(version, lambda h: h.update(format_version=99))
    with pytest.raises(DatabaseError, match="format version 99 is not supported"):
        load_database(version)

    flipped = tmp_path / "flipped.db"
    flipped.write_bytes(data[:-20] + bytes([data[-20] ^ 1]) + data[-19:])
    with pytest.raises(DatabaseError, match="checksum"):
        load_database(flipped)
    load_database(flipped, verify=False)  # the check can be skipped

    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(data[:-8])
    with pytest.raises(DatabaseError, match="truncated"):
        load_database(truncated)
    truncated.write_bytes(data[:30])
    with pytest.raises(DatabaseError, match="truncated"):
        load_database(truncated)

    other = tmp_path / "other.db"
    other.write_bytes(b"NOTADB" * 10)
    with pytest.raises(DatabaseError, match="bad magic"):
        load_database(other)
    with pytest.raises(DatabaseError, match="not found"):
        load_database(tmp_path / "missing.db")
    assert main(["db", "inspect", str(flipped)]) == 1


# --- duplicate sequence IDs (issue 13) ---------------------------------------------------------

AKKERMANSIA, ESCHERICHIA = 239935, 562


@pytest.fixture(scope="module")
def same_header_pieces(tmp_path_factory):
    """20 kb of Akkermansia and of E. coli (the bundled references), both named '>contig_1'."""
    folder = tmp_path_factory.mktemp("dups")
    pieces = {}
    for stem, source in (("akk", "akkermansia_muciniphila"), ("ecoli", "escherichia_coli")):
        with gzip.open(REFERENCES / f"{source}.fna.gz", "rt") as f:
            seq = "".join(line.strip() for line in f if not line.startswith(">"))[:20_000]
        (folder / f"{stem}.fa").write_text(f">contig_1 a piece of {source}\n{seq}\n")
        pieces[stem] = seq
    return folder, pieces


def _reads_of(seq, n=500, length=100):
    step = (len(seq) - length) // n
    return [seq[i * step : i * step + length] for i in range(n)]


def _build_dups(folder, table, *extra):
    (folder / "map.tsv").write_text(table)
    out = folder / "db.mbdb"
    out.unlink(missing_ok=True)
    args = ["db", "build", "--sequences", str(folder / "akk.fa"), str(folder / "ecoli.fa")]
    args += ["--taxonomy", str(TAXDUMP), "--seqid2taxid", str(folder / "map.tsv")]
    return main([*args, "--read-length", "100", "-t", "1", "-o", str(out), *extra]), out


@pytest.mark.parametrize(
    "table",
    [
        "akk.fa\t239935\necoli.fa\t562\n",
        "contig_1\t562\nakk.fa\t239935\n",  # the stray seqid entry that mislabelled Akkermansia
    ],
    ids=["by_file", "by_seqid_and_file"],
)
def test_duplicate_ids_in_two_files_are_an_error(same_header_pieces, capsys, table):
    folder, _ = same_header_pieces
    code, out = _build_dups(folder, table)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and not out.exists()
    assert len(err) == 1, err
    assert err[0].startswith(f"microbiome: error: {folder / 'ecoli.fa'}: record 1: ")
    assert "duplicate sequence ID 'contig_1'" in err[0]
    assert f"record 1 of {folder / 'akk.fa'}" in err[0]
    assert "--rename-duplicates" in err[0]


def test_duplicate_ids_within_one_file_are_an_error(tmp_path, capsys):
    fasta = tmp_path / "two.fa"
    fasta.write_text(">c1 kraken:taxid|562\n" + "ACGT" * 30 + "\n>c1 kraken:taxid|562\nAC\n")
    code = main(["db", "build", "--sequences", str(fasta), "--taxonomy", str(TAXDUMP),
                 "--rename-duplicates", "-o", str(tmp_path / "db")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert f"{fasta}: record 2: duplicate sequence ID 'c1' (also record 1 of {fasta})" in err[0]


@pytest.mark.parametrize(
    "table",
    ["akk.fa\t239935\necoli.fa\t562\n", "akk:contig_1\t239935\necoli:contig_1\t562\n"],
    ids=["by_file", "by_renamed_id"],
)
def test_rename_duplicates_classifies_each_to_its_taxon(same_header_pieces, capsys, table):
    from microbiome.profile.classify import classify_sequences

    folder, pieces = same_header_pieces
    code, out = _build_dups(folder, table, "--rename-duplicates")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "renamed 2 sequence IDs" in captured.err
    assert "contig_1 in akk.fa -> akk:contig_1" in captured.err
    assert "# renamed sequence IDs\nfile\trecord\tseqid\trenamed\n" in captured.out
    assert "ecoli.fa\t1\tcontig_1\tecoli:contig_1" in captured.out
    db = load_database(out)
    assert sorted(g.taxid for g in db.genomes) == [ESCHERICHIA, AKKERMANSIA]
    for stem, taxid in (("akk", AKKERMANSIA), ("ecoli", ESCHERICHIA)):
        result = classify_sequences(db, _reads_of(pieces[stem]))
        assert result.direct_counts.get(taxid, 0) >= 490, (stem, result.direct_counts)


def test_rename_duplicates_refuses_a_table_keyed_by_the_shared_id(same_header_pieces, capsys):
    folder, _ = same_header_pieces
    code, out = _build_dups(folder, "contig_1\t562\nakk.fa\t239935\n", "--rename-duplicates")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and not out.exists() and len(err) == 1
    assert "key the table by file name or by the renamed IDs ('ecoli:contig_1')" in err[0]


# --- block digests: corruption found where it is read (issue 15) -------------------------------


def test_xxh64_kernel_matches_xxhash():
    """The block digest is XXH64, checked against the xxhash package (its C reference code)."""
    import xxhash

    from microbiome.profile import _kernels

    rng = np.random.default_rng(5)
    words = rng.integers(0, 2**64, size=600, dtype=np.uint64)
    for n in (0, 1, 3, 4, 5, 8, 31, 512):
        for seed in (0, 2**63 + 17):
            got = _kernels.xxh64(words, 7, 7 + n, np.uint64(seed))
            assert got == xxhash.xxh64_intdigest(words[7 : 7 + n].tobytes(), seed=seed)


@pytest.fixture(scope="module")
def multiblock_db(tmp_path_factory, small_taxonomy):
    """A database whose lookup table spans many 4 KiB blocks (random genomes, 240 kb)."""
    rng = np.random.default_rng(11)
    folder = tmp_path_factory.mktemp("blocks")
    with open(folder / "refs.fa", "w") as f:
        for name, taxid in (("x", 1000), ("y", 101)):
            f.write(f">{name} kraken:taxid|{taxid}\n{''.join(rng.choice(list('ACGT'), 120_000))}\n")
    out = folder / "db"
    build_database([folder / "refs.fa"], small_taxonomy, None, out)
    return out, folder / "refs.fa"


def _flip(path, out, section, at=0.5):
    """A copy of database ``path`` with one bit flipped in ``section`` (at a fraction of it)."""
    data = bytearray(path.read_bytes())
    (size,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    header = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + size])
    entry = next(s for s in header["sections"] if s["name"] == section)
    position = len(MAGIC) + 4 + size + entry["offset"] + int(entry["bytes"] * at)
    data[position] ^= 0x10
    out.write_bytes(bytes(data))
    return out


def test_load_reads_no_table_block(multiblock_db):
    path, _ = multiblock_db
    db = load_database(path)
    header = db.header
    blocks = header["blocks"]
    assert blocks == -(-header["payload_bytes"] // 4096) > 50
    table = sum(s["bytes"] for s in header["sections"][:3])
    state = db.blocks.state
    assert not state[: table // 4096].any()  # the table's blocks: not read at load
    assert state[-(-table // 4096) :].all()  # the small sections': checked
    # One lookup checks the few blocks it reads, not the table.
    db.lookup(np.array([12345], dtype=np.uint64))
    assert 1 <= int(state[: table // 4096].sum()) <= 3
    assert db.check() == blocks and state.all()


def test_corrupt_table_block_is_found_when_read(tmp_path, multiblock_db, capsys):
    path, fasta = multiblock_db
    bad = _flip(path, tmp_path / "bad.db", "hashes")
    db = load_database(bad)  # the table is not read at load
    with pytest.raises(DatabaseError, match=r"fails its checksum at payload bytes \d+-\d+ "
                       r"\(hashes\): the file is corrupt") as error:  # fmt: skip
        db.check()
    assert str(bad) in str(error.value)
    # Classifying the references themselves looks up every minimizer: the corrupt block is read.
    reads = fasta
    with pytest.raises(DatabaseError, match="checksum"):
        classify_reads(load_database(bad), reads, threads=2)
    # The command line: one line naming the file, exit 1, no report.
    report = tmp_path / "r.kreport"
    assert main(["classify", "--db", str(bad), "-1", str(reads), "--report", str(report)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"microbiome: error: {bad}: database fails its")
    assert not report.exists()
    assert main(["db", "check", str(bad)]) == 1
    assert "(hashes)" in capsys.readouterr().err
    assert main(["db", "check", str(path)]) == 0
    assert "match their digests" in capsys.readouterr().err
    # Without verification the flipped bit goes unnoticed: what the digests are there for.
    load_database(bad, verify=False).lookup(np.arange(10, dtype=np.uint64))


@pytest.mark.parametrize("section", ["names", "parents", "dist_fractions"])
def test_corrupt_small_section_is_found_at_load(tmp_path, multiblock_db, section):
    path, _ = multiblock_db
    bad = _flip(path, tmp_path / "bad.db", section)
    with pytest.raises(DatabaseError, match=rf"checksum at payload bytes \d+-\d+ \(.*{section}"):
        load_database(bad)


def test_after_many_lookups_the_rest_of_the_table_is_checked(tmp_path, multiblock_db):
    """A long run checks the table's remaining blocks at once, then looks up unchecked; a
    corrupt block that no lookup read is still found then."""
    path, _ = multiblock_db
    db = load_database(path)
    first, last = db.blocks.table_blocks
    misses = np.random.default_rng(2).integers(0, 2**63, size=2 * (last - first), dtype=np.uint64)
    db.lookup(misses[:10])
    assert not db.blocks.progress[1] and not db.blocks.state[first:last].all()
    db.lookup(misses)
    assert db.blocks.progress[1] and db.blocks.state.all()
    # Random misses read buckets and hashes but no node: a flipped node is found by the bulk check.
    bad = load_database(_flip(path, tmp_path / "bad.db", "nodes"))
    bad.lookup(misses[:10])
    with pytest.raises(DatabaseError, match=r"\(nodes\): the file is corrupt"):
        bad.lookup(misses)


# --- bounded memory: spilled, partitioned builds ------------------------------------------------


def _leftovers(folder):
    """Hidden build folders and temporary files left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(
    ("bits", "reduce_cap", "buffer_cap"),
    [
        (10, 5_000, 3_000),  # many partition files, reduced in groups; a flush every few genomes
        (2, 40_000, 1_000),  # 4 partition files, each larger than a range: read in passes
    ],
)
def test_partitioned_build_gives_the_same_bytes(
    tmp_path, real_db, monkeypatch, bits, reduce_cap, buffer_cap
):
    """The default build of the test references reduces the table in one range of hashes from
    one flush; forcing small buffers and ranges must not change a byte (checked against the
    build before partitioning existed, by hand, on these and on 162 Mbp of references)."""
    import microbiome.profile.database as database

    monkeypatch.setattr(database, "SPILL_BITS", bits)
    monkeypatch.setattr(database, "_REDUCE_CAP", reduce_cap)
    monkeypatch.setattr(database, "_SPILL_BUFFER_CAP", buffer_cap)
    ranges = []
    real_reduce = database._reduce
    monkeypatch.setattr(
        database,
        "_reduce",
        lambda records, *a: ranges.append(len(records)) or real_reduce(records, *a),
    )
    out = tmp_path / "db" / "refs.mbdb"
    build_database([REFERENCES], TAXDUMP, REFERENCES / "genomes.tsv", out, threads=2)
    assert len(ranges) > 4 and max(ranges) <= reduce_cap * 1.5
    assert out.read_bytes() == real_db.read_bytes()
    assert _leftovers(out.parent) == []


def test_partitioned_build_matches_naive_lca(tmp_path, small_taxonomy, references, monkeypatch):
    import microbiome.profile.database as database

    monkeypatch.setattr(database, "SPILL_BITS", 3)
    monkeypatch.setattr(database, "_REDUCE_CAP", 30)
    monkeypatch.setattr(database, "_SPILL_BUFFER_CAP", 20)
    fasta, seqs = references
    build_database([fasta], small_taxonomy, None, tmp_path / "db", k=21, w=5)
    db = load_database(tmp_path / "db")
    expected = naive_minimizer_taxa(seqs, PARENT, 21, 5, 0)
    values = np.array(sorted(expected), dtype=np.uint64)
    got = {
        int(v): int(db.taxonomy.taxids[n]) for v, n in zip(values, db.lookup(values), strict=True)
    }
    assert got == expected and len(db) == len(expected)
    assert np.all(np.diff(db.hashes.astype(np.float64)) >= 0)
    for g in db.genomes:  # owners survive the partitions: unique = in no other genome
        assert 0 < g.unique_minimizers <= g.minimizers


@pytest.mark.parametrize(
    ("text", "size"),
    [("4G", 4 << 30), ("500M", 500 << 20), ("1.5GiB", 3 << 29), ("750MB", 750_000_000),
     ("2k", 2048), ("64 kb", 64_000), ("123", 123), ("10B", 10), ("1t", 1 << 40)],
)  # fmt: skip
def test_parse_memory(text, size):
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["", "G", "4X", "-1G", "0", "0.0001", "4 G B", "1e9"])
def test_parse_memory_refuses(text):
    with pytest.raises(ConfigError, match="--max-memory"):
        parse_memory(text)


def test_max_memory_errors_are_one_line(tmp_path, capsys, monkeypatch):
    import microbiome.profile.database as database

    out = tmp_path / "x.mbdb"
    args = ["db", "build", "--sequences", str(REFERENCES / "escherichia_coli.fna.gz"),
            "--taxonomy", str(TAXDUMP), "--seqid2taxid", str(REFERENCES / "genomes.tsv"),
            "-o", str(out)]  # fmt: skip
    assert main([*args, "--max-memory", "lots"]) == 2
    assert main([*args, "--max-memory", "100M"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == (
        "microbiome: error: --max-memory 'lots' is not a memory size: give e.g. 4G, 500M, "
        "1.5GiB or 750MB"
    )
    assert err[1] == (
        "microbiome: error: --max-memory 100.0 MiB is too small: a build needs at least 272.0 MiB"
    )
    # Too small for the minimizers of one file (the interpreter's share set to 0 here).
    monkeypatch.setattr(database, "BASELINE_MEMORY", 0)
    monkeypatch.setattr(database, "_MIN_WORKING", 0)
    assert main([*args, "--max-memory", "400K"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(
        f"microbiome: error: {REFERENCES / 'escherichia_coli.fna.gz'}: --max-memory 0.4 MiB is "
        "too small for the 150,000 bases and "
    )
    assert err[0].endswith("split the file by genome")
    assert not out.exists() and _leftovers(tmp_path) == []
    assert main([*args, "--max-memory", "2M", "-q"]) == 0  # enough for this file
    assert load_database(out).genomes[0].taxid == 562


def test_failed_builds_leave_no_files(tmp_path, small_taxonomy, references, monkeypatch):
    import microbiome.profile.database as database

    fasta, _ = references
    orphan = tmp_path / "refs" / "zz_orphan.fa"
    orphan.parent.mkdir()
    orphan.write_text(">orphan\n" + "ACGT" * 40 + "\n")
    out = tmp_path / "out" / "db"
    monkeypatch.setattr(database, "_SPILL_BUFFER_CAP", 10)  # spilled before the error
    with pytest.raises(InputError, match="orphan"):
        build_database([fasta, orphan], small_taxonomy, None, out)
    assert _leftovers(out.parent) == [] and not out.exists()

    def fail(*args):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(database, "_build_distribution", fail)  # after the table is reduced
    with pytest.raises(RuntimeError, match="disk gone"):
        build_database([fasta], small_taxonomy, None, out)
    assert _leftovers(out.parent) == [] and not out.exists()

    def terminate(*args):  # a cancelled job
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends

    monkeypatch.setattr(database, "_build_distribution", terminate)
    with pytest.raises(SystemExit) as exc:
        build_database([fasta], small_taxonomy, None, out)
    assert exc.value.code == 128 + signal.SIGTERM
    assert _leftovers(out.parent) == [] and not out.exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
