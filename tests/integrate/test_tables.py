"""The metabolite table reader: orientation, missing values, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_DATA

from microbiome.errors import ConfigError, InputError
from microbiome.integrate.tables import read_metabolite_table

DEMO = TEST_DATA / "metadata" / "metabolites.tsv"
ANNOTATION = TEST_DATA / "metadata" / "metabolites_annotation.tsv"


def test_reads_the_demo_table_with_its_annotation():
    table = read_metabolite_table(DEMO, annotation=ANNOTATION)
    expected = pd.read_csv(DEMO, sep="\t", index_col=0)
    assert table.data.shape == (6, 40)
    assert table.data.index.name == "sample_id"
    assert np.allclose(table.data.to_numpy(), expected.to_numpy())
    assert table.annotation.loc["tryptophan", "superpathway"] == "Amino Acid"
    assert list(table.annotation.index) == list(table.data.columns)


def test_transposed_table_is_detected_from_the_sample_ids(tmp_path):
    expected = pd.read_csv(DEMO, sep="\t", index_col=0)
    path = tmp_path / "t.tsv"
    expected.T.rename_axis("metabolite").to_csv(path, sep="\t")
    ids = set(expected.index)
    table = read_metabolite_table(path, sample_ids=ids)
    assert list(table.data.index) == list(expected.index)
    assert np.allclose(table.data.to_numpy(), expected.to_numpy())
    declared = read_metabolite_table(path, orientation="samples-as-columns")
    assert list(declared.data.index) == list(expected.index)


def test_missing_values_are_nan_and_csv_is_read(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("sample_id,a,b\ns1,1.5,NA\ns2,,-2\n")
    table = read_metabolite_table(path)
    assert table.data.loc["s1", "a"] == 1.5
    assert np.isnan(table.data.loc["s1", "b"]) and np.isnan(table.data.loc["s2", "a"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sample_id\ta\tb\ns1\t1\tx\n", "metabolite 'b': value 'x' is not a number"),
        ("sample_id\ta\ta\ns1\t1\t2\n", "metabolite ID 'a' appears more than once"),
        ("sample_id\ta\ns1\t1\ns1\t2\n", "sample ID 's1' appears more than once"),
        ("sample_id\n", "needs an ID column"),
    ],
)
def test_bad_tables_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as info:
        read_metabolite_table(path)
    assert str(path) in str(info.value)


def test_unknown_orientation_and_missing_file(tmp_path):
    with pytest.raises(ConfigError):
        read_metabolite_table(DEMO, orientation="sideways")
    with pytest.raises(InputError, match="file not found"):
        read_metabolite_table(tmp_path / "none.tsv")
