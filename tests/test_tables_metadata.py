"""Abundance tables (microbiome.io.feature_table) and metadata sheets (microbiome.io.metadata)."""

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_DATA

from microbiome.errors import ConfigError, InputError, ValidationErrors
from microbiome.integrate.tables import read_metabolite_table
from microbiome.io.feature_table import read_feature_table
from microbiome.io.metadata import read_metadata
from microbiome.io.profiler_imports import import_profiles
from microbiome.io.samplesheet import load_sample_sheet
from microbiome.profile.database import read_seqid2taxid
from microbiome.profile.merge import read_rank_table
from microbiome.taxonomy import Taxonomy, gtdb_accessions

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


# --- Tables saved by Excel: byte-order mark, CRLF, all-empty trailing rows --------------------


def excel_copy(path, text, *, empty_rows=0, sep=","):
    """``text`` as Excel's "CSV UTF-8" writes it: a byte-order mark, CRLF line ends and (for
    sheets) ``empty_rows`` all-empty rows after the data; gzip-compressed for a .gz name."""
    width = len(text.splitlines()[0].split(sep))
    lines = text.splitlines() + [sep * (width - 1)] * empty_rows
    data = ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _metadata(path):
    return read_metadata(path, {"bmi": {"type": "continuous"}}).table.to_csv()


def _taxa(path):
    return read_feature_table(path).data.to_csv()


def _metabolites(path):
    return read_metabolite_table(path).data.to_csv()


def _annotation(path):
    demo = TEST_DATA / "metadata" / "metabolites.tsv"
    return read_metabolite_table(demo, annotation=path).annotation.to_csv()


def _sample_sheet(path):
    table = load_sample_sheet(path, check_files=False)
    return table[["sample_id", "fastq_1", "fastq_2", "patient_id", "layout"]].to_csv()


def _taxdump(nodes):
    shutil.copy(TEST_DATA / "taxonomy" / "names.dmp", nodes.parent / "names.dmp")
    t = Taxonomy.from_taxdump(nodes.parent)
    return t.taxids.tolist(), t.parents.tolist(), t.ranks, t.names


def _profiles(rank):
    return lambda path: import_profiles([path], rank=rank).data.to_csv()


def _rank_table(path):
    table = read_rank_table(path)
    return table.sample_id, table.metadata, table.table.to_csv()


KRAKEN = TEST_DATA / "profiler_outputs" / "kraken2__2611_se-ERR5766174-db1.kraken2.report.txt.gz"
GENUS = "k__Bacteria;p__Bacillota;c__Clostridia;o__Lachnospirales;f__Lachnospiraceae;g__Blautia"
#: case -> (file name, text, all-empty rows Excel adds, delimiter, reader -> comparable result)
EXCEL_TABLES = {
    "clinical.csv": (
        "clinical.csv",
        'sample_id,patient_id,diagnosis,bmi\ns1,P1,Control,22.5\ns2,P1,"Adenoma, tubular",NA\n',
        3,
        ",",
        _metadata,
    ),
    "clinical.tsv.gz": (
        "clinical.tsv.gz",
        "sample_id\tdiagnosis\tbmi\ns1\tControl\t22.5\ns2\tAdenoma\t31\n",
        2,
        "\t",
        _metadata,
    ),
    "taxa.tsv.gz": (
        "genera.tsv.gz",
        "sample_id\tBlautia\tDorea\nS1\t10\t0\nS2\t3\t7\n",
        2,
        "\t",
        _taxa,
    ),
    "taxa.csv": ("genera.csv", "#OTU ID,S1,S2\nBlautia,10,3\nDorea,0,7\n", 2, ",", _taxa),
    "metabolites.csv.gz": (
        "mtb.csv.gz",
        "sample_id,tryptophan,serotonin\nS1,0.5,-0.2\nS2,NA,1.5\n",
        2,
        ",",
        _metabolites,
    ),
    "annotation.csv": (
        "annotation.csv",
        "metabolite,HMDB\ntryptophan,HMDB0000929\nserotonin,HMDB0000259\n",
        2,
        ",",
        _annotation,
    ),
    "samples.csv": (
        "samples.csv",
        "sample_id,fastq_1,fastq_2,patient_id\nA,/d/a_R1.fq.gz,/d/a_R2.fq.gz,P1\nB,/d/b.fq.gz,,P1\n",
        2,
        ",",
        _sample_sheet,
    ),
    "seqid2taxid.map.gz": (
        "seqid2taxid.map.gz",
        "NC_000913.3\t562\nNZ_CP015410.2\t239935\n",
        0,
        "\t",
        read_seqid2taxid,
    ),
    "seqid2taxid with a header": (
        "seqid2taxid.tsv",
        "seqid\ttaxid\nNC_000913.3\t562\n",
        0,
        "\t",
        read_seqid2taxid,
    ),
    "GTDB taxonomy.gz": (
        "bac120_taxonomy.tsv.gz",
        "GCF_000005845.2\td__Bacteria;p__Pseudomonadota;g__Escherichia;s__Escherichia coli\n",
        0,
        "\t",
        gtdb_accessions,
    ),
    "NCBI nodes.dmp": (
        "nodes.dmp",
        (TEST_DATA / "taxonomy" / "nodes.dmp").read_text(),
        0,
        "\t",
        _taxdump,
    ),
    "Kraken 2 report.gz": (
        "S1.kreport.gz",
        gzip.decompress(KRAKEN.read_bytes()).decode(),
        0,
        "\t",
        _profiles("genus"),
    ),
    "mOTUs profile": (
        "S1.motus",
        "#consensus_taxonomy\tNCBI_tax_id\tS1\n"
        "Ruminococcus bromii [ref_mOTU_v3_00853]\t40518\t20\n",
        0,
        "\t",
        _profiles("species"),
    ),
    "rank table": (
        "S1.rank.tsv",
        "# microbiome rank table 1\n# sample_id: S1\n"
        "rank\ttaxid\tname\tlineage\ttaxpath\treads\tfraction\n"
        f"genus\t572511\tBlautia\t{GENUS}\t1|2|572511\t10\t1.0\n",
        0,
        "\t",
        _rank_table,
    ),
}


