"""Abundance tables (microbiome.io.feature_table) and metadata sheets (microbiome.io.metadata)."""

import gzip

import numpy as np
import pandas as pd
import pytest

from microbiome.errors import ConfigError, InputError
from microbiome.io.feature_table import read_feature_table
from microbiome.io.metadata import read_metadata

GTDB = "d__Bacteria;p__Bacillota_A;c__Clostridia;o__Lachnospirales;f__Lachnospiraceae;g__"


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def gtdb_table(tmp_path):
    """Samples as rows, GTDB lineages as columns (the curated cohort tables' layout), gzip."""
    header = ["Sample", f"{GTDB}Blautia", f"{GTDB}Dorea", f"{GTDB}", "d__Bacteria;p__Bacteroidota"]
    rows = [["S1", "10", "0", "5", "1"], ["S2", "3", "7", "0", "0"], ["S3", "0", "0", "0", "0"]]
    path = tmp_path / "genera.tsv.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    return path


def test_plain_tsv_samples_as_rows_and_lineages(gtdb_table):
    t = read_feature_table(gtdb_table)
    assert t.format == "tsv" and not t.relative
    assert t.samples == ["S1", "S2", "S3"]
    assert t.data.loc["S1"].tolist() == [10, 0, 5, 1]
    assert t.features["name"].tolist()[:2] == ["Blautia", "Dorea"]
    assert t.features["lineage"].iloc[0].startswith("k__Bacteria;p__Bacillota_A;")
    # The same numbers transposed, with the taxa as rows, give the same table.
    genus = t.at_rank("genus")
    assert genus.data.shape == (3, 4)  # Blautia, Dorea, 2 unresolved groups
    np.testing.assert_allclose(genus.data.sum(axis=1), t.data.sum(axis=1))
    unresolved = genus.features[genus.features["name"].str.contains("unresolved")]
    assert sorted(unresolved["name"]) == [
        "Bacteroidota (unresolved genus)",
        "Lachnospiraceae (unresolved genus)",
    ]
    strict = t.at_rank("genus", keep_unresolved=False)
    assert strict.data.columns.size == 2
    phylum = t.at_rank("phylum")
    assert sorted(phylum.features["name"]) == ["Bacillota_A", "Bacteroidota"]
    assert phylum.data.loc["S1"].sum() == 16
    kept, empty = t.without_empty_samples()
    assert empty == ["S3"] and kept.samples == ["S1", "S2"]


def test_plain_tsv_orientation(tmp_path):
    rows = "#OTU ID\tA\tB\nBlautia\t1\t2\nDorea\t3\t4\n"
    t = read_feature_table(write(tmp_path / "t.tsv", rows))
    assert t.samples == ["A", "B"] and t.data.loc["B", "Dorea"] == 4
    ambiguous = write(tmp_path / "a.tsv", "x\tA\tB\nBlautia\t1\t2\nDorea\t3\t4\n")
    with pytest.raises(InputError, match="rows or columns.*--orientation"):
        read_feature_table(ambiguous)
    by_ids = read_feature_table(ambiguous, sample_ids={"A", "B", "C"})
    assert by_ids.samples == ["A", "B"]
    given = read_feature_table(ambiguous, orientation="samples-as-rows")
    assert given.samples == ["Blautia", "Dorea"]
    relative = read_feature_table(write(tmp_path / "r.csv", "sample_id,x,y\nA,0.25,0.75\n"))
    assert relative.relative and relative.proportions().loc["A", "y"] == 0.75


def test_sample_ids_win_over_the_first_header_cell(tmp_path):
    # 'id' reads as "samples are rows", but every known sample ID is a column header.
    table = write(tmp_path / "id.tsv", "id\tS1\tS2\tS3\nBlautia\t1\t2\t3\nDorea\t4\t5\t6\n")
    t = read_feature_table(table, sample_ids={"S1", "S2", "S3"})
    assert t.samples == ["S1", "S2", "S3"] and t.data.loc["S3", "Dorea"] == 6
    assert read_feature_table(table).samples == ["Blautia", "Dorea"]  # no IDs: the header rules
    # The metabolite reader weighs the same evidence the same way.
    from microbiome.integrate.tables import read_metabolite_table

    m = read_metabolite_table(table, sample_ids={"S1", "S2", "S3"})
    assert list(m.data.index) == ["S1", "S2", "S3"]


