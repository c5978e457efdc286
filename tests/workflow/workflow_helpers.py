"""Helpers shared by the workflow tests: a working directory with its own config, Snakemake in a
subprocess, and comparisons of outputs."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, TEST_DATA

EXPECTED = TEST_DATA / "expected"


def tool_env() -> dict[str, str]:
    """The environment with this Python's scripts (`microbiome`, `snakemake`) first on PATH."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def snakemake(workdir: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_workdir(tmp_path: Path, sheet_rows: list[str] | None = None, name: str = "work") -> Path:
    """A working directory with the repository's workflow and a config of its own."""
    work = tmp_path / name
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
    config = config.replace("- test_data/", f"- {TEST_DATA}/")  # host and profile references
    config = config.replace(": test_data/", f": {TEST_DATA}/")  # taxonomy, seqid2taxid
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


def files_under(work: Path, tops: tuple[str, ...]) -> dict[str, bytes]:
    """Every file under the folders ``tops`` of ``work`` (results/benchmarks/, the timings,
    excluded), by relative path, with its contents."""
    files = {}
    for top in tops:
        for path in sorted((work / top).rglob("*")):
            rel = path.relative_to(work).as_posix()
            if path.is_file() and not rel.startswith("results/benchmarks/"):
                files[rel] = path.read_bytes()
    return files


def output_files(work: Path) -> dict[str, bytes]:
    """Every output file, under results/ and resources/; the run's records (logs/, and the
    timings in results/benchmarks/) are left out."""
    return files_under(work, ("results", "resources"))
