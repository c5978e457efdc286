"""Faults: a job or the whole workflow killed with SIGKILL mid-run, then a rerun that completes
with the outputs of an uninterrupted run, byte for byte; a failing job's log says why in one
line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import READS, ROOT
from workflow_helpers import make_workdir, output_files, snakemake, tool_env

LOCAL = str(ROOT / "config" / "profiles" / "local")
BIG_READS = 200_000  # ~60 MB of FASTQ: half a second of reading, time enough to be killed in


def write_big_fastq(path: Path, n: int, length: int = 150) -> Path:
    """n random reads of one length, fast (numpy), as plain FASTQ."""
    rng = np.random.default_rng(7)
    seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, size=(n, length))]
    qual = (rng.integers(2, 41, size=(n, length)) + 33).astype(np.uint8)
    newline = np.full((n, 1), ord("\n"), np.uint8)
    plus = np.tile(np.frombuffer(b"+\n", np.uint8), (n, 1))
    body = np.hstack([seq, newline, plus, qual, newline])
    with open(path, "wb") as f:
        for i in range(n):
            f.write(b"@r%d\n" % i)
            f.write(body[i].tobytes())
    return path


@pytest.fixture(scope="module")
def sheet_rows(tmp_path_factory) -> list[str]:
    big = write_big_fastq(tmp_path_factory.mktemp("reads") / "big.fq", BIG_READS)
    return [
        f"big\t{big}\t",
        f"sim01\t{READS / 'sim01_R1.fastq.gz'}\t{READS / 'sim01_R2.fastq.gz'}",
        f"se\t{READS / 'SRR514303_SE.fastq.gz'}\t",
    ]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, sheet_rows) -> dict[str, bytes]:
    work = make_workdir(tmp_path_factory.mktemp("uninterrupted"), sheet_rows)
    result = snakemake(work, "--profile", LOCAL)
    assert result.returncode == 0, result.stderr
    return output_files(work)


def finished_results(work: Path) -> dict[str, bytes]:
    """output_files without the hidden temporary files that a SIGKILLed write leaves behind."""
    return {
        rel: data
        for rel, data in output_files(work).items()
        if not (Path(rel).name.startswith(".") and rel.endswith(".tmp"))
    }


#: Outputs that may differ between two runs of the same inputs, each with the reason. Every
#: other output file must be byte-identical (logs/ and results/benchmarks/ are run records).
NOT_BYTE_IDENTICAL: dict[str, str] = {}


def differing_outputs(got: dict[str, bytes], expected: dict[str, bytes]) -> list[str]:
    """Outputs of ``expected`` that ``got`` lacks or holds with other bytes, the exceptions left
    out, and outputs only in ``got``."""
    return sorted(
        rel
        for rel in set(got) | set(expected)
        if rel not in NOT_BYTE_IDENTICAL and got.get(rel) != expected.get(rel)
    )


def find_reading_job(sample: str, reads: Path, timeout: float = 120) -> int:
    """PID of the `microbiome stats` process of `sample` once it has `reads` open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"stats" not in args or b"--sample-id" not in args:
                    continue
                if args[args.index(b"--sample-id") + 1] != sample.encode():
                    continue
                if any(os.readlink(fd) == str(reads) for fd in Path(f"/proc/{pid}/fd").iterdir()):
                    return int(pid)
            except (OSError, IndexError):
                continue  # gone or not ours
        time.sleep(0.005)
    raise AssertionError(f"no running job of sample {sample} reading {reads} seen")


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["job", "workflow"])
def test_rerun_after_sigkill_completes_with_the_same_results(
    tmp_path, sheet_rows, uninterrupted, victim
):
    work = make_workdir(tmp_path, sheet_rows)
    big = Path(sheet_rows[0].split("\t")[1])
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--profile", LOCAL]
    with open(tmp_path / "killed.log", "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=work, env=tool_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            pid = find_reading_job("big", big)
            if victim == "job":  # the job dies (out of memory, node failure); Snakemake lives
                os.kill(pid, signal.SIGKILL)
            else:  # everything dies at once: Snakemake and its running jobs
                os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert code != 0
    # The killed job left no output that looks finished.
    assert not (work / "results" / "stats" / "big.json").exists()
    assert not (work / "results" / "stats" / "read_stats.tsv").exists()

    if victim == "workflow":  # a killed Snakemake leaves its lock behind
        assert snakemake(work, "--unlock").returncode == 0
    rerun = snakemake(work, "--profile", LOCAL)
    assert rerun.returncode == 0, rerun.stderr
    assert "big" in rerun.stdout + rerun.stderr  # the killed job ran again
    got = finished_results(work)
    assert sorted(got) == sorted(uninterrupted)
    differ = differing_outputs(got, uninterrupted)
    assert not differ, "outputs that differ from the uninterrupted run's:\n" + "\n".join(differ)
    again = snakemake(work, "--profile", LOCAL, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_a_failing_job_says_why_in_one_line(tmp_path):
    data = (READS / "sim01_R1.fastq.gz").read_bytes()
    broken = tmp_path / "broken.fastq.gz"
    broken.write_bytes(data[: len(data) // 3])  # truncated in transfer
    work = make_workdir(tmp_path, [f"bad\t{broken}\t", f"se\t{READS / 'SRR514303_SE.fastq.gz'}\t"])
    result = snakemake(work, "--profile", LOCAL)
    assert result.returncode != 0
    log = (work / "logs" / "stats" / "bad.log").read_text().splitlines()
    assert len(log) == 1, log
    assert log[0].startswith("microbiome: error: ") and "broken.fastq.gz" in log[0], log
    assert log[0] in result.stdout + result.stderr  # the profile shows failed logs
    assert not (work / "results" / "stats" / "bad.json").exists()
    assert (work / "results" / "stats" / "se.json").exists()  # keep-going: the others finish
