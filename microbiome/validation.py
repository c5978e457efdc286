"""Checking a run's inputs before it starts, every problem collected and reported at once.

The config (against ``microbiome/schemas/config.schema.yaml``, with "did you mean" for mistyped
keys, and the settings that only make sense together), the sample sheet, the clinical metadata
sheet against its declared column types, the taxa table of tables mode and the metabolite table,
and how they fit together. ``microbiome validate``,
``microbiome run`` and the workflow's start-up (``workflow/rules/common.smk``) all call
:func:`check_run`, so they find the same problems.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from microbiome.config import (
    KeyLocations,
    input_paths,
    load_schema,
    located,
    read_config,
    schema_errors,
    section_is_valid,
)
from microbiome.errors import ConfigError, MicrobiomeError, ValidationErrors
from microbiome.io.metadata import Metadata, read_metadata
from microbiome.io.samplesheet import load_sample_sheet


@dataclass
class RunInputs:
    """The checked inputs of a run.

    Attributes
    ----------
    config : dict or None
        The config with its defaults filled in (None without one).
    samples : pandas.DataFrame or None
        The sample sheet (:func:`~microbiome.io.samplesheet.load_sample_sheet`); None in
        tables mode or without one.
    metadata : Metadata or None
        The clinical sheet, when the config names one. Its ``notes`` list the values whose
        surrounding spaces were removed.
    samples_path : str or None
        The sample sheet that was checked.
    warnings : list of str
        What the user should know but that does not stop the run: samples in one of the two
        sheets only, an integration without a clinical sheet.
    """

    config: dict | None = None
    samples: pd.DataFrame | None = None
    metadata: Metadata | None = None
    samples_path: str | None = None
    warnings: list[str] = field(default_factory=list)


def check_run(
    config: dict | str | os.PathLike | None = None,
    *,
    samples: str | os.PathLike | None = None,
    check_files: bool = True,
    config_files: Sequence[str | os.PathLike] = (),
) -> RunInputs:
    """Check a run's config, sample sheet and clinical sheet; collect every problem.

    Parameters
    ----------
    config
        A config file (YAML), or a config already read (Snakemake's ``config``; its defaults
        are filled in place), or None to check a sample sheet alone.
    samples
        The sample sheet; default: the config's ``samples``, except in ``mode: tables``,
        which has none.
    check_files
        Whether the sample sheet's reads files must exist, be readable and not be empty.
    config_files
        The files a ``config`` dict was merged from, lowest precedence first (Snakemake's
        ``configfile:`` then ``--configfile``): to name the file and line of a problem.

    Raises
    ------
    ValidationErrors
        Every problem found, one per line, in the order config, sample sheet, clinical sheet,
        taxa table (tables mode) and metabolite table. The tables are read only when the
        config has no problem.
    """
    problems: list[MicrobiomeError] = []
    result = RunInputs()
    cfg, file, where = None, None, {}
    if isinstance(config, dict):
        cfg = config
        for path in config_files:
            try:
                where |= read_config(path)[1]
            except ConfigError:
                continue  # Snakemake has read it: only the locations are lost
    elif config is not None:
        file = os.fspath(config)
        try:
            cfg, where = read_config(file)
        except MicrobiomeError as exc:
            problems.append(exc)
    schema_ok = False
    if cfg is not None:
        schema = load_schema("config")
        found = schema_errors(cfg, schema, file=file, locations=where)
        problems += found
        schema_ok = not found
        if schema_ok:
            problems += _settings_problems(cfg, _locate(where, file), result.warnings)
            if check_files:
                problems += _missing_paths(cfg, _locate(where, file))
        result.config = cfg
    tables_mode = cfg is not None and cfg.get("mode") == "tables"
    if samples is None and cfg is not None and not tables_mode:
        if isinstance(cfg.get("samples"), str):
            samples = cfg["samples"]
    if samples is not None:
        result.samples_path = os.fspath(samples)
        result.samples = _collect(
            problems, load_sample_sheet, result.samples_path, check_files=check_files
        )
    if cfg is not None and (schema_ok or section_is_valid(cfg, "metadata", schema)):
        meta = cfg["metadata"]
        if meta["table"]:
            result.metadata = _collect(
                problems,
                read_metadata,
                meta["table"],
                meta["variables"],
                sample_column=meta["sample_column"] or None,
                patient_column=meta["patient_column"] or None,
            )
    if result.metadata is not None:
        if schema_ok:
            problems += _reference_problems(cfg, result.metadata, _locate(where, file))
        if result.samples is not None:
            result.warnings += _unmatched(result.metadata, result.samples)
    if schema_ok:
        ids = set(result.metadata.table.index) if result.metadata is not None else None
        _check_tables(problems, cfg, ids)
    if problems:
        raise ValidationErrors(problems)
    return result


def _collect(problems: list[MicrobiomeError], check, *args, **kwargs):
    """``check(*args, **kwargs)``, or None with its problems added to ``problems``."""
    try:
        return check(*args, **kwargs)
    except ValidationErrors as exc:
        problems.extend(exc.errors)
    except MicrobiomeError as exc:
        problems.append(exc)
    return None


def _locate(where: KeyLocations, file: str | None) -> Callable[[tuple[str, ...]], dict]:
    """keys -> ``file=..., line=...`` of the key, else of the config file."""
    return lambda keys: located(where, keys, file)


def _check_tables(problems: list[MicrobiomeError], config: dict, ids: set[str] | None) -> None:
    """Read the taxa table (or profiler outputs) of tables mode and the metabolite table with
    its annotation, as the stages will, adding their problems to ``problems``."""
    from microbiome.integrate.tables import read_metabolite_table
    from microbiome.io.feature_table import read_feature_table
    from microbiome.io.profiler_imports import import_profiles

    tables, integrate = config["tables"], config["integrate"]
    if config["mode"] == "tables" and tables["taxa"]:
        orientation = tables["orientation"]
        _collect(
            problems, read_feature_table, tables["taxa"], orientation=orientation, sample_ids=ids
        )
    elif config["mode"] == "tables" and tables["profiler_outputs"]:
        rank = integrate["rank"] or "species"
        _collect(problems, import_profiles, tables["profiler_outputs"], rank=rank)
    if integrate["metabolites"]:
        _collect(
            problems,
            read_metabolite_table,
            integrate["metabolites"],
            orientation=integrate["metabolite_orientation"],
            annotation=integrate["metabolite_annotation"] or None,
            sample_ids=ids,
        )


def _settings_problems(config: dict, locate: Callable, warnings: list[str]) -> list[ConfigError]:
    """Settings that are each valid but do not work together (the schema cannot say)."""
    problems = []

    def problem(keys: tuple[str, ...], message: str) -> None:
        problems.append(ConfigError(message, **locate(keys)))

    tables_mode = config["mode"] == "tables"
    profile, integrate, tables = config["profile"], config["integrate"], config["tables"]
    if not tables_mode and profile["activate"]:
        if profile["profiler"] == "kraken2":
            if not profile["kraken2_db"]:
                problem(
                    ("profile", "kraken2_db"),
                    "profile.profiler is kraken2: set profile.kraken2_db to the folder of a"
                    " Kraken 2 database (hash.k2d, opts.k2d, taxo.k2d)",
                )
        elif not profile["database"] and not (profile["references"] and profile["taxonomy"]):
            problem(
                ("profile",),
                "profile: set profile.references and profile.taxonomy (to build the database)"
                " or profile.database (a prebuilt one), or turn the stage off with"
                " profile.activate: false",
            )
    if tables_mode and not (tables["taxa"] or tables["profiler_outputs"]):
        problem(
            ("tables",),
            "mode is tables: set tables.taxa (a taxa table) or tables.profiler_outputs"
            " (Kraken 2, Bracken, MetaPhlAn or mOTUs outputs)",
        )
    elif tables_mode and not tables["taxa"] and not integrate["rank"]:
        problem(("integrate", "rank"), "tables.profiler_outputs: set integrate.rank (e.g. species)")
    if not tables_mode and not integrate["rank"]:
        problem(("integrate", "rank"), "integrate.rank: set the rank of results/tables/ to analyse")
    if integrate["activate"] and not config["metadata"]["table"]:
        warnings.append(
            "integrate: no clinical sheet (metadata.table), so no integration; set it to link"
            " the taxa and metabolites to the clinical data"
        )
    return problems


#: Path settings whose files check_run reads (their readers report a missing file).
_READ_HERE = {
    ("metadata", "table"),
    ("tables", "taxa"),
    ("tables", "profiler_outputs"),
    ("integrate", "metabolites"),
    ("integrate", "metabolite_annotation"),
}


def _missing_paths(config: dict, locate: Callable) -> list[ConfigError]:
    """Input files and folders of the config that do not exist: found now, not hours later
    when the job that needs them starts."""
    return [
        ConfigError(f"key {'.'.join(keys)}: {path} does not exist", **locate(keys))
        for keys, path in input_paths(config)
        if keys not in _READ_HERE and not os.path.exists(path)
    ]


def _reference_problems(config: dict, metadata: Metadata, locate: Callable) -> list[ConfigError]:
    """The report's reference variable must be a column of the clinical sheet."""
    keys = ("report", "reference", "variable")
    variable = config["report"]["reference"]["variable"]
    if not config["report"]["activate"] or not variable or variable in metadata.table.columns:
        return []
    return [
        ConfigError(
            f"report.reference.variable: {variable!r} is not a column of {metadata.path}"
            f" (columns: {', '.join(metadata.table.columns)}); set it to one, or to '' for the"
            " whole cohort",
            **locate(keys),
        )
    ]


def _unmatched(metadata: Metadata, samples: pd.DataFrame) -> list[str]:
    """The samples that are in one of the two sheets only: to list, never to drop silently."""
    match = metadata.match(list(samples.index))
    warnings = []
    if match.only_in_data:
        warnings.append(
            f"{metadata.path}: no metadata for {len(match.only_in_data)} samples of the sample"
            f" sheet: {', '.join(match.only_in_data)}"
        )
    if match.only_in_metadata:
        warnings.append(
            f"{metadata.path}: {len(match.only_in_metadata)} samples are not in the sample"
            f" sheet: {', '.join(match.only_in_metadata)}"
        )
    return warnings
