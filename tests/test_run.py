"""`microbiome run`: the Snakemake wrapper for people who do not know Snakemake."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest
from conftest import ROOT

from microbiome.cli import run as run_module
from microbiome.cli.main import build_parser, main
from microbiome.config import absolute_paths, load_config

CONFIG = str(ROOT / "config" / "config.yaml")
SHEET = str(ROOT / "config" / "samples.tsv")
PLUGIN = "snakemake_executor_plugin_slurm"


@pytest.fixture
def no_slurm_here(tmp_path, monkeypatch):
    """A PATH without sbatch (but with what Snakemake and its plugin call: which, bash, sh)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("which", "bash", "sh"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", f"{os.path.dirname(sys.executable)}{os.pathsep}{bin_dir}")


@pytest.fixture
def plugin(monkeypatch):
    """Pretend that the SLURM plugin is installed (returns a setter for 'installed or not')."""
    real = importlib.util.find_spec

    def set_installed(installed: bool) -> None:
        def find_spec(name, *args, **kwargs):
            if name == PLUGIN:
                return real("json") if installed else None
            return real(name, *args, **kwargs)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    return set_installed


def test_dry_run_shows_the_plan_and_where_results_go(tmp_path, capfd):
    work = tmp_path / "project"
    code = main(["run", "--config", CONFIG, "--samples", SHEET, "-d", str(work), "--dry-run"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert "read_stats" in out + err
    assert "config OK" in err and "6 samples OK" in err
    assert f"dry run: nothing was run; results would go to {work / 'results'}" in err
    assert not (work / "results").exists()


def test_bad_config_stops_before_snakemake(tmp_path, capfd):
    config = tmp_path / "config.yaml"
    config.write_text("samples: config/samples.tsv\nstats:\n  threads: 0\n  treads: 2\n")
    code = main(["run", "--config", str(config), "--samples", SHEET, "--dry-run"])
    out, err = capfd.readouterr()
    assert code == 2
    assert "key stats.threads: 0 is less than the minimum of 1" in err
    assert "treads" in err
    assert "running: snakemake" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--partition", "compute"], "--partition is for --profile slurm, not --profile local"),
        (["--profile", "nosuch"], "--profile nosuch: no such profile; give one of local, slurm"),
        (["--cores", "0"], "--cores must be at least 1, not 0"),
    ],
)
def test_usage_errors(argv, message, capfd):
    code = main(["run", "--config", CONFIG, "--samples", SHEET, "--dry-run", *argv])
    assert code == 2
    assert f"microbiome: error: {message}" in capfd.readouterr().err


def test_slurm_without_the_plugin_says_what_to_install(plugin, capfd):
    plugin(False)
    code = main(["run", "--config", CONFIG, "--samples", SHEET, "--profile", "slurm"])
    err = capfd.readouterr().err
    assert code == 2
    assert "needs Snakemake's SLURM executor plugin" in err
    # from the checkout, not from the package index (where 'microbiome' is someone else's)
    assert "pip install -e '.[slurm]'" in err and "microbiome[slurm]" not in err


def test_slurm_without_sbatch_says_where_to_run(plugin, no_slurm_here, capfd):
    plugin(True)
    code = main(["run", "--config", CONFIG, "--samples", SHEET, "--profile", "slurm"])
    err = capfd.readouterr().err
    assert code == 2
    assert "`sbatch` is not on PATH, so this is not a SLURM login node" in err
    assert "running: snakemake" not in err  # nothing started, nothing hangs


@pytest.mark.skipif(importlib.util.find_spec(PLUGIN) is None, reason="SLURM plugin not installed")
def test_slurm_dry_run_without_sbatch_warns_and_shows_the_plan(tmp_path, no_slurm_here, capfd):
    work = tmp_path / "project"
    argv = ["run", "--config", CONFIG, "--samples", SHEET, "-d", str(work), "--profile", "slurm"]
    code = main([*argv, "--dry-run"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert "warning: --profile slurm: `sbatch` is not on PATH" in err
    assert "read_stats" in out + err


def test_partition_and_account_merge_with_the_profiles_default_resources(plugin, monkeypatch):
    plugin(True)
    monkeypatch.setattr(run_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    args = build_parser().parse_args(
        ["run", "--config", CONFIG, "--samples", SHEET, "--profile", "slurm", "--partition",
         "short", "--account", "lab42", "-j", "20", "--", "--forcerun", "read_stats"]
    )  # fmt: skip
    cmd = run_module.snakemake_command(args)
    assert cmd[:3] == [sys.executable, "-m", "snakemake"]
    assert cmd[cmd.index("--profile") + 1] == str(ROOT / "config" / "profiles" / "slurm")
    assert cmd[cmd.index("--config") + 1] == f"samples={SHEET}"
    assert cmd[cmd.index("--jobs") + 1] == "20"
    start = cmd.index("--default-resources") + 1
    resources = cmd[start : cmd.index("--forcerun")]
    assert resources == [
        "mem_mb=1000",
        "runtime=60",
        "slurm_partition=short",
        "slurm_account=lab42",
    ]
    assert cmd[-2:] == ["--forcerun", "read_stats"]


def test_run_reports_every_problem_before_snakemake(tmp_path, capfd):
    """Config and sample sheet problems together, a mistyped key with its suggestion."""
    config = tmp_path / "config.yaml"
    config.write_text("samples: config/samples.tsv\nstats:\n  treads: 2\n")
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample_id\tfastq_1\nA\tnothere.fq.gz\n")
    code = main(["run", "--config", str(config), "--samples", str(sheet), "--dry-run"])
    out, err = capfd.readouterr()
    assert code == 2
    assert [line for line in err.splitlines() if "error" in line] == [
        f"microbiome: error: {config}, line 3: key stats.treads: unknown key; did you mean"
        " 'threads'?",
        f"microbiome: error: {sheet}, line 2, column fastq_1: file not found:"
        f" {tmp_path / 'nothere.fq.gz'}",
    ]
    assert "running: snakemake" not in err


def test_relative_paths_are_made_absolute_but_adapter_keywords_are_kept(tmp_path):
    """`run -d elsewhere` hands Snakemake absolute paths; 'nextera' is a preset, not a file."""
    config = load_config(CONFIG)
    config["qc"]["host_references"] = ["host/human.fa"]
    for adapters, expected in [("nextera", "nextera"), ("a.fa", str(tmp_path / "a.fa"))]:
        config["qc"]["adapters"] = adapters
        paths = absolute_paths(config, tmp_path)
        assert paths["qc"]["adapters"] == expected
        assert paths["qc"]["host_references"] == [str(tmp_path / "host" / "human.fa")]


def test_adapter_keywords_are_the_trimmers_own():
    """The values of qc.adapters that are not paths are exactly what the trimmer knows."""
    from microbiome.config import ADAPTER_KEYWORDS
    from microbiome.qc.trim import ADAPTERS

    assert set(ADAPTER_KEYWORDS) == {"auto", "none", *ADAPTERS}
