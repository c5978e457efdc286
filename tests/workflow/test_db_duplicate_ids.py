"""The config's profile.duplicate_ids reaches the database build (issue 13)."""

from __future__ import annotations

import re

import pytest
from workflow_helpers import make_workdir, snakemake


@pytest.mark.parametrize(("setting", "flag"), [("error", False), ("rename", True)])
def test_duplicate_ids_setting_reaches_db_build(tmp_path, setting, flag):
    work = make_workdir(tmp_path)
    config = work / "config" / "config.yaml"
    text, n = re.subn(r"^(  duplicate_ids:) \w+", rf"\1 {setting}", config.read_text(), flags=re.M)
    assert n == 1
    config.write_text(text)
    result = snakemake(work, "--dry-run", "--printshellcmds", "resources/db/profile.mbdb")
    assert result.returncode == 0, result.stderr
    assert "microbiome db build" in result.stdout
    assert ("--rename-duplicates" in result.stdout) is flag
