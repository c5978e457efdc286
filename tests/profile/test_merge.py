"""Merging rank tables: wide and long tables, BIOM read back, `microbiome merge-profiles`, and
bad inputs (foreign TSV, duplicate samples, mismatched ranks or estimation, empty profiles)."""

from __future__ import annotations

import datetime
import os
import time

import biom
import numpy as np
import pandas as pd
import pytest

from microbiome.cli.main import main
from microbiome.profile.abundance import estimate_abundance, profile_from_classification
from microbiome.profile.classify import Classification
from microbiome.profile.merge import merge_profiles, merge_rank, read_rank_table, to_biom
from microbiome.profile.writers import write_rank_table
from microbiome.taxonomy import CANONICAL_RANKS, Taxonomy

PARENT = {1: 1, 2: 1, 10: 2, 20: 10, 30: 20, 40: 30, 50: 40, 501: 50, 502: 50, 60: 40, 601: 60}
RANK = {
    1: "no rank",
    2: "superkingdom",
    10: "phylum",
    20: "class",
    30: "order",
    40: "family",
    50: "genus",
    501: "species",
    502: "species",
    60: "genus",
    601: "species",
}
NAME = {t: f"taxon{t}" for t in PARENT} | {2: "Bacteria", 501: "Genus50 alpha"}


@pytest.fixture(scope="module")
def taxonomy():
    return Taxonomy.from_edges(PARENT, RANK, NAME)


def classification(direct, unclassified=0):
    return Classification(
        direct_counts={0: unclassified, **direct},
        total_reads=sum(direct.values()) + unclassified,
        unclassified=unclassified,
    )


SAMPLES = {
    "A": {501: 30, 502: 10, 50: 4},
    "B": {501: 5, 601: 20, 60: 1},
    "C.1": {},  # left empty by QC
}


@pytest.fixture
def tables(taxonomy, tmp_path):
    paths = []
    for sample, direct in SAMPLES.items():
        profile = profile_from_classification(classification(direct, 3), taxonomy)
        path = tmp_path / f"{sample}.ranks.tsv"
        write_rank_table(path, profile, taxonomy, sample_id=sample)
        paths.append(path)
    return paths


def test_merge_rank_wide_tables(tables):
    counts, relative = merge_rank([read_rank_table(p) for p in tables], "species")
    assert list(counts.columns) == ["taxid", "name", "lineage", "A", "B", "C.1"]
    c = counts.set_index("taxid")
    assert c.loc[501, ["A", "B", "C.1"]].tolist() == [30, 5, 0]
    assert c.loc[601, "A"] == 0 and c.loc[601, "B"] == 20
    assert c.loc[501, "lineage"].endswith(";g__taxon50;s__Genus50 alpha")
    r = relative.set_index("taxid")
    # every column sums to 1 over all reads: the unclassified row (taxid 0) comes first
    assert counts["taxid"].iloc[0] == 0 and counts["name"].iloc[0] == "unclassified"
    assert relative["lineage"].iloc[0] == "" or pd.isna(relative["lineage"].iloc[0])
    # reads in no species: 3 unclassified in each, and A's 4 and B's 1 stopped at a genus
    assert c.loc[0, ["A", "B", "C.1"]].tolist() == [7, 4, 3]
    assert r[["A", "B", "C.1"]].sum().tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert r.loc[0, "A"] == pytest.approx(7 / 47) and r.loc[0, "C.1"] == 1.0
    assert r.loc[502, "A"] == pytest.approx(10 / 47)  # 10 of all 47 reads
    # renormalised over the classified reads: no unclassified row
    counts_c, renormalised = merge_rank([read_rank_table(p) for p in tables], "species",
                                        unclassified=False)  # fmt: skip
    assert 0 not in set(counts_c["taxid"]) and 0 not in set(renormalised["taxid"])
    rc = renormalised.set_index("taxid")
    assert rc["A"].sum() == pytest.approx(1.0) and rc["C.1"].sum() == 0
    assert rc.loc[502, "A"] == pytest.approx(0.25)
    # taxa by decreasing mean relative abundance
    means = renormalised[["A", "B", "C.1"]].mean(axis=1).to_numpy()
    assert (np.diff(means) <= 0).all()


