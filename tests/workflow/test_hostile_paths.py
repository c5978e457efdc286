"""Any legal file name is safe: the workflow runs on reads, sheets and references whose paths hold
spaces, quotes, `$(...)` and backticks, executes none of it, and gets the results of plain names.

One run of every stage on three samples (paired and single-end), with every path the rules are
given (reads, host and profile references, taxonomy, clinical sheet, metabolite tables, sample
sheet) under such names.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import READS, ROOT, TEST_DATA
from workflow_helpers import GOLDEN, make_workdir, snakemake, tool_env

#: A command substitution, in both spellings; run, it would create a file named PWNED.
HOSTILE = "in put 'q' $(touch PWNED) `touch PWNED`"
SAMPLES = {"sim01": "P01", "sim03": "P04", "SRR514303": "P03"}


def hostile_inputs(folder: Path) -> dict[str, str]:
    """Copies of the reads and links to the references and sheets, under hostile names; the
    config's paths to them."""
    folder.mkdir()
    names = {
        "sim01": ("r1 $(touch PWNED).fq.gz", "r2 `touch PWNED` it's.fq.gz"),
        "sim03": ("; touch PWNED; #.fq.gz", "| touch PWNED &.fq.gz"),
    }
    single = "se \\ $HOME * ?.fq.gz"  # single-end: its own rules (qc_single)
    shutil.copy(READS / "SRR514303_SE.fastq.gz", folder / single)
    rows = [f"SRR514303\tP03\t{single}\t"]  # paths relative to the sheet
    for sample, (r1, r2) in names.items():
        shutil.copy(READS / f"{sample}_R1.fastq.gz", folder / r1)
        shutil.copy(READS / f"{sample}_R2.fastq.gz", folder / r2)
        rows.append(f"{sample}\t{SAMPLES[sample]}\t{r1}\t{r2}")
    sheet = folder / "samples $(touch PWNED).tsv"
    sheet.write_text("sample_id\tpatient_id\tfastq_1\tfastq_2\n" + "\n".join(rows) + "\n")

    def link(name: str, target: Path) -> str:
        (folder / name).symlink_to(target)
        return str(folder / name)

    return {
        "samples": str(sheet),
        "clinical": link("clinical `touch PWNED`.tsv", TEST_DATA / "metadata" / "clinical.tsv"),
        "metabolites": link("mtb $(touch PWNED).tsv", TEST_DATA / "metadata" / "metabolites.tsv"),
        "annotation": link(
            "annotation 'x' $(touch PWNED).tsv",
            TEST_DATA / "metadata" / "metabolites_annotation.tsv",
        ),
        "references": link("refs $(touch PWNED)", TEST_DATA / "references"),
        "taxonomy": link("taxonomy `touch PWNED`", TEST_DATA / "taxonomy"),
        "seqid2taxid": link("genomes $(touch PWNED).tsv", TEST_DATA / "references" / "genomes.tsv"),
        "host": link("host `touch PWNED`.fa.gz", TEST_DATA / "host" / "phiX174_NC_001422.1.fa.gz"),
    }


def configure(work: Path, paths: dict[str, str]) -> None:
    path = work / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["samples"] = paths["samples"]
    config["metadata"]["table"] = paths["clinical"]
    config["integrate"]["metabolites"] = paths["metabolites"]
    config["integrate"]["metabolite_annotation"] = paths["annotation"]
    config["qc"]["host_references"] = [
        paths["host"] if "phiX" in p else p for p in config["qc"]["host_references"]
    ]
    config["profile"]["references"] = [paths["references"]]
    config["profile"]["taxonomy"] = paths["taxonomy"]
    config["profile"]["seqid2taxid"] = paths["seqid2taxid"]
    # The least work that still runs every rule: names, not statistics, are tested here.
    config["diversity"] |= {"metrics": ["braycurtis"], "variables": ["diagnosis"]}
    config["diversity"] |= {"rarefaction_depth": 0, "permutations": 9}
    config["integrate"]["biomarkers"]["outcome"] = ""
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def executed(tmp_path: Path) -> list[Path]:
    """Files the hostile names would have created, had a shell run them: in the test's folder
    (the jobs' working directory is in it), the repository or the system's temporary folder."""
    elsewhere = (ROOT / "PWNED", Path(tempfile.gettempdir()) / "PWNED")
    return [*tmp_path.rglob("PWNED"), *(p for p in elsewhere if p.exists())]


