"""The workflow's configuration: loading, schema validation and defaults.

The JSON schemas live in ``workflow/schemas/`` of the checkout the package is installed from
(``pip install -e .``); the workflow validates against the same files at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from microbiome.errors import ConfigError, ValidationErrors

#: The Snakemake workflow of this checkout.
WORKFLOW_DIR = Path(__file__).resolve().parent.parent / "workflow"


def schema_path(name: str) -> Path:
    """Path of ``workflow/schemas/<name>.schema.yaml``."""
    path = WORKFLOW_DIR / "schemas" / f"{name}.schema.yaml"
    if not path.is_file():
        raise ConfigError(
            "schema not found: install the package from its repository with `pip install -e .`",
            file=path,
        )
    return path


def load_schema(name: str) -> dict:
    """The schema ``name`` ('config' or 'samples') as a dict."""
    with open(schema_path(name), encoding="utf-8") as f:
        return yaml.safe_load(f)


def _validator(schema: dict) -> jsonschema.protocols.Validator:
    """A validator that also fills in every default it meets (as snakemake.utils.validate does)."""
    base = jsonschema.validators.validator_for(schema)

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = _copy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    extended = jsonschema.validators.extend(base, {"properties": set_defaults})
    return extended(schema)


def _copy(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))


def schema_errors(instance: Any, schema: dict, *, file: str | None = None) -> list[ConfigError]:
    """Every violation of ``schema`` by ``instance`` (defaults are filled in on the way)."""
    errors = []
    for err in sorted(_validator(schema).iter_errors(instance), key=lambda e: list(e.path)):
        key = ".".join(str(p) for p in err.path) or "(top level)"
        errors.append(ConfigError(f"key {key}: {_describe(err)}", file=file))
    return errors


def _describe(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        return f"{err.message}; allowed keys: {', '.join(allowed)}"
    return err.message


#: Config keys that hold paths (relative ones are relative to the working directory).
PATH_KEYS = (
    ("samples",),
    ("metadata", "table"),
    ("qc", "host_references"),
    ("profile", "references"),
    ("profile", "taxonomy"),
    ("profile", "seqid2taxid"),
    ("profile", "database"),
    ("profile", "kraken2_db"),
    ("diversity", "tree"),
    ("tables", "taxa"),
    ("tables", "profiler_outputs"),
    ("integrate", "metabolites"),
    ("integrate", "metabolite_annotation"),
)


def absolute_paths(config: dict, base: str | os.PathLike) -> dict:
    """The path settings of ``config`` (PATH_KEYS), made absolute against ``base``, nested as
    in the config: for Snakemake's ``--config`` when it runs in another working directory."""
    out: dict = {}
    for *sections, key in PATH_KEYS:
        source, target = config, out
        for section in sections:
            source, target = source[section], target.setdefault(section, {})
        value = source[key]

        def join(path: str) -> str:
            return os.path.join(base, path) if path else path  # "" means unset: keep it

        target[key] = [join(v) for v in value] if isinstance(value, list) else join(value)
    return out


def load_config(path: str | os.PathLike) -> dict:
    """Read a YAML config, validate it against the config schema and fill in defaults.

    Raises ValidationErrors listing every problem (unknown keys, wrong types, out of range).
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except FileNotFoundError as exc:
        raise ConfigError("config file not found", file=path) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {problem}", file=path, line=line) from exc
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError("the config must be a mapping of keys to values", file=path)
    errors = schema_errors(config, load_schema("config"), file=path)
    if errors:
        raise ValidationErrors(errors)
    return config


def config_from(path: str | os.PathLike | None = None, settings: str | None = None) -> dict:
    """The workflow config with defaults: from a YAML file (``--config``), from the JSON text
    of a rule (``--settings``), or from the schema's defaults alone when neither is given.

    Raises ConfigError for settings that are not a JSON object, ValidationErrors listing every
    problem of either.
    """
    import json

    if path:
        return load_config(path)
    config: dict = {}
    if settings:
        try:
            config = json.loads(settings)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--settings is not valid JSON: {exc.msg}") from None
        if not isinstance(config, dict):
            raise ConfigError("--settings must be a JSON object")
    errors = schema_errors(config, load_schema("config"), file="--settings")
    if errors:
        raise ValidationErrors(errors)
    return config
