"""The report rules in dry runs: one job per patient, a wrong reference variable stops the run
at start-up, the stage can be switched off."""

from __future__ import annotations

import re

from workflow.workflow_helpers import make_workdir, snakemake


def jobs(stdout: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stdout, re.M)}


def set_report(work, pattern, replacement):
    path = work / "config" / "config.yaml"
    text, n = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.M)
    assert n == 1, pattern
    path.write_text(text)


def test_one_report_job_per_patient(tmp_path):
    result = snakemake(make_workdir(tmp_path), "--dry-run", "--printshellcmds")
    assert result.returncode == 0, result.stderr
    counts = jobs(result.stdout)
    assert counts["report_cohort"] == 1 and counts["report_patient"] == 5  # P01..P05
    assert "results/report/patients/P01.pdf" in result.stdout
    assert "--diversity results/diversity" in result.stdout
    assert "--integrate results/integrate" in result.stdout


def test_a_wrong_reference_variable_stops_the_run_at_start(tmp_path):
    work = make_workdir(tmp_path)
    set_report(work, r"^    variable: diagnosis", "    variable: smoking")
    result = snakemake(work, "--dry-run")
    assert result.returncode != 0
    assert "report.reference.variable: 'smoking' is not a column" in result.stdout + result.stderr


def test_reports_switched_off(tmp_path):
    work = make_workdir(tmp_path)
    set_report(work, r"^(report:\n  activate:) true", r"\1 false")
    result = snakemake(work, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "report_cohort" not in jobs(result.stdout)
