"""Helpers shared by the workflow tests: a working directory with its own config, Snakemake in a
subprocess, and comparisons of outputs."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, TEST_DATA

#: The demo run's outputs as they should be (tests/workflow/test_golden.py keeps them current).
GOLDEN = TEST_DATA / "golden" / "results"


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


def microbiome_run(workdir: Path, *args: str, config: Path | None = None, timeout: float = 1800):
    """`microbiome run` of the repository's config (or ``config``) and sample sheet into
    ``workdir``, as a user runs it (and as .ci/slurm/e2e.sh's local run), from the repository
    (the config's relative paths are relative to it)."""
    config = config or ROOT / "config" / "config.yaml"
    sheet = ROOT / "config" / "samples.tsv"
    return subprocess.run(
        [
            Path(sys.executable).parent / "microbiome",
            "-q",
            "run",
            "--config",
            config,
            "--samples",
            sheet,
            "-d",
            workdir,
            "--cores",
            "2",
            *args,
        ],
        cwd=ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def shared_demo_run(tmp_path_factory) -> Path:
    """The folder of one finished :func:`microbiome_run` of the demo, shared by every test of
    the session that reads it, across pytest-xdist's workers: the first to ask runs it (under a
    file lock), the others wait for it. Fails the asking test when the run failed."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each worker's own
    work, done = base / "demo-run", base / "demo-run.result"
    with open(base / "demo-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            result = microbiome_run(work)
            done.write_text(f"{result.returncode}\n{result.stdout}{result.stderr}")
    code, _, output = done.read_text().partition("\n")
    assert code == "0", f"the shared demo run failed:\n{output[-5000:]}"
    return work


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
