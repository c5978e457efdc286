"""Software environments: every rule that runs a command names a conda environment file that
exists, pins its channels, and (for the package's own) lists the package's dependencies."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from conftest import ROOT

RULES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))
ENVS = sorted((ROOT / "envs").glob("*.yaml"))


def rule_blocks():
    """(file, rule name, text of the rule) for every rule in workflow/rules/, also the rules
    defined inside an `if` block (indented)."""
    for path in RULES:
        text = path.read_text()
        pattern = r"^(?P<indent>[ \t]*)rule (\w+):\n((?:(?P=indent)[ \t]+.*\n|\n)*)"
        for match in re.finditer(pattern, text, re.M):
            yield path.name, match.group(2), match.group(3)


@pytest.mark.parametrize(("file", "rule", "body"), list(rule_blocks()), ids=lambda v: str(v)[:30])
def test_every_rule_has_a_conda_environment(file, rule, body):
    if not re.search(r"^\s+(shell|script|wrapper|notebook):", body, re.M):
        return  # runs nothing
    match = re.search(r'^\s+conda:\s*\n\s+"([^"]+)"', body, re.M)
    assert match, f"{file}: rule {rule} has no conda: environment"
    env = (ROOT / "workflow" / "rules" / match.group(1)).resolve()
    assert env.is_file(), f"{file}: rule {rule}: {match.group(1)} does not exist"
    assert env.parent == ROOT / "envs"


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_environment_files_pin_their_channels(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge", "bioconda", "nodefaults"]
    assert env["dependencies"], f"{path.name} lists no packages"
    for dep in env["dependencies"]:
        assert isinstance(dep, str), f"{path.name}: {dep!r}: no pip sections (see microbiome.yaml)"


def test_package_environment_has_the_package_dependencies():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    conda_names = {"isal": "python-isal"}  # PyPI name -> conda-forge name, where they differ
    needed = {re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower() for d in deps} - {"snakemake"}
    needed = {conda_names.get(name, name) for name in needed}
    env = yaml.safe_load((ROOT / "envs" / "microbiome.yaml").read_text())
    listed = {re.split(r"[<>=!~ ]", d, maxsplit=1)[0].lower() for d in env["dependencies"]}
    assert needed <= listed, f"envs/microbiome.yaml lacks {sorted(needed - listed)}"
    deploy = ROOT / "envs" / "microbiome.post-deploy.sh"
    assert "pip install" in deploy.read_text() and "MICROBIOME_SRC" in deploy.read_text()
