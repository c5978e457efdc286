"""Kraken 2 report, CAMI profile and rank table writers: real reports rebuilt byte for byte,
round trips, empty samples and bad input."""

from __future__ import annotations

import pytest

from microbiome.errors import InputError
from microbiome.profile.abundance import estimate_abundance, profile_from_classification
from microbiome.profile.classify import Classification
from microbiome.profile.merge import read_rank_table
from microbiome.profile.writers import (
    read_cami,
    read_kraken_report,
    write_cami,
    write_kraken_report,
    write_rank_table,
)
from microbiome.taxonomy import CANONICAL_RANKS, Taxonomy

# A small NCBI-like taxonomy: root > cellular organisms (no rank) > Bacteria > ... > E. coli >
# strain; Shigella beside Escherichia; Enterococcus in another phylum without a class.
PARENT = {
    1: 1,
    131567: 1,
    2: 131567,
    1224: 2,
    1236: 1224,
    91347: 1236,
    543: 91347,
    561: 543,
    562: 561,
    83333: 562,
    620: 543,
    623: 620,
    1239: 2,
    1350: 1239,
    1351: 1350,
}
RANK = {
    1: "no rank",
    131567: "no rank",
    2: "superkingdom",
    1224: "phylum",
    1236: "class",
    91347: "order",
    543: "family",
    561: "genus",
    562: "species",
    83333: "strain",
    620: "genus",
    623: "species",
    1239: "phylum",
    1350: "genus",
    1351: "species",
}
NAME = {
    1: "root",
    131567: "cellular organisms",
    2: "Bacteria",
    1224: "Pseudomonadota",
    1236: "Gammaproteobacteria",
    91347: "Enterobacterales",
    543: "Enterobacteriaceae",
    561: "Escherichia",
    562: "Escherichia coli",
    83333: "Escherichia coli K-12",
    620: "Shigella",
    623: "Shigella flexneri",
    1239: "Bacillota",
    1350: "Enterococcus",
    1351: "Enterococcus faecalis",
}
DIRECT = {562: 50, 83333: 8, 561: 30, 623: 20, 543: 10, 1: 2, 1351: 40}


@pytest.fixture(scope="module")
def taxonomy():
    return Taxonomy.from_edges(PARENT, RANK, NAME)


@pytest.fixture
def sample():
    return Classification(direct_counts={0: 5, **DIRECT}, total_reads=165, unclassified=5)


def test_kraken_report_clades_ranks_and_order(taxonomy, sample, tmp_path):
    write_kraken_report(tmp_path / "r.txt", sample, taxonomy)
    report = read_kraken_report(tmp_path / "r.txt")
    rows = {r.taxid: r for r in report.itertuples()}
    assert report["taxid"].iloc[0] == 0 and rows[0].clade_reads == 5
    # clade = direct + sum of the children's clades (children: the next rows one level deeper)
    for i, row in enumerate(report.itertuples()):
        if row.taxid == 0:
            continue
        kids = 0
        for later in report.iloc[i + 1 :].itertuples():
            if later.depth <= row.depth:
                break
            if later.depth == row.depth + 1:
                kids += later.clade_reads
        assert row.clade_reads == row.direct_reads + kids
        assert row.percent == pytest.approx(round(100 * row.clade_reads / 165, 2))
    assert rows[1].clade_reads == 160
    codes = {r.taxid: r.rank_code for r in report.itertuples()}
    assert codes[1] == "R" and codes[131567] == "R1" and codes[2] == "D"
    assert codes[562] == "S" and codes[83333] == "S1" and codes[1350] == "G"
    # siblings by decreasing clade reads: Escherichia (88) before Shigella (20)
    order = report["taxid"].tolist()
    assert order.index(561) < order.index(620) and order.index(1224) < order.index(1239)
    line = (tmp_path / "r.txt").read_text().splitlines()[9]
    assert line == " 35.15\t58\t50\tS\t562\t" + "  " * 8 + "Escherichia coli"


def test_empty_sample_gives_flagged_outputs(taxonomy, tmp_path):
    empty = Classification(direct_counts={}, total_reads=0, unclassified=0)
    write_kraken_report(tmp_path / "r.txt", empty, taxonomy)
    # the unclassified line and the root line, both without reads (Pavian needs the root line)
    assert (tmp_path / "r.txt").read_text() == (
        "  0.00\t0\t0\tU\t0\tunclassified\n  0.00\t0\t0\tR\t1\troot\n"
    )
    assert len(read_kraken_report(tmp_path / "r.txt")) == 2
    write_cami(tmp_path / "c.txt", empty, taxonomy, "S0")
    header, rows = read_cami(tmp_path / "c.txt")
    assert header["SAMPLEID"] == "S0" and rows.empty
    assert "no classified reads" in (tmp_path / "c.txt").read_text()
    write_rank_table(tmp_path / "t.tsv", empty, taxonomy, sample_id="S0")
    table = read_rank_table(tmp_path / "t.tsv")
    assert table.metadata["status"] == "empty" and table.table.empty and table.empty
    # all reads unclassified
    only_u = Classification(direct_counts={0: 9}, total_reads=9, unclassified=9)
    write_kraken_report(tmp_path / "u.txt", only_u, taxonomy)
    assert (tmp_path / "u.txt").read_text() == (
        "100.00\t9\t9\tU\t0\tunclassified\n  0.00\t0\t0\tR\t1\troot\n"
    )


