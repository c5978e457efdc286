"""Sample sheet and config validation: everything reported at once, row and column named."""

from __future__ import annotations

import pytest
from conftest import ROOT, write_fastq

from microbiome.cli.main import main
from microbiome.config import load_config
from microbiome.errors import ValidationErrors
from microbiome.io.samplesheet import load_sample_sheet

RECORDS = [("r/1", "ACGT", "IIII")]


@pytest.fixture
def reads(tmp_path):
    folder = tmp_path / "reads"
    folder.mkdir()
    for name in ("a_R1.fq.gz", "a_R2.fq.gz", "b.fq.gz", "c_R1.fq.gz", "c_R2.fq.gz"):
        write_fastq(folder / name, RECORDS)
    return folder


def test_demo_sheet_is_valid():
    table = load_sample_sheet(ROOT / "config" / "samples.tsv")
    assert len(table) == 6
    assert table.loc["SRR514303", "layout"] == "single"
    assert table.loc["sim01", "layout"] == "paired"
    assert table.loc["sim01", "patient_id"] == table.loc["sim02", "patient_id"]


@pytest.mark.parametrize("sep", ["\t", ","])
def test_mixed_layouts_relative_paths_and_extra_columns(tmp_path, reads, sep):
    sheet = tmp_path / ("samples.tsv" if sep == "\t" else "samples.csv")
    rows = [
        ["sample_id", "fastq_1", "fastq_2", "patient_id", "site"],
        ["A", "reads/a_R1.fq.gz", "reads/a_R2.fq.gz", "P1", "stool"],
        ["B", "reads/b.fq.gz", "", "P1", "stool"],
    ]
    sheet.write_text("# comment line\n" + "\n".join(sep.join(r) for r in rows) + "\n\n")
    table = load_sample_sheet(sheet)
    assert list(table.index) == ["A", "B"]
    assert table.loc["A", "fastq_2"] == str(reads / "a_R2.fq.gz")
    assert table.loc["B", "layout"] == "single" and table.loc["B", "fastq_2"] == ""
    assert table.loc["B", "site"] == "stool"
    assert table.loc["B", "line"] == 4


def test_optional_fastq_2_column(tmp_path, reads):
    sheet = tmp_path / "s.tsv"
    sheet.write_text("sample_id\tfastq_1\nB\treads/b.fq.gz\n")
    assert load_sample_sheet(sheet).loc["B", "layout"] == "single"


