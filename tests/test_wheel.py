"""An install from a wheel (not the editable checkout) finds its schemas: QC takes its defaults
from them and validate checks a config against them, run from a folder outside the checkout."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import READS, ROOT


def _run(cmd: list, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    # No PYTHONPATH: the interpreter must import the installed package, not this checkout.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> Path:
    """A fresh virtual environment with the package installed from a wheel built from this
    checkout; its dependencies are this environment's (no download)."""
    tmp = tmp_path_factory.mktemp("wheel")
    # From a copy of what the wheel is built from: an in-tree build leaves build/ behind.
    source = tmp / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "microbiome", source / "microbiome", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", tmp / "dist", source],
        cwd=tmp,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("microbiome-*.whl")
    env = tmp / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env)
    python = env / "bin" / "python"
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp)
    # This environment's packages (dependencies) after the venv's own: a plain path in a .pth
    # file, so the editable install of this checkout (a .pth hook there) is not picked up.
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(site.stdout.strip(), "deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    installed = _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
         "--no-index", "-q", wheel],
        cwd=tmp,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return env


@pytest.mark.slow
def test_wheel_install_finds_its_schemas(wheel_env, tmp_path):
    python = wheel_env / "bin" / "python"
    where = _run([python, "-c", "import microbiome; print(microbiome.__file__)"], tmp_path)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(wheel_env), where.stdout
    assert not Path(where.stdout.strip()).is_relative_to(ROOT)
    microbiome = wheel_env / "bin" / "microbiome"

    # QC of a sample with the schema's defaults (min_length 50, ...)
    qc = _run(
        [microbiome, "qc", "-1", READS / "sim01_R1.fastq.gz", "-2", READS / "sim01_R2.fastq.gz",
         "-s", "sim01", "-o", tmp_path / "qc"],
        cwd=tmp_path,
    )  # fmt: skip
    assert qc.returncode == 0, qc.stderr
    result = json.loads((tmp_path / "qc" / "sim01.qc.json").read_text())
    assert result["settings"]["min_length"] == 50
    with gzip.open(tmp_path / "qc" / "sim01_R1.fastq.gz", "rt") as f:
        lengths = [len(line) - 1 for i, line in enumerate(f) if i % 4 == 1]
    assert lengths and min(lengths) >= 50

    # A config checked against the schema: a misspelt key, with the key it resembles.
    config = tmp_path / "config.yaml"
    config.write_text("mode: tables\ntables:\n  taxa: t.tsv\nqc:\n  min_lenght: 60\n")
    checked = _run([microbiome, "validate", "--config", config], cwd=tmp_path)
    assert checked.returncode == 2, checked.stderr
    assert "key qc.min_lenght: unknown key; did you mean 'min_length'?" in checked.stderr
