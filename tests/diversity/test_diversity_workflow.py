"""The diversity rules in dry runs: with a tree and without sketches, switched off, no metadata."""

from __future__ import annotations

import re
import shlex

from workflow.workflow_helpers import make_workdir, snakemake


def _edit(work, *replacements):
    path = work / "config" / "config.yaml"
    text = path.read_text()
    for pattern, value in replacements:
        text, n = re.subn(pattern, value, text, count=1, flags=re.M)
        assert n == 1, pattern
    path.write_text(text)


def _jobs(stdout: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stdout, re.M)}


def test_demo_runs_diversity_with_sketches(tmp_path):
    result = snakemake(make_workdir(tmp_path), "--dry-run")
    assert result.returncode == 0, result.stderr
    jobs = _jobs(result.stdout)
    assert (jobs["diversity"], jobs["diversity_sketch"]) == (1, 6)


def test_tree_adds_unifrac_and_faith_pd_without_sketches(tmp_path):
    work = make_workdir(tmp_path)
    tree = tmp_path / "taxa.nwk"
    tree.write_text("((a:1,b:1):1,c:2);")
    _edit(
        work,
        (
            r"^  metrics: \[[^\]]*\]",
            "  metrics: [braycurtis, weighted_unifrac, unweighted_unifrac]",
        ),
        (r'^  tree: ""', f"  tree: {tree}"),
        (r"^  sketch: true", "  sketch: false"),
    )
    result = snakemake(work, "--dry-run", "--printshellcmds")
    assert result.returncode == 0, result.stderr
    jobs = _jobs(result.stdout)
    assert jobs["diversity"] == 1 and "diversity_sketch" not in jobs
    assert f"--tree {shlex.quote(str(tree))}" in result.stdout
    assert "results/diversity/figures/alpha_faith_pd_diagnosis.svg" in result.stdout
    assert "results/diversity/pcoa/weighted_unifrac.coordinates.tsv" in result.stdout


def test_switched_off_or_without_metadata(tmp_path):
    work = make_workdir(tmp_path, name="off")
    _edit(work, (r"^(diversity:\n  activate:) true", r"\1 false"))
    jobs = _jobs(snakemake(work, "--dry-run").stdout)
    assert "diversity" not in jobs and jobs["merge_profiles"] == 1
    work = make_workdir(tmp_path, name="nometa")
    _edit(
        work,
        (r"^  table: \S+", '  table: ""'),
        (r"^  variables: \[diagnosis[^\]]*\]", "  variables: []"),
    )
    result = snakemake(work, "--dry-run", "--printshellcmds")
    assert result.returncode == 0, result.stderr
    assert _jobs(result.stdout)["diversity"] == 1 and "--metadata" not in result.stdout


def test_curves_off_are_neither_run_nor_declared(tmp_path):
    work = make_workdir(tmp_path)
    _edit(
        work,
        (r"^  rarefaction_curves: true", "  rarefaction_curves: false"),
        (r"^  rarefaction_max_depth: 0", "  rarefaction_max_depth: 5000"),
    )
    result = snakemake(work, "--dry-run", "--printshellcmds")
    assert result.returncode == 0, result.stderr
    assert "--no-curves" in result.stdout and "--rarefaction-max-depth 5000" in result.stdout
    assert "figures/rarefaction.svg" not in result.stdout
    assert "results/diversity/figures/pcoa_braycurtis_diagnosis.svg" in result.stdout
