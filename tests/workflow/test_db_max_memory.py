"""The database build's --max-memory is the rule's mem_mb, so that the memory SLURM grants and the
build's bound agree (issue 15)."""

from __future__ import annotations

import re

from workflow_helpers import make_workdir, snakemake


def test_db_build_max_memory_is_the_rule_mem_mb(tmp_path):
    work = make_workdir(tmp_path)
    result = snakemake(work, "--dry-run", "--printshellcmds", "resources/db/profile.mbdb")
    assert result.returncode == 0, result.stderr
    bound = re.findall(r"microbiome db build .* --max-memory (\d+)MB ", result.stdout)
    granted = re.findall(r"\bmem_mb=(\d+)", result.stdout)
    assert len(bound) == 1 and len(granted) == 1, result.stdout
    assert bound == granted
    assert int(bound[0]) >= 2000  # profile.mem_mb, plus mem_mb_per_gb for the references