def test_merge_profiles_writes_tables_and_biom(tables, tmp_path):
    out = tmp_path / "merged"
    written = merge_profiles(tables, out, ranks=["genus", "species"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "genus.counts.tsv",
            "genus.relative.tsv",
            "species.counts.tsv",
            "species.relative.tsv",
            "genus.relative_classified.tsv",
            "species.relative_classified.tsv",
            "profiles.long.tsv",
            "profiles.biom",
            "classification_summary.tsv",
            "classification_mqc.tsv",
        ]
    )
    genus = pd.read_csv(written["genus.counts"], sep="\t").set_index("taxid")
    assert genus.loc[50, "A"] == 44 and genus.loc[60, "B"] == 21 and genus.loc[0, "B"] == 3
    long = pd.read_csv(written["long"], sep="\t", keep_default_na=False)
    assert set(long["sample"]) == {"A", "B", "C.1"} and set(long["rank"]) == set(CANONICAL_RANKS)
    unclassified = long[long["taxid"] == 0]
    assert (unclassified["name"] == "unclassified").all() and (unclassified["lineage"] == "").all()
    assert len(unclassified) == 3 * len(CANONICAL_RANKS)
    assert set(long.loc[long["sample"] == "C.1", "taxid"]) == {0}
    table = biom.load_table(str(written["biom"]))
    assert list(table.ids(axis="sample")) == ["A", "B", "C.1"]
    assert sorted(table.ids(axis="observation")) == ["501", "502", "601"]
    assert table.get_value_by_ids("501", "A") == 30
    assert table.get_value_by_ids("601", "C.1") == 0
    assert table.metadata("501", axis="observation")["taxonomy"] == [
        "k__Bacteria",
        "p__taxon10",
        "c__taxon20",
        "o__taxon30",
        "f__taxon40",
        "g__taxon50",
        "s__Genus50 alpha",
    ]
    assert table.metadata("A", axis="sample")["total_reads"] == 47
    # what the classifier knew of each sample: A 44 of 47 classified, 40 at species
    summary = pd.read_csv(written["summary"], sep="\t")
    assert summary.drop(columns=["classified_percent", "species_percent"]).to_dict("list") == {
        "sample_id": ["A", "B", "C.1"],
        "reads_total": [47, 29, 3],
        "reads_classified": [44, 26, 0],
        "reads_species": [40.0, 25.0, 0.0],
    }
    assert summary["classified_percent"].tolist() == pytest.approx([4400 / 47, 2600 / 29, 0])
    assert summary["species_percent"].tolist() == pytest.approx([4000 / 47, 2500 / 29, 0])
    mqc = written["multiqc"].read_text()
    assert "plot_type: generalstats" in mqc and "title: '% classified'" in mqc
    assert "\nA\t93.61702" in mqc
    # the default: every canonical rank
    merge_profiles(tables, tmp_path / "all")
    assert len(list((tmp_path / "all").glob("*.counts.tsv"))) == len(CANONICAL_RANKS)


def test_estimated_profiles_merge_their_abundance(taxonomy, tmp_path):
    dist = {501: {501: 0.5, 50: 0.5}, 502: {502: 1.0}}
    paths = []
    for sample, direct in (("A", {501: 30, 502: 10, 50: 20}), ("B", {502: 15})):
        profile = estimate_abundance(classification(direct), taxonomy, dist)
        paths.append(tmp_path / f"{sample}.tsv")
        write_rank_table(paths[-1], profile, taxonomy, sample_id=sample)
    counts, relative = merge_rank([read_rank_table(p) for p in paths], "species")
    r = relative.set_index("taxid")
    assert r.loc[501, "A"] == pytest.approx(50 / 60) and r.loc[502, "B"] == 1.0
    assert counts.set_index("taxid").loc[501, "A"] == pytest.approx(50.0)


def test_all_empty_profiles_give_empty_outputs(taxonomy, tmp_path):
    path = tmp_path / "E.tsv"
    write_rank_table(path, profile_from_classification(classification({}), taxonomy), taxonomy)
    written = merge_profiles([path], tmp_path / "out", ranks=["species"])
    counts = pd.read_csv(written["species.counts"], sep="\t")
    assert list(counts.columns) == ["taxid", "name", "lineage", "E"]
    assert counts["taxid"].tolist() == [0] and counts["E"].tolist() == [0]  # unclassified only
    summary = pd.read_csv(written["summary"], sep="\t", keep_default_na=False)
    assert summary.iloc[0].tolist() == ["E", 0, 0, "NA", 0, "NA"]
    table = biom.load_table(str(written["biom"]))
    # biom reports shape (0, 0) for a one-sample table without observations; the id is kept
    assert list(table.ids(axis="sample")) == ["E"] and len(table.ids(axis="observation")) == 0


