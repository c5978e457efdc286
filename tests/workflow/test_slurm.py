"""The workflow on a real SLURM: a single-node cluster from Debian's packages (.ci/slurm/), the
demo run through `microbiome run --profile slurm`, with the same results as a run on this machine.

Needs root, SLURM installed (`bash .ci/slurm/install.sh`) and the executor plugin
(`pip install -e '.[slurm]'`); skipped with the reason otherwise, except in CI, where it must run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from workflow_helpers import make_workdir, shared_demo_run, tool_env

SLURM = ROOT / ".ci" / "slurm"


def why_not_here() -> str | None:
    """Why a SLURM cluster cannot be started here, or None."""
    sbin = f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin{os.pathsep}/sbin"
    if os.geteuid() != 0:
        return "starting SLURM's daemons needs root"
    daemons = ("slurmctld", "slurmd", "slurmdbd", "munged")
    missing = [d for d in daemons if not shutil.which(d, path=sbin)]
    if missing:
        return f"SLURM is not installed ({', '.join(missing)}): bash .ci/slurm/install.sh"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "the SLURM executor plugin is not installed: pip install -e '.[slurm]'"
    running = subprocess.run(["pgrep", "-x", "slurmctld|slurmd|munged"], capture_output=True)
    if running.returncode == 0:
        return "a SLURM or munge daemon is already running on this machine"
    return None


@pytest.mark.slow
def test_demo_on_slurm_gives_the_results_of_a_local_run(tmp_path, tmp_path_factory):
    why = why_not_here()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the SLURM test, but {why}")
        pytest.skip(why)
    work = tmp_path / "e2e"
    # the local run to compare with: the session's demo run (test_workflow.py reads it too)
    local = shared_demo_run(tmp_path_factory)
    env = dict(tool_env(), SLURM_E2E_TIMEOUT="1800", LOCAL_RUN=str(local))
    try:
        result = subprocess.run(
            ["bash", str(SLURM / "e2e.sh"), str(work)],
            env=env,
            capture_output=True,
            text=True,
            timeout=2400,
        )
    finally:  # e2e.sh stops its daemons itself (trap); this is for a hard timeout here
        subprocess.run(
            ["bash", str(SLURM / "down.sh")], env=dict(env, PIDFILE_DIR=str(work / "pids"))
        )
    assert result.returncode == 0, result.stdout + result.stderr
    ok = [line for line in result.stderr.splitlines() if line.startswith("slurm-e2e: OK")]
    assert ok, result.stderr
    print(ok[0])  # timings, shown with pytest -s


@pytest.mark.skipif(
    importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
    reason="the SLURM executor plugin is not installed: pip install -e '.[slurm]'",
)
def test_slurm_profile_without_slurm_explains_itself(tmp_path):
    """Snakemake itself with the SLURM profile on a machine without SLURM: the dry run shows the
    plan, and a real run stops at once saying why (instead of failing every job after a wait)."""
    bin_dir = tmp_path / "bin"  # a PATH without sbatch, sacct, squeue
    bin_dir.mkdir()
    for tool in ("which", "bash", "sh"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{bin_dir}")
    work = make_workdir(tmp_path)
    cmd = [sys.executable, "-m", "snakemake", "--profile", str(ROOT / "config/profiles/slurm")]
    dry = subprocess.run(
        [*cmd, "-n"], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )
    assert dry.returncode == 0, dry.stderr
    assert "read_stats" in dry.stdout
    real = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert real.returncode != 0
    assert "`sbatch` is not on PATH" in real.stderr, real.stderr
    assert not (work / "results").exists()