def rows_of(table: pd.DataFrame, samples) -> pd.DataFrame:
    return table[table["sample_id"].isin(samples)].reset_index(drop=True)


def whole_json(word: str) -> bool:
    """A settings argument (the config as JSON, paths inside), kept whole by the shell."""
    try:
        return isinstance(json.loads(word), dict)
    except ValueError:
        return False


def test_every_shell_command_quotes_every_path(tmp_path):
    # Fast: the dry run's commands, split as the shell splits them, keep each path whole.
    paths = hostile_inputs(tmp_path / HOSTILE)
    work = make_workdir(tmp_path, name="work")
    configure(work, paths)
    result = snakemake(work, "--dry-run", "--printshellcmds")
    assert result.returncode == 0, result.stderr
    commands = re.findall(r"^Shell command: (.*)$", result.stdout + result.stderr, re.M)
    rules = set(re.findall(r"^rule (\w+):", result.stdout + result.stderr, re.M))
    assert len(commands) == len(re.findall(r"^rule \w+:", result.stdout, re.M)) > 10, rules
    whole = {str(p) for p in Path(tmp_path / HOSTILE).iterdir()} | set(paths.values())
    words = [word for command in commands for word in shlex.split(command)]
    # Every hostile path reaches a command (the sample sheet only the start-up check).
    assert whole - set(words) == {paths["samples"]}
    for command in commands:
        for word in shlex.split(command):
            assert (
                "PWNED" not in word
                or word in whole
                or any(word.startswith(w + os.sep) for w in whole)
                or whole_json(word)
            ), (word, command)
    assert executed(tmp_path) == []


@pytest.mark.slow
def test_hostile_file_names_run_safely_with_the_results_of_plain_names(tmp_path):
    paths = hostile_inputs(tmp_path / HOSTILE)
    work = make_workdir(tmp_path, name="work $(touch PWNED)")
    configure(work, paths)
    # Legal file names: the sheet and config are valid.
    check = subprocess.run(
        [Path(sys.executable).parent / "microbiome", "validate", "--config", "config/config.yaml"],
        cwd=work,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    result = snakemake(work)
    assert executed(tmp_path) == []
    assert result.returncode == 0, result.stderr
    # The shell commands quoted the names (the read statistics name the files they read).
    stats = pd.read_csv(work / "results" / "stats" / "read_stats.tsv", sep="\t")
    assert stats.loc[stats["mate"] != "R2", "file"].map(lambda f: Path(f).name).tolist() == [
        "se \\ $HOME * ?.fq.gz",
        "r1 $(touch PWNED).fq.gz",
        "; touch PWNED; #.fq.gz",
    ]
    # Results as for the plain names of the demo (test_data/golden).
    expected = pd.read_csv(GOLDEN / "stats" / "read_stats.tsv", sep="\t").drop(columns="file")
    pd.testing.assert_frame_equal(
        rows_of(stats.drop(columns="file"), SAMPLES), rows_of(expected, SAMPLES)
    )
    qc = pd.read_csv(work / "results" / "qc" / "qc_summary.tsv", sep="\t")
    expected = pd.read_csv(GOLDEN / "qc" / "qc_summary.tsv", sep="\t")
    pd.testing.assert_frame_equal(qc, rows_of(expected, SAMPLES))
    species = pd.read_csv(work / "results" / "tables" / "species.relative.tsv", sep="\t")
    expected = pd.read_csv(GOLDEN / "tables" / "species.relative.tsv", sep="\t")
    for sample in SAMPLES:
        got = species.set_index("taxid")[sample]
        want = expected.set_index("taxid")[sample]
        pd.testing.assert_series_equal(got[got > 0].sort_index(), want[want > 0].sort_index())
    # Every later stage ran on the hostile clinical and metabolite paths.
    for output in (
        "results/diversity/parameters.json",
        "results/integrate/parameters.json",
        "results/integrate/correlations.tsv",
        "results/report/cohort.html",
        "results/report/patients/P01.pdf",
        "results/report/patients/P04.pdf",
        "results/report/patients/P03.pdf",
    ):
        assert (work / output).is_file(), output
