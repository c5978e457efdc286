"""The Snakemake workflow: lint, dry runs of several scenarios, and a full run of the demo."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import READS, ROOT, TEST_DATA

EXPECTED = TEST_DATA / "expected"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def make_workdir(tmp_path: Path, sheet_rows: list[str] | None = None) -> Path:
    """A working directory with the repository's workflow and a config of its own."""
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    (work / "workflow").symlink_to(ROOT / "workflow")
    (work / "envs").symlink_to(ROOT / "envs")
    if sheet_rows is None:
        sheet = ROOT / "config" / "samples.tsv"
    else:
        sheet = work / "config" / "samples.tsv"
        sheet.write_text("\n".join(["sample_id\tfastq_1\tfastq_2", *sheet_rows]) + "\n")
    config = (ROOT / "config" / "config.yaml").read_text()
    config = config.replace("samples: config/samples.tsv", f"samples: {sheet}")
    (work / "config" / "config.yaml").write_text(config)
    return work


def assert_same_text(got: str, expected: str, name: str) -> None:
    diff = "\n".join(
        difflib.unified_diff(
            expected.splitlines(), got.splitlines(), f"expected/{name}", f"got/{name}", lineterm=""
        )
    )
    assert not diff, f"output differs from test_data/expected/{name}:\n{diff}"


def without_file_column(tsv: str) -> str:
    """The merged statistics table without its (machine-dependent) absolute file paths."""
    rows = [line.split("\t") for line in tsv.splitlines()]
    drop = rows[0].index("file")
    return "\n".join("\t".join(r[:drop] + r[drop + 1 :]) for r in rows) + "\n"


def test_lint_is_clean():
    result = snakemake(ROOT, "--lint")
    assert result.returncode == 0, result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


SCENARIOS = {
    "demo": None,
    "single_end_only": [f"se\t{READS / 'SRR514303_SE.fastq.gz'}\t"],
    "paired_only": [
        f"p{i}\t{READS / f'sim0{i}_R1.fastq.gz'}\t{READS / f'sim0{i}_R2.fastq.gz'}" for i in (1, 2)
    ],
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_dry_run(tmp_path, scenario):
    rows = SCENARIOS[scenario]
    result = snakemake(make_workdir(tmp_path, rows), "--dry-run")
    assert result.returncode == 0, result.stderr
    n = 6 if rows is None else len(rows)
    assert f"read_stats {n:>14}" in result.stdout or f"read_stats{n:>15}" in result.stdout, (
        result.stdout
    )


def test_invalid_sheet_stops_the_workflow_at_start(tmp_path):
    rows = ["A\tmissing.fq\t", "A\tother.fq\t"]
    result = snakemake(make_workdir(tmp_path, rows), "--dry-run")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "line 3, column sample_id: duplicate sample ID 'A'" in output
    assert "line 2, column fastq_1: file not found" in output


@pytest.mark.slow
def test_full_demo_run(tmp_path):
    work = make_workdir(tmp_path)
    result = snakemake(work)
    assert result.returncode == 0, result.stderr
    for sample in ("ERR878216", "SRR514303", "sim01", "sim02", "sim03", "sim04"):
        data = json.loads((work / "results" / "stats" / f"{sample}.json").read_text())
        assert data["sample_id"] == sample
        assert (work / "logs" / "stats" / f"{sample}.log").exists()
        assert (work / "results" / "benchmarks" / "stats" / f"{sample}.tsv").exists()
    merged = (work / "results" / "stats" / "read_stats.tsv").read_text()
    assert_same_text(
        without_file_column(merged), (EXPECTED / "read_stats.tsv").read_text(), "read_stats.tsv"
    )
    # Nothing to do on a second run: outputs are complete and recognised as such.
    again = snakemake(work, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