def test_header_and_sample_ids_that_disagree_are_an_error(tmp_path):
    # 'id' says rows; one known ID is in the header, none in the first column, most headers
    # are unknown: too weak to overrule the header, too strong to ignore.
    table = write(tmp_path / "mixed.tsv", "id\tS1\tX2\tX3\nBlautia\t1\t2\t3\nDorea\t4\t5\t6\n")
    with pytest.raises(InputError, match=r"first header cell 'id' says samples are rows.*"
                       r"1 in the header.*--orientation") as info:  # fmt: skip
        read_feature_table(table, sample_ids={"S1", "S9"})
    assert info.value.file == str(table) and info.value.line == 1
    given = read_feature_table(table, orientation="samples-as-columns", sample_ids={"S1"})
    assert given.samples == ["S1", "X2", "X3"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("sample_id\tx\tx\nA\t1\t2\n", "duplicated feature ID 'x'"),
        ("sample_id\tx\ty\nA\t1\t2\nA\t1\t2\n", "line 3: duplicated sample ID 'A'"),
        ("sample_id\tx\ty\nA\t1\tabc\n", "line 2, column y: 'abc' is not a number"),
        ("sample_id\tx\ty\nA\t1\t-2\n", "line 2, column y: '-2' is a negative abundance"),
        ("sample_id\tx\ty\nA\t1\tNA\n", "line 2, column y: missing value"),
        ("sample_id\tx\ty\nA\t1\n", "line 2: 2 columns where the header has 3"),
        ("sample_id\tx\ty\n", "header but no rows"),
    ],
)
def test_plain_tsv_bad_input(tmp_path, body, message):
    with pytest.raises(InputError, match=message):
        read_feature_table(write(tmp_path / "bad.tsv", body))


def test_table_not_found(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_feature_table(tmp_path / "nope.tsv")


DECLARED = {
    "diagnosis": {"type": "categorical", "levels": ["Control", "Adenoma"]},
    "bmi": {"type": "continuous", "min": 10, "max": 80},
    "response": {"type": "binary", "levels": ["non-responder", "responder"]},
    "visit": {"type": "date"},
}
SHEET = (
    "sample_id\tsubject\tdiagnosis\tbmi\tresponse\tvisit\tsite\tscore\n"
    "s1\tP1\tControl\t22.5\tresponder\t2024-01-03\tA\t1\n"
    "s2\tP1\tControl\tNA\tresponder\t2024-03-03\tB\t2.5\n"
    "s3\tP2\tAdenoma\t31\tnon-responder\t\tA\t\n"
)


def test_metadata_typed(tmp_path):
    m = read_metadata(write(tmp_path / "m.tsv", SHEET), DECLARED)
    assert m.table.index.tolist() == ["s1", "s2", "s3"]
    assert m.table["patient_id"].tolist() == ["P1", "P1", "P2"]
    assert m.types == {
        "diagnosis": "categorical",
        "bmi": "continuous",
        "response": "binary",
        "visit": "date",
        "site": "categorical",
        "score": "continuous",
    }
    assert list(m.table["diagnosis"].cat.categories) == ["Control", "Adenoma"]
    assert list(m.table["response"].cat.categories) == ["non-responder", "responder"]
    assert np.isnan(m.table.at["s2", "bmi"]) and m.table.at["s3", "bmi"] == 31
    assert pd.isna(m.table.at["s3", "visit"]) and m.table.at["s2", "visit"].month == 3
    assert m.variables("continuous") == ["bmi", "score"]
    assert m.lines == {"s1": 2, "s2": 3, "s3": 4}
    match = m.match(["s3", "s9", "s1"])
    assert match.table.index.tolist() == ["s3", "s1"]
    assert match.only_in_data == ["s9"] and match.only_in_metadata == ["s2"]
    # Without a patient column each sample is its own patient.
    alone = read_metadata(write(tmp_path / "n.csv", "Sample,x\na,1\nb,2\n"))
    assert alone.table["patient_id"].tolist() == ["a", "b"]


@pytest.mark.parametrize(
    ("change", "declared", "error", "message"),
    [
        (
            ("Adenoma", "Carcinoma"),
            DECLARED,
            InputError,
            "line 4, column diagnosis: 'Carcinoma' is not one of the declared levels",
        ),
        (
            ("\t31\t", "\t95\t"),
            DECLARED,
            InputError,
            r"line 4, column bmi: 95 is outside the declared range 10..80",
        ),
        (("\t31\t", "\tobese\t"), DECLARED, InputError, "column bmi: 'obese' is not a number"),
        (
            ("2024-03-03", "March"),
            DECLARED,
            InputError,
            "line 3, column visit: 'March' is not a date",
        ),
        (
            ("s3\t", "s1\t"),
            DECLARED,
            InputError,
            "line 4, column sample_id: duplicated sample ID 's1'",
        ),
        (("s1", "s1"), {"age": {"type": "continuous"}}, ConfigError, "'age' is declared"),
        (
            ("s1", "s1"),
            {"response": {"type": "binary", "levels": ["x"]}},
            ConfigError,
            "exactly two levels",
        ),
        (("sample_id", "id_of_sample"), {}, InputError, "line 1: no sample ID column"),
    ],
)
def test_metadata_bad_input(tmp_path, change, declared, error, message):
    path = write(tmp_path / "m.tsv", SHEET.replace(*change))
    with pytest.raises(error, match=message):
        read_metadata(path, declared)


def test_demo_config_declares_the_demo_sheet():
    from microbiome.config import load_config

    config = load_config("config/config.yaml")["metadata"]
    m = read_metadata(config["table"], config["variables"])
    assert m.types["response"] == "binary" and m.table["patient_id"].nunique() >= 2
