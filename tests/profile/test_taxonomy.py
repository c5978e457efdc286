"""Taxonomy readers, lineages and the LCA kernel against their naive twins."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TEST_DATA
from naive import naive_lca, naive_lineage

from microbiome.errors import InputError
from microbiome.taxonomy import CANONICAL_RANKS, Taxonomy, _kernels, gtdb_taxid, load_taxonomy

TAXDUMP = TEST_DATA / "taxonomy"


@pytest.fixture(scope="module")
def ncbi() -> Taxonomy:
    return Taxonomy.from_taxdump(TAXDUMP)


def random_tree(rng, n: int) -> dict[int, int]:
    """taxid -> parent for a random tree of n nodes with shuffled, sparse taxids (root 1)."""
    ids = [1] + rng.choice(np.arange(2, 100 * n), size=n - 1, replace=False).tolist()
    parent = {1: 1}
    for i in range(1, n):
        parent[ids[i]] = ids[int(rng.integers(0, i))]
    return parent


def test_ncbi_lineage_and_lookups(ncbi):
    assert ncbi.taxids[0] == 1 and ncbi.parents[0] == 0
    assert ncbi.lineage(562) == [1, 131567, 2, 1224, 1236, 91347, 543, 561, 562]
    assert ncbi.lca(562, 623) == 543
    assert ncbi.lca(562, 562) == 562
    assert ncbi.lca(562, 1) == 1
    assert ncbi.name(562) == "Escherichia coli"
    assert ncbi.rank(562) == "species"
    assert ncbi.at_rank(562, "family") == 543
    assert ncbi.at_rank(562, "species") == 562
    assert ncbi.at_rank(543, "species") is None
    assert ncbi.parent(562) == 561 and ncbi.parent(1) == 1
    assert 9606 in ncbi and 123456789 not in ncbi and "x" not in ncbi
    with pytest.raises(KeyError):
        ncbi.node(123456789)
    kids = ncbi.children()
    assert 562 in kids[561] and kids[561] == sorted(kids[561])
    assert set(CANONICAL_RANKS) <= set(ncbi.ranks)
    # Nodes come after their parents; depth agrees with the lineage.
    assert (ncbi.parents[1:] < np.arange(1, len(ncbi))).all()
    assert ncbi.depth[ncbi.node(562)] == len(ncbi.lineage(562)) - 1
    assert load_taxonomy(TAXDUMP).lineage(562) == ncbi.lineage(562)


def test_lca_kernel_matches_naive():
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 50, 300):
        parent = random_tree(rng, n)
        tax = Taxonomy.from_edges(parent, {}, {})
        ids = list(parent)
        for _ in range(200):
            a, b = (ids[int(i)] for i in rng.integers(0, n, size=2))
            assert tax.lca(a, b) == naive_lca(parent, a, b)
            assert tax.lineage(a) == naive_lineage(parent, a)[::-1]
        # The kernel on node indices, and the "no node" convention.
        a = rng.integers(0, n, size=100).astype(np.int32)
        b = rng.integers(0, n, size=100).astype(np.int32)
        out = [int(_kernels.lca(tax.parents, tax.depth, x, y)) for x, y in zip(a, b, strict=True)]
        expected = [
            tax.node(naive_lca(parent, int(tax.taxids[x]), int(tax.taxids[y])))
            for x, y in zip(a, b, strict=True)
        ]
        assert out == expected
        assert _kernels.lca(tax.parents, tax.depth, np.int32(-1), np.int32(0)) == 0


def test_subset_keeps_ancestors(ncbi):
    small = ncbi.subset([562, 623])
    assert small.lineage(562) == ncbi.lineage(562)
    assert small.lca(562, 623) == 543
    assert set(small.taxids.tolist()) == set(ncbi.lineage(562)) | set(ncbi.lineage(623))
    assert small.name(623) == "Shigella flexneri"


def write_dump(folder, nodes: str, names: str = "1\t|\troot\t|\t\t|\tscientific name\t|\n"):
    folder.mkdir(exist_ok=True)
    (folder / "nodes.dmp").write_text(nodes)
    (folder / "names.dmp").write_text(names)
    return folder


def node_line(taxid, parent, rank="no rank"):
    return f"{taxid}\t|\t{parent}\t|\t{rank}\t|\t\t|\n"


@pytest.mark.parametrize(
    ("nodes", "message", "line"),
    [
        (node_line(1, 1) + "2\t|\tx\t|\tgenus\t|\n", "not an integer", 2),
        (node_line(1, 1) + "garbage\n", "malformed nodes.dmp line", 2),
        (node_line(1, 1) + node_line(2, 1) + node_line(3, 99), "parent 99 of taxid 3", 3),
        (node_line(1, 1) + node_line(2, 3) + node_line(3, 2), "cycle", 2),
        (node_line(1, 1) + node_line(2, 1) + node_line(2, 1), "appears twice", 3),
        (node_line(2, 3) + node_line(3, 2), "no root", None),
    ],
)
def test_taxdump_errors_name_file_and_line(tmp_path, nodes, message, line):
    folder = write_dump(tmp_path / "dump", nodes)
    with pytest.raises(InputError, match=message) as info:
        Taxonomy.from_taxdump(folder)
    assert info.value.file.endswith("nodes.dmp")
    assert info.value.line == line


def test_taxdump_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Taxonomy.from_taxdump(tmp_path)


GTDB = (
    "accession\tgtdb_taxonomy\n"
    "RS_GCF_000005845.2\td__Bacteria;p__Pseudomonadota;c__Gammaproteobacteria;"
    "o__Enterobacterales;f__Enterobacteriaceae;g__Escherichia;s__Escherichia coli\n"
    "RS_GCF_000006945.2\td__Bacteria;p__Pseudomonadota;c__Gammaproteobacteria;"
    "o__Enterobacterales;f__Enterobacteriaceae;g__Salmonella;s__Salmonella enterica\n"
    "GB_GCA_000000001.1\td__Archaea;p__Methanobacteriota;c__;o__;f__;g__;s__\n"
)


def test_gtdb_reader_and_stable_taxids(tmp_path):
    path = tmp_path / "gtdb.tsv"
    path.write_text(GTDB)
    tax = Taxonomy.from_gtdb(path)
    coli = gtdb_taxid("s__Escherichia coli")
    assert tax.name(coli) == "Escherichia coli"
    assert tax.rank(coli) == "species"
    assert [tax.rank(t) for t in tax.lineage(coli)[1:]] == list(CANONICAL_RANKS)
    assert tax.rank(gtdb_taxid("d__Archaea")) == "superkingdom"
    assert tax.lca(coli, gtdb_taxid("s__Salmonella enterica")) == gtdb_taxid(
        "f__Enterobacteriaceae"
    )
    assert gtdb_taxid("p__Methanobacteriota") in tax and len(tax) == 12
    # Line order does not change any taxid.
    lines = GTDB.splitlines(keepends=True)
    shuffled = tmp_path / "shuffled.tsv"
    shuffled.write_text(lines[0] + "".join(reversed(lines[1:])))
    again = Taxonomy.from_gtdb(shuffled)
    assert sorted(again.taxids.tolist()) == sorted(tax.taxids.tolist())
    assert load_taxonomy(path).lineage(coli) == tax.lineage(coli)


def test_gtdb_errors(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text(GTDB + "X\td__Bacteria;p__Bacillota;c__Gammaproteobacteria\n")
    with pytest.raises(InputError, match="has parent") as info:
        Taxonomy.from_gtdb(bad)
    assert info.value.line == 5
    bad.write_text("X\td__Bacteria;q__Nope\n")
    with pytest.raises(InputError, match="lineage part") as info:
        Taxonomy.from_gtdb(bad)
    assert info.value.line == 1