def test_unknown_taxid_leaves_no_file(taxonomy, tmp_path):
    bad = Classification(direct_counts={777: 1}, total_reads=1, unclassified=0)
    with pytest.raises(InputError, match="777"):
        write_kraken_report(tmp_path / "r.txt", bad, taxonomy)
    assert list(tmp_path.iterdir()) == []


GAPS = ("class", "order", "family")


def test_cami_round_trip(taxonomy, sample, tmp_path):
    dist = {562: {562: 0.6, 561: 0.25, 543: 0.1, 0: 0.05}, 623: {623: 0.7, 620: 0.1, 543: 0.2}}
    profile = estimate_abundance(sample, taxonomy, dist)
    write_cami(tmp_path / "c.txt", profile, taxonomy, "S1", taxonomy_id="ncbi-test")
    header, rows = read_cami(tmp_path / "c.txt")
    assert header["VERSION"] == "0.9.1" and header["TAXONOMYID"] == "ncbi-test"
    assert header["RANKS"] == "|".join(CANONICAL_RANKS)
    assert list(rows.columns) == ["TAXID", "RANK", "TAXPATH", "TAXPATHSN", "PERCENTAGE"]
    # percentages of all reads (5 of the 165 are unclassified): the species' estimated reads
    # over all reads; what a rank lacks to 100 is unassigned
    classified = sum(profile.species_reads.values()) / 165
    assert "# unclassified: 3.03030303 % of 165 reads" in (tmp_path / "c.txt").read_text()
    for rank, group in rows.groupby("RANK"):
        # Enterococcus (25.3 %) has no class, order or family: those ranks sum to less
        full = 100.0 - (100 * profile.abundance["species"][1351] if rank in GAPS else 0.0)
        assert group["PERCENTAGE"].sum() == pytest.approx(full * classified)
        expected = {str(t): 100 * v * classified for t, v in profile.abundance[rank].items()}
        assert dict(zip(group["TAXID"], group["PERCENTAGE"], strict=True)) == pytest.approx(
            expected
        )
    ecoli = rows[rows["TAXID"] == "562"].iloc[0]
    assert ecoli["TAXPATH"] == "2|1224|1236|91347|543|561|562"
    assert ecoli["TAXPATHSN"].split("|")[-1] == "Escherichia coli"
    # Enterococcus has no class, order or family here: empty TAXPATH fields
    entero = rows[rows["TAXID"] == "1351"].iloc[0]
    assert entero["TAXPATH"] == "2|1239||||1350|1351"


def test_rank_table_round_trip(taxonomy, sample, tmp_path):
    profile = profile_from_classification(sample, taxonomy)
    write_rank_table(tmp_path / "t.tsv", profile, taxonomy, sample_id="S1")
    table = read_rank_table(tmp_path / "t.tsv")
    assert table.sample_id == "S1" and table.metadata["total_reads"] == "165"
    assert not table.estimated
    assert table.metadata["classified_species_reads"] == "118"  # 58 + 20 + 40, as classified
    for rank in CANONICAL_RANKS:
        rows = table.table[table.table["rank"] == rank]
        # each rank ends with the unclassified row: the reads in no taxon of the rank (the 5
        # unclassified and those stopped above it) and their share of all reads
        unassigned = 165 - sum(profile.rank_reads[rank].values())
        assert rows.iloc[-1][["taxid", "name", "lineage", "reads"]].tolist() == [
            0, "unclassified", "", unassigned,
        ]  # fmt: skip
        assert rows.iloc[-1]["fraction"] == pytest.approx(unassigned / 165)
        rows = rows.iloc[:-1]
        assert dict(zip(rows["taxid"], rows["reads"], strict=True)) == profile.rank_reads[rank]
        if len(rows):
            assert rows["fraction"].sum() == pytest.approx(1.0)
    species = table.table[table.table["rank"] == "species"].set_index("taxid")
    assert species.loc[562, "reads"] == 58  # the strain's reads count for its species
    assert species.loc[562, "lineage"] == (
        "k__Bacteria;p__Pseudomonadota;c__Gammaproteobacteria;o__Enterobacterales;"
        "f__Enterobacteriaceae;g__Escherichia;s__Escherichia coli"
    )
    # A Classification is accepted directly, and gives the same table
    write_rank_table(tmp_path / "t2.tsv", sample, taxonomy, sample_id="S1")
    assert (tmp_path / "t2.tsv").read_text() == (tmp_path / "t.tsv").read_text()


def test_estimated_rank_table_has_abundance(taxonomy, sample, tmp_path):
    dist = {562: {562: 0.6, 561: 0.4}, 623: {623: 1.0}, 1351: {1351: 1.0}}
    profile = estimate_abundance(
        sample,
        taxonomy,
        dist,
        abundance="cell",
        genome_sizes={562: 5e6, 623: 4.6e6, 1351: 3e6},
    )
    write_rank_table(tmp_path / "t.tsv", profile, taxonomy)
    table = read_rank_table(tmp_path / "t.tsv")
    assert table.estimated and table.metadata["abundance"] == "cell"
    assert table.sample_id == "t"  # from the file name when no sample_id is given
    species = table.taxa[table.taxa["rank"] == "species"]
    assert species["abundance"].sum() == pytest.approx(1.0)
    # as classified, before estimation: 58 + 20 + 40 reads at species or below
    assert table.metadata["classified_species_reads"] == "118"


def test_read_kraken_report_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("name\ttaxonomy_id\ttaxonomy_lvl\nE. coli\t562\tS\n")
    with pytest.raises(InputError, match="line 1"):
        read_kraken_report(bad)
    with pytest.raises(InputError, match="before the @@ column line"):
        read_cami(bad)