def test_every_problem_reported_at_once(tmp_path, reads, capsys):
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(
        "sample_id\tfastq_1\tfastq_2\n"
        "A\treads/a_R1.fq.gz\treads/a_R2.fq.gz\n"  # line 2: fine
        "bad id\treads/missing.fq.gz\t\n"  # line 3: malformed ID, missing file
        "C\treads/c_R1.fq.gz\treads/c_R1.fq.gz\n"  # line 4: same file twice
        "D\treads/a_R1.fq.gz\t\n"  # line 5: file already used on line 2
        "A\treads/b.fq.gz\t\n"  # line 6: duplicate ID
        "E\treads/c_R2.fq.gz\n"  # line 7: too few fields
    )
    with pytest.raises(ValidationErrors) as info:
        load_sample_sheet(sheet)
    found = [(e.line, e.column) for e in info.value.errors]
    assert found == [
        (3, "sample_id"),
        (3, "fastq_1"),
        (4, "fastq_2"),
        (5, "fastq_1"),
        (6, "sample_id"),
        (7, None),
    ]
    assert main(["validate", "--samples", str(sheet)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 6


def test_missing_required_column(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_text("sample\tfastq_1\nA\tx.fq\n")
    with pytest.raises(Exception, match="header lacks the column"):
        load_sample_sheet(sheet)


def test_bam_with_fastq_2_is_refused(tmp_path, reads):
    (reads / "x.bam").write_bytes(b"not really")
    sheet = tmp_path / "s.tsv"
    sheet.write_text("sample_id\tfastq_1\tfastq_2\nA\treads/x.bam\treads/b.fq.gz\n")
    with pytest.raises(ValidationErrors, match="interleaved"):
        load_sample_sheet(sheet)


def test_config_defaults_and_errors(tmp_path, capsys):
    good = tmp_path / "c.yaml"
    good.write_text("samples: s.tsv\n")
    config = load_config(good)
    assert config["stats"] == {
        "chunk_mb": 4,
        "threads": 2,
        "mem_mb": 1000,
        "mem_mb_per_gb": 0,
        "runtime": 60,
        "runtime_per_gb": 10,
    }

    bad = tmp_path / "bad.yaml"
    bad.write_text("samples: 3\nstats:\n  threads: 0\n  colour: red\nextra: 1\n")
    with pytest.raises(ValidationErrors) as info:
        load_config(bad)
    messages = [str(e) for e in info.value.errors]
    assert len(messages) == 4
    assert any("stats.threads" in m and "minimum" in m for m in messages)
    unknown = "line 4: key stats.colour: unknown key; allowed keys: chunk_mb"
    assert any(unknown in m for m in messages)

    broken = tmp_path / "broken.yaml"
    broken.write_text("samples: [a\n")
    assert main(["validate", "--config", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.yaml, line 2: not valid YAML" in err[0]


def test_schema_defaults_are_what_validation_fills_in():
    """The commands' defaults (a walk of the schema, without jsonschema) equal what jsonschema's
    validation fills into an empty config, section by section."""
    from microbiome import config

    filled: dict = {}
    for _ in config._validator(config.load_schema("config")).iter_errors(filled):
        pass
    assert config._defaults() == filled
    assert config.section_defaults("qc")["min_length"] == filled["qc"]["min_length"] == 50
    assert set(filled) >= {"qc", "profile", "diversity", "integrate", "report"}


def test_demo_config_is_valid(capsys):
    assert (
        main(
            [
                "validate",
                "--config",
                str(ROOT / "config" / "config.yaml"),
                "--samples",
                str(ROOT / "config" / "samples.tsv"),
            ]
        )
        == 0
    )
    assert "6 samples OK" in capsys.readouterr().err


def test_validate_checks_the_metadata_sheet(tmp_path, capsys):
    """`validate --config` reads the metadata sheet with its declared types and lists the
    samples that are in only one sheet."""
    import yaml

    sheet = tmp_path / "clinical.tsv"
    text = (ROOT / "test_data" / "metadata" / "clinical.tsv").read_text()
    sheet.write_text(text + "extra01\tP09\t0\t60-69\tfemale\t22\tControl\tplacebo\tresponder\tno\n")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["metadata"]["table"] = str(sheet)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    samples = ["--samples", str(ROOT / "config" / "samples.tsv")]
    assert main(["validate", "--config", str(path), *samples]) == 0
    assert "1 samples are not in the sample sheet: extra01" in capsys.readouterr().err
    sheet.write_text(text.replace("\t29.3\t", "\t290\t"))
    assert main(["validate", "--config", str(path), *samples]) == 1
    err = capsys.readouterr().err
    assert "clinical.tsv, line 3, column bmi: 290 is outside the declared range 10..80" in err


def _clinical(tmp_path, edits):
    """The demo's clinical sheet with (line, column, value) edits."""
    lines = [
        row.split("\t")
        for row in (ROOT / "test_data/metadata/clinical.tsv").read_text().splitlines()
    ]
    for line, column, value in edits:
        lines[line - 1][lines[0].index(column)] = value
    sheet = tmp_path / "clinical.tsv"
    sheet.write_text("\n".join("\t".join(row) for row in lines) + "\n")
    return sheet


def _config(tmp_path, sheet, samples, edits=()):
    """The demo config's text pointing at ``sheet`` and ``samples``, with text edits."""
    text = (ROOT / "config" / "config.yaml").read_text()
    text = text.replace("table: test_data/metadata/clinical.tsv", f"table: {sheet}")
    text = text.replace("samples: config/samples.tsv", f"samples: {samples}")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path, text.splitlines()


def test_validate_reports_every_problem_of_the_config_and_both_sheets(tmp_path, reads, capsys):
    """Mistyped config keys (with "did you mean" and their line), the sample sheet's and the
    clinical sheet's problems (every column), all in one run, one line each."""
    samples = tmp_path / "samples.tsv"
    samples.write_text("sample_id\tfastq_1\tfastq_2\nA\treads/b.fq.gz\t\nA\treads/c_R1.fq.gz\t\n")
    sheet = _clinical(tmp_path, [(3, "bmi", "290"), (5, "antibiotics", "maybe")])
    edits = [("  min_length: 50 ", "  min_lenght: 50 "), ("\nstats:\n", "\nprofle: {}\nstats:\n")]
    config, text = _config(tmp_path, sheet, samples, edits)
    typo = 1 + next(i for i, line in enumerate(text) if "min_lenght" in line)
    profle = 1 + text.index("profle: {}")
    assert main(["validate", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"microbiome: error: {config}, line {profle}: key profle: unknown key; did you mean"
        " 'profile'?",
        f"microbiome: error: {config}, line {typo}: key qc.min_lenght: unknown key; did you mean"
        " 'min_length'?",
        f"microbiome: error: {samples}, line 3, column sample_id: duplicate sample ID 'A' (first"
        " on line 2)",
        f"microbiome: error: {sheet}, line 3, column bmi: 290 is outside the declared range 10..80",
        f"microbiome: error: {sheet}, line 5, column antibiotics: 'maybe' is not one of the"
        " declared levels no, yes",
    ]


def test_validate_lists_the_cleaned_labels(tmp_path, capsys):
    """Values stripped of surrounding spaces are listed, as a note; the sheet is valid."""
    sheet = _clinical(tmp_path, [(2, "diagnosis", "Control "), (4, "diagnosis", " Control")])
    config, _ = _config(tmp_path, sheet, ROOT / "config" / "samples.tsv")
    assert main(["validate", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert (
        f"microbiome: note: {sheet}, column diagnosis: 2 values had surrounding spaces removed"
        " ('Control ' -> 'Control', line 2; ' Control' -> 'Control', line 4)\n"
    ) in err
    assert "metadata OK" in err and "6 samples OK" in err


def test_validate_in_tables_mode_reads_no_sample_sheet(tmp_path, monkeypatch, capsys):
    """mode: tables has no sample sheet: the default 'samples' is not looked for."""
    (tmp_path / "taxa.tsv").write_text("sample_id\tBlautia\nS1\t3\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"mode: tables\ntables:\n  taxa: {tmp_path / 'taxa.tsv'}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--config", str(config)]) == 0, capsys.readouterr().err


def test_validate_reads_the_taxa_and_metabolite_tables(tmp_path, capsys):
    """In tables mode the taxa table, and the metabolite table, are read as the stages will
    read them; their problems come with the clinical sheet's."""
    taxa = tmp_path / "taxa.tsv"
    taxa.write_text("sample_id\tBlautia\tDorea\nERR878216\t3\t-1\n")
    metabolites = tmp_path / "mtb.tsv"
    metabolites.write_text("sample_id\ttryptophan\nERR878216\thigh\n")
    sheet = _clinical(tmp_path, [(3, "bmi", "290")])
    config = tmp_path / "config.yaml"
    config.write_text(
        f"mode: tables\ntables:\n  taxa: {taxa}\n"
        f"metadata:\n  table: {sheet}\n  variables:\n    bmi: {{type: continuous, max: 80}}\n"
        f"integrate:\n  metabolites: {metabolites}\n"
    )
    assert main(["validate", "--config", str(config)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"microbiome: error: {sheet}, line 3, column bmi: 290 is outside the declared range"
        " -inf..80",
        f"microbiome: error: {taxa}, line 2, column Dorea: '-1' is a negative abundance",
        f"microbiome: error: {metabolites}, sample ERR878216: metabolite 'tryptophan': value"
        " 'high' is not a number",
    ]


def test_validate_names_configured_input_files_that_do_not_exist(tmp_path, capsys):
    """A path setting that names no file is found at start-up, with its key and line (not when
    the job that needs it starts); the adapter keywords are not paths."""
    config = tmp_path / "config.yaml"
    missing = tmp_path / "human.fa"
    text = (
        f"qc:\n  adapters: nextera\n  host_references: [{missing}]\nprofile: {{activate: false}}\n"
    )
    config.write_text(text)
    assert main(["validate", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"microbiome: error: {config}, line 3: key qc.host_references: {missing} does not exist"
    ]
    config.write_text(text.replace("nextera", "adapters.fa"))
    assert main(["validate", "--config", str(config)]) == 2
    assert "key qc.adapters: adapters.fa does not exist" in capsys.readouterr().err