@pytest.mark.parametrize("case", EXCEL_TABLES)
def test_every_table_reads_the_same_as_excel_saves_it(tmp_path, case):
    """A byte-order mark (Excel's "CSV UTF-8"), CRLF line ends and Excel's all-empty rows after
    the data change nothing, plain or compressed."""
    name, text, empty_rows, sep, read = EXCEL_TABLES[case]
    plain = tmp_path / "plain" / name
    plain.parent.mkdir()
    plain.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    excel = excel_copy(tmp_path / "excel" / name, text, empty_rows=empty_rows, sep=sep)
    assert excel.read_bytes() != plain.read_bytes()
    assert read(excel) == read(plain)


def test_all_empty_rows_are_skipped_but_a_row_with_an_id_is_kept(tmp_path):
    """Only rows with no value at all are skipped (anywhere); a row with a sample ID and empty
    values is a sample with missing values, and a row with values but no ID is an error."""
    sheet = "sample_id,diagnosis,bmi\ns1,Control,22\n,,\n\t\ns2,,\n ,\t, \n"
    m = read_metadata(write(tmp_path / "m.csv", sheet))
    assert m.table.index.tolist() == ["s1", "s2"]
    assert m.lines == {"s1": 2, "s2": 5}
    assert pd.isna(m.table.at["s2", "diagnosis"]) and np.isnan(m.table.at["s2", "bmi"])
    with pytest.raises(InputError, match="line 4, column sample_id: empty sample ID"):
        read_metadata(
            write(tmp_path / "n.csv", "sample_id,diagnosis,bmi\ns1,Control,22\n,,\n,Adenoma,30\n")
        )


def test_metadata_reports_every_problem_of_every_column(tmp_path):
    """Every bad column, every bad value (once, with the other lines holding it), every
    undeclared column and duplicated ID, in line order."""
    sheet = (
        SHEET.replace("s3\tP2\tAdenoma\t31", "s1\tP2\tCarcinoma\t95")
        + "s4\tP3\tCarcinoma\tobese\tyes\t2024-13-45\tA\t1\n"
        + "s5\tP3\tCarcinoma\t22\tresponder\t\tA\t1\textra\n"
        + "s6\tP3\tCarcinoma\t22\tresponder\t\tA\t1\n"
    )
    declared = DECLARED | {"age": {"type": "continuous"}}
    with pytest.raises(ValidationErrors) as info:
        read_metadata(write(tmp_path / "m.tsv", sheet), declared)
    found = [str(e).split("m.tsv", 1)[1] for e in info.value.errors]
    assert found == [
        ": metadata variable 'age' is declared in the config but the sheet has no such column"
        " (columns: sample_id, subject, diagnosis, bmi, response, visit, site, score)",
        ", line 4, column sample_id: duplicated sample ID 's1' (also on line 2)",
        ", line 4, column diagnosis: 'Carcinoma' is not one of the declared levels Control,"
        " Adenoma (also on lines 5, 7)",
        ", line 4, column bmi: 95 is outside the declared range 10..80",
        ", line 5, column bmi: 'obese' is not a number",
        ", line 5, column response: 'yes' is not one of the declared levels non-responder,"
        " responder",
        ", line 5, column visit: '2024-13-45' is not a date (use YYYY-MM-DD)",
        ", line 6: 9 columns where the header has 8",
    ]


def test_metadata_names_a_byte_that_is_not_utf8(tmp_path):
    """Excel's plain "CSV" on Windows is cp1252: say where, and how to save it."""
    path = tmp_path / "m.csv"
    path.write_bytes("sample_id,site\ns1,Köln\n".encode("cp1252"))
    with pytest.raises(InputError, match=r"m.csv, line 2: not UTF-8 text \(byte 0xf6.*CSV UTF-8"):
        read_metadata(path)


def test_cleaned_labels_are_listed(tmp_path, caplog):
    """Surrounding spaces are removed from values and column names, and each cleaned column is
    listed (values, lines) in Metadata.notes and the log."""
    sheet = (
        "sample_id\t diagnosis\tsite\n"
        "s1\tAutistic \tA\n"
        "s2 \tControl\tA\n"
        "s3\t Autistic\t \n"
        "s4\tAutistic \tB\n"
    )
    path = write(tmp_path / "clinical.tsv", sheet)
    with caplog.at_level("INFO", logger="microbiome"):
        m = read_metadata(path)
    assert m.table["diagnosis"].tolist() == ["Autistic", "Control", "Autistic", "Autistic"]
    assert m.table.index.tolist() == ["s1", "s2", "s3", "s4"]
    assert m.notes == (
        f"{path}, line 1: 1 column name had surrounding spaces removed (' diagnosis' -> "
        "'diagnosis')",
        f"{path}, column sample_id: 1 value had surrounding spaces removed ('s2 ' -> 's2', line 3)",
        f"{path}, column diagnosis: 3 values had surrounding spaces removed ('Autistic ' -> "
        "'Autistic', lines 2, 5; ' Autistic' -> 'Autistic', line 4)",
    )
    assert [r.getMessage() for r in caplog.records] == [f"note: {n}" for n in m.notes]
    assert read_metadata(write(tmp_path / "clean.tsv", "sample_id\tx\ns1\ta\n")).notes == ()