def test_cli_merge_profiles(tables, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["merge-profiles", *map(str, tables), "-o", str(out), "--rank", "species"]) == 0
    assert (out / "species.counts.tsv").is_file() and (out / "profiles.biom").is_file()
    assert not (out / "genus.counts.tsv").exists()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("foreign", "not a rank table of `microbiome`"),
        ("duplicate", "duplicate sample name 'A'"),
        ("ranks", "ranks superkingdom,genus,species differ"),
        ("columns", "columns are"),
        ("number", "malformed rank table|missing number"),
        ("rank", "rank 'strain' is not one of"),
        ("estimated", "cannot be merged"),
        ("taxonomy", "profiles of different taxonomies"),
        ("missing", "rank table not found"),
    ],
)
def test_bad_inputs_fail_with_one_line_and_no_output(
    case, message, tables, taxonomy, tmp_path, capsys
):
    a, b, _ = tables
    extra = tmp_path / "extra.tsv"
    if case == "foreign":
        extra.write_text("name\ttaxonomy_id\tnew_est_reads\nE. coli\t562\t12\n")
    elif case == "duplicate":
        extra.write_text(a.read_text())
    elif case == "ranks":
        ranks = "# ranks: " + ",".join(CANONICAL_RANKS)
        text = a.read_text().replace("sample_id: A", "sample_id: X")
        extra.write_text(text.replace(ranks, "# ranks: superkingdom,genus,species"))
    elif case == "columns":
        text = a.read_text().replace("sample_id: A", "sample_id: X")
        extra.write_text(text.replace("\tfraction\n", "\tshare\n"))
    elif case == "number":
        text = a.read_text().replace("sample_id: A", "sample_id: X").splitlines()
        fields = text[-1].split("\t")
        fields[5] = "many"
        extra.write_text("\n".join([*text[:-1], "\t".join(fields)]) + "\n")
    elif case == "rank":
        text = a.read_text().replace("sample_id: A", "sample_id: X")
        extra.write_text(text.replace("\nspecies\t", "\nstrain\t"))
    elif case == "estimated":
        profile = estimate_abundance(classification({501: 12}), taxonomy, {501: {501: 1.0}})
        write_rank_table(extra, profile, taxonomy, sample_id="X")
    elif case == "taxonomy":
        text = a.read_text().replace("sample_id: A", "sample_id: X")
        extra.write_text(text.replace("Genus50 alpha", "Other"))
    out = tmp_path / "out"
    code = main(["merge-profiles", str(a), str(b), str(extra), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("microbiome: error: ") and len(err.strip().splitlines()) == 1
    assert pd.Series([err]).str.contains(message).all(), err
    assert not out.exists() or not any(out.iterdir())


def test_unknown_rank_is_a_usage_error(tables, tmp_path, capsys):
    assert main(["merge-profiles", str(tables[0]), "-o", str(tmp_path), "--rank", "strain"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_to_biom_rejects_unknown_rank(tables):
    from microbiome.errors import ConfigError

    with pytest.raises(ConfigError, match="not one of"):
        to_biom([read_rank_table(p) for p in tables], "kingdom")


def test_merged_tables_read_back_as_feature_tables(tmp_path, tables):
    """What downstream stages read (microbiome.io.feature_table) is what was merged."""
    from microbiome.errors import ConfigError
    from microbiome.io.feature_table import read_feature_table

    merge_profiles(tables, tmp_path / "out")
    tmp_path = tmp_path / "out"
    counts = read_feature_table(tmp_path / "species.counts.tsv")
    relative = read_feature_table(tmp_path / "species.relative.tsv")
    biom = read_feature_table(tmp_path / "profiles.biom")
    assert counts.format == "microbiome" and not counts.relative and relative.relative
    assert biom.format == "biom"
    raw = pd.read_csv(tmp_path / "species.counts.tsv", sep="\t")
    samples = [c for c in raw.columns if c not in ("taxid", "name", "lineage")]
    assert counts.samples == samples == biom.samples
    taxa = raw[raw["taxid"] != 0]
    expected = taxa.set_index(taxa["taxid"].astype(str))[samples].T.astype(float)
    pd.testing.assert_frame_equal(counts.data, expected, check_names=False)
    # the unclassified row is set apart, not a feature (diversity and integration never see it)
    assert counts.unclassified.tolist() == [7.0, 4.0, 3.0] and "0" not in counts.features.index
    assert relative.unclassified.tolist() == pytest.approx([7 / 47, 4 / 29, 1.0])
    assert relative.data.sum(axis=1).tolist() == pytest.approx([40 / 47, 25 / 29, 0.0])
    kept = read_feature_table(tmp_path / "species.counts.tsv", keep_unclassified=True)
    assert kept.data["0"].tolist() == [7.0, 4.0, 3.0] and kept.unclassified is not None
    renormalised = read_feature_table(tmp_path / "species.relative_classified.tsv")
    assert renormalised.relative and renormalised.unclassified is None
    assert renormalised.data.sum(axis=1).tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert biom.unclassified is None
    pd.testing.assert_frame_equal(biom.data[counts.data.columns], counts.data, check_names=False)
    assert (
        biom.features["lineage"].tolist()
        == counts.features.loc[biom.data.columns, "lineage"].tolist()
    )
    # Collapsing species to genus sums the species of each genus (naive: cut the lineage).
    collapsed = counts.at_rank("genus")
    naive = raw.groupby(raw["lineage"].str.rsplit(";", n=1).str[0])[samples].sum().T
    mine = collapsed.data.T.groupby(collapsed.features["lineage"]).sum().T
    pd.testing.assert_frame_equal(mine, naive.astype(float), check_names=False)
    with pytest.raises(ConfigError, match="rank 'strain'"):
        counts.at_rank("strain")


def biom_creation_date(path) -> str:
    import h5py

    with h5py.File(path, "r") as f:
        return f.attrs["creation-date"]


def test_biom_is_byte_identical_whenever_it_is_written(tables, tmp_path, monkeypatch):
    """Its creation date is SOURCE_DATE_EPOCH's, else the newest input's, never the clock's."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    for i, path in enumerate(tables):
        os.utime(path, (1_600_000_000 - i, 1_600_000_000 - i))
    first = merge_profiles(tables, tmp_path / "first", ranks=["species"])["biom"]
    time.sleep(1.1)  # a rerun, a second later
    second = merge_profiles(tables, tmp_path / "second", ranks=["species"])["biom"]
    assert second.read_bytes() == first.read_bytes()
    # UTC without an offset, the form `biom validate-table` accepts (tests/profile/test_interop.py)
    assert biom_creation_date(first) == "2020-09-13T12:26:40"
    created = biom.load_table(str(first)).create_date
    assert created.replace(tzinfo=datetime.UTC).timestamp() == 1_600_000_000

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    pinned = merge_profiles(tables, tmp_path / "pinned", ranks=["species"])["biom"]
    assert biom_creation_date(pinned) == "2023-11-14T22:13:20"


def test_bad_source_date_epoch_is_a_config_error(tables, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "2024-01-01")
    out = tmp_path / "out"
    assert main(["merge-profiles", *map(str, tables), "-o", str(out)]) == 2
    errors = [e for e in capsys.readouterr().err.splitlines() if e.startswith("microbiome: error")]
    assert errors == [
        "microbiome: error: SOURCE_DATE_EPOCH must be a whole number of seconds since"
        " 1970-01-01 UTC, got '2024-01-01'"
    ]
    assert not out.exists() or not any(out.iterdir())


def test_reads_stopped_above_a_rank_are_unclassified_at_it(taxonomy, tmp_path):
    """A sample whose classified reads all stopped at a genus: its species column is all
    unclassified, its genus column half (as the demo's single-end sample: 5 reads at species
    below the reporting threshold)."""
    path = tmp_path / "D.tsv"
    profile = profile_from_classification(classification({50: 5}, 5), taxonomy)
    write_rank_table(path, profile, taxonomy, sample_id="D")
    tables = [read_rank_table(path)]
    for rank, share in (("species", 1.0), ("genus", 0.5)):
        counts, relative = merge_rank(tables, rank)
        assert relative["D"].sum() == pytest.approx(1.0)
        assert relative.set_index("taxid").loc[0, "D"] == pytest.approx(share)
        assert counts.set_index("taxid").loc[0, "D"] == 10 * share
    # the per-sample table says the same
    rows = tables[0].table.set_index(["rank", "taxid"])
    assert rows.loc[("species", 0), "fraction"] == 1.0 and rows.loc[("genus", 0), "reads"] == 5
