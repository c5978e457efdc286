"""Reading what the earlier stages wrote, for the reports: whatever exists, checked.

Every stage's output is optional except the taxa table: a stage that did not run (its folder or
files are missing) becomes a plain note in the report ("diversity was not run"), never an error.
Files that exist but are malformed are InputErrors naming the file and what is wrong.
The column names are those of the output contract of the diversity and integrate stages.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from microbiome.errors import InputError
from microbiome.io.tables import read_tsv

#: Required columns of each optional TSV, relative to its stage's folder.
DIVERSITY_FILES = {
    "alpha": ("alpha.tsv", ("sample_id", "shannon_ln", "observed")),
    "permanova": (
        "tests/permanova.tsv",
        ("metric", "variable", "n_samples", "n_groups", "pseudo_f", "r2", "p_value"),
    ),
    "permdisp": (
        "tests/permdisp.tsv",
        ("metric", "variable", "n_samples", "n_groups", "f_statistic", "p_value"),
    ),
    "alpha_tests": (
        "tests/alpha_tests.tsv",
        ("metric", "variable", "test", "statistic", "n_samples", "p_value", "q_value"),
    ),
    "excluded": ("excluded.tsv", ("sample_id", "reason")),
}
INTEGRATE_FILES = {
    "join_report": ("join_report.tsv", ("sample_id", "patient_id", "note")),
    "associations": (
        "associations.tsv",
        (
            "feature",
            "feature_type",
            "variable",
            "level",
            "coefficient",
            "n",
            "p_value",
            "q_value",
            "model",
        ),
    ),
    "correlations": ("correlations.tsv", ("taxon", "metabolite", "rho", "p_value", "q_value", "n")),
    "performance": (
        "biomarkers/performance.tsv",
        (
            "feature_set",
            "model",
            "auroc_mean",
            "auroc_ci_low",
            "auroc_ci_high",
            "permutation_p",
            "n_samples",
            "n_positive",
            "n_splits",
            "n_repeats",
        ),
    ),
    "predictions": (
        "biomarkers/predictions.tsv",
        ("sample_id", "feature_set", "model", "probability", "outcome"),
    ),
    "importance": (
        "biomarkers/importance.tsv",
        ("feature_set", "model", "feature", "importance"),
    ),
}
#: The integrate stage's description of its chosen biomarker model.
MODEL_JSON = "biomarkers/model.json"


def read_json(path: str | os.PathLike) -> dict:
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno) from None
    if not isinstance(value, dict):
        raise InputError("expected a JSON object", file=path)
    return value


@dataclass
class StageOutputs:
    """The tables of one optional stage (diversity, integrate) that exist, by key."""

    name: str
    folder: str | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    parameters: dict | None = None
    json: dict[str, dict] = field(default_factory=dict)

    @property
    def ran(self) -> bool:
        return bool(self.tables or self.figures or self.parameters)

    @property
    def note(self) -> str:
        """Why the stage's sections are missing, in plain words."""
        if self.folder is None:
            return f"{self.name} was not run"
        return f"{self.name} was not run (no results in {self.folder})"

    def get(self, key: str) -> pd.DataFrame | None:
        return self.tables.get(key)


def read_stage(
    name: str, folder: str | os.PathLike | None, files: dict, json_files: tuple[str, ...] = ()
) -> StageOutputs:
    """The outputs of a stage found in ``folder`` (None or missing: the stage did not run):
    the TSVs of ``files``, the JSON files ``json_files``, ``parameters.json`` and the figures."""
    if folder is None:
        return StageOutputs(name, None)
    folder = Path(folder)
    stage = StageOutputs(name, str(folder))
    if not folder.is_dir():
        return stage
    for key, (relative, required) in files.items():
        path = folder / relative
        if path.is_file():
            stage.tables[key] = read_tsv(path, required)
    parameters = folder / "parameters.json"
    if parameters.is_file():
        stage.parameters = read_json(parameters)
    for relative in json_files:
        if (folder / relative).is_file():
            stage.json[relative] = read_json(folder / relative)
    figures = folder / "figures"
    if figures.is_dir():
        svgs = sorted(figures.glob("*.svg"))
        svg_stems = {p.stem for p in svgs}
        pngs = [p for p in sorted(figures.glob("*.png")) if p.stem not in svg_stems]
        stage.figures = sorted(svgs + pngs)
    return stage
