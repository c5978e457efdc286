"""The workflow's configuration: loading, schema validation, defaults and each stage's settings.

The JSON schemas are package data (``microbiome/schemas/``), so an installed wheel has them; the
workflow validates against the same files at start-up. The schema is the one place that gives a
setting its type, range and default: :func:`stage_settings` builds a stage's frozen settings from
it, :func:`section_defaults` gives a command line's defaults, and :func:`science` drops the keys
that only size a job (:data:`RESOURCE_KEYS`), which a rule's ``params:`` must never hold.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from microbiome.errors import ConfigError, ValidationErrors, combined

if TYPE_CHECKING:  # imported where used: every command's start reads the schema's defaults
    import jsonschema

#: Where each key of a config was set: path of keys (``("qc", "min_length")``) -> (file, line).
KeyLocations = dict[tuple[str, ...], tuple[str, int]]

#: The Snakemake workflow of this checkout.
WORKFLOW_DIR = Path(__file__).resolve().parent.parent / "workflow"

#: The JSON schemas (package data): config.schema.yaml and samples.schema.yaml.
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

#: Keys of a stage's section that size its jobs (Snakemake's ``threads:`` and ``resources:``),
#: not what they compute. They never reach a rule's ``params:`` or a stage's settings, so raising
#: them (after an out-of-memory kill, say) reruns nothing.
RESOURCE_KEYS = frozenset({"threads", "mem_mb", "mem_mb_per_gb", "runtime", "runtime_per_gb"})

Settings = TypeVar("Settings")


def schema_path(name: str) -> Path:
    """Path of ``microbiome/schemas/<name>.schema.yaml``."""
    path = SCHEMA_DIR / f"{name}.schema.yaml"
    if not path.is_file():
        raise ConfigError("schema not found: the package is installed without its data", file=path)
    return path


def load_schema(name: str) -> dict:
    """The schema ``name`` ('config' or 'samples') as a dict (a fresh copy)."""
    return _copy(_schema(name))


@functools.cache
def _schema(name: str) -> dict:
    # libyaml's parser where PyYAML has it: every command's start reads the defaults (0.15
    # CPU-s with the pure-Python one, a tenth of classify's start-up)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(schema_path(name), encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)  # noqa: S506 (a safe loader)


def _validator(schema: dict) -> jsonschema.protocols.Validator:
    """A validator that also fills in every default it meets (as snakemake.utils.validate does)."""
    import jsonschema

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
    return copy.deepcopy(value)


def schema_errors(
    instance: Any,
    schema: dict,
    *,
    file: str | None = None,
    locations: KeyLocations | None = None,
) -> list[ConfigError]:
    """Every violation of ``schema`` by ``instance``, one error each (defaults are filled in on
    the way): an unknown key with the known key it most resembles ("did you mean"), else the
    allowed keys.

    ``locations`` maps a key's path (``("qc", "min_length")``) to the file and line that set it
    (:func:`read_config`), to name them in each problem; else the problem names ``file``.
    """
    errors = []
    for err in sorted(_validator(schema).iter_errors(instance), key=lambda e: list(e.path)):
        path = tuple(str(p) for p in err.path)
        key = ".".join(path) or "(top level)"
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            for name in _unknown_keys(err):
                full = ".".join((*path, name))
                message = f"key {full}: unknown key; {_suggest(name, err.schema, schema)}"
                errors.append(ConfigError(message, **located(locations, (*path, name), file)))
            continue
        message = f"key {key}: {err.message}"
        errors.append(ConfigError(message, **located(locations, path, file)))
    errors.sort(key=lambda e: (e.file or "", e.line or 0))
    return errors


def located(locations: KeyLocations | None, keys: tuple[str, ...], file: str | None) -> dict:
    """``{"file": ..., "line": ...}`` of the key ``keys`` (for an error), else of ``file``."""
    found = (locations or {}).get(keys)
    return {"file": found[0], "line": found[1]} if found else {"file": file, "line": None}


def section_is_valid(config: dict, name: str, schema: dict) -> bool:
    """Whether ``config[name]`` holds to its part of ``schema`` (defaults are filled in), so
    that it can be used while other sections have problems."""
    section = config.get(name, {})
    part = schema.get("properties", {}).get(name, {})
    return isinstance(section, dict) and not any(
        True for _ in _validator(part).iter_errors(section)
    )


def _unknown_keys(err: jsonschema.ValidationError) -> list[str]:
    """The keys of an additionalProperties violation that the schema does not know."""
    known = err.schema.get("properties", {})
    patterns = [re.compile(p) for p in err.schema.get("patternProperties", {})]
    return [
        str(name)
        for name in err.instance
        if name not in known and not any(p.search(str(name)) for p in patterns)
    ]


def _suggest(name: str, section: dict, schema: dict) -> str:
    """``did you mean 'x'?`` for the known key of ``section`` most like ``name``; else the
    section of ``schema`` where a key of that name belongs; else the allowed keys."""
    allowed = sorted(section.get("properties", {}))
    by_case = {key.lower(): key for key in allowed}
    close = difflib.get_close_matches(name.lower(), list(by_case), n=1, cutoff=0.6)
    if close:
        return f"did you mean {by_case[close[0]]!r}?"
    homes = [
        key
        for key, sub in schema.get("properties", {}).items()
        if name in sub.get("properties", {}) and sub is not section
    ]
    if homes:
        return f"did you mean to put it under {homes[0]!r}?"
    return f"allowed keys: {', '.join(allowed)}"


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line (1-based) of every key of a YAML document, by its path of keys (list items by
    their position); {} when it is not valid YAML."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, str(i))] = item.start_mark.line + 1
                walk(item, (*path, str(i)))

    if root is not None:
        walk(root, ())
    return lines


#: Config keys that hold paths (relative ones are relative to the working directory).
PATH_KEYS = (
    ("samples",),
    ("metadata", "table"),
    ("qc", "adapters"),
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

#: Values of ``qc.adapters`` that name built-in adapter sets, not a FASTA file
#: (microbiome/qc/trim.py's ADAPTERS, plus auto and none).
ADAPTER_KEYWORDS = ("auto", "none", "truseq", "nextera")


def _is_path(keys: tuple[str, ...], value: str) -> bool:
    """Whether ``value`` of the PATH_KEYS setting ``keys`` names a file ("" means unset)."""
    return bool(value) and not (keys == ("qc", "adapters") and value in ADAPTER_KEYWORDS)


def input_paths(config: dict) -> list[tuple[tuple[str, ...], str]]:
    """The input files and folders that ``config`` names (PATH_KEYS but the sample sheet), as
    (keys, path) pairs, one per path of a list setting."""
    return [
        (keys, path)
        for keys in PATH_KEYS
        if keys != ("samples",)
        for path in _listed((config.get(keys[0]) or {}).get(keys[1]) or [])
        if _is_path(keys, path)
    ]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def absolute_paths(config: dict, base: str | os.PathLike) -> dict:
    """The path settings of ``config`` (PATH_KEYS), made absolute against ``base``, nested as
    in the config: for Snakemake's ``--config`` when it runs in another working directory."""
    out: dict = {}
    for keys in PATH_KEYS:
        *sections, key = keys
        source, target = config, out
        for section in sections:
            source, target = source[section], target.setdefault(section, {})
        paths = [os.path.join(base, v) if _is_path(keys, v) else v for v in _listed(source[key])]
        target[key] = paths if isinstance(source[key], list) else paths[0]
    return out


def read_config(path: str | os.PathLike) -> tuple[dict, KeyLocations]:
    """The YAML config at ``path`` as it is written (no defaults, not validated) and where
    each key is: path of keys -> (file, line) (:func:`key_lines`).

    Raises ConfigError (file, line) for a missing file, invalid YAML or a document that is not
    a mapping.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError as exc:
        raise ConfigError("config file not found", file=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config: {exc}", file=path) from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {problem}", file=path, line=line) from exc
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError("the config must be a mapping of keys to values", file=path)
    return config, {keys: (path, line) for keys, line in key_lines(text).items()}


def load_config(path: str | os.PathLike) -> dict:
    """Read a YAML config, validate it against the config schema and fill in defaults.

    Raises ValidationErrors listing every problem (unknown keys, wrong types, out of range),
    each with its line.
    """
    config, locations = read_config(path)
    errors = schema_errors(config, load_schema("config"), file=os.fspath(path), locations=locations)
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


def section_schema(section: str) -> dict:
    """The part of the config schema that describes ``config[section]`` (do not change it)."""
    return _schema("config")["properties"][section]


def section_defaults(section: str) -> dict:
    """The schema's defaults of the config section ``section`` (nested sections filled in): the
    defaults of a command line's flags for the same keys."""
    return _copy(_defaults()[section])


@functools.cache
def _defaults() -> dict:
    """The config the schema's defaults make of an empty one: what validating ``{}`` fills in,
    by a walk of the schema's properties (jsonschema costs every command's start 0.06 CPU-s;
    the schema has no $ref or combinators, which the walk would not follow)."""
    config: dict = {}
    _fill_defaults(_schema("config"), config)
    return config


def _fill_defaults(schema: dict, instance: dict) -> None:
    for name, sub in schema.get("properties", {}).items():
        if "default" in sub and name not in instance:
            instance[name] = _copy(sub["default"])
        if isinstance(instance.get(name), dict):
            _fill_defaults(sub, instance[name])


def science(section: Mapping) -> dict:
    """``section`` without the keys that only size a job (:data:`RESOURCE_KEYS`): what a rule
    may pass in its ``params:`` (a change there reruns the job; a resource must not)."""
    return {key: value for key, value in section.items() if key not in RESOURCE_KEYS}


def check_section(section: str, values: dict, *, source: str | None = None) -> None:
    """Check ``values`` against the schema of the config section ``section``, filling in its
    defaults in place.

    Raises ConfigError (one problem) or ValidationErrors (several), each naming ``source`` and
    the key (``key qc.min_length: 0 is less than the minimum of 1``), an unknown key with the
    known one it resembles.
    """
    schema = {"type": "object", "properties": {section: section_schema(section)}}
    errors = schema_errors({section: values}, schema, file=source)
    if errors:
        raise combined(errors)


def stage_settings(
    cls: type[Settings],
    section: str,
    values: Mapping | None = None,
    *,
    source: str | None = None,
    **fields: Any,
) -> Settings:
    """The frozen settings ``cls`` (a dataclass) of the config section ``section``.

    Each field of ``cls`` that is a key of the section takes its value from ``values``, else
    the schema's default; lists become tuples. ``values`` may hold any key of the section (the
    resources too, which no settings hold); all are checked against the schema first.
    ``fields`` give the fields that are not keys of the section (inputs such as a tree file).

    Raises ConfigError or ValidationErrors naming ``source`` and each key that is unknown, of
    the wrong type or out of range (:func:`check_section`).
    """
    filled = _copy(dict(values or {}))
    check_section(section, filled, source=source)
    known = section_schema(section).get("properties", {})
    settings = {f.name: _frozen(filled[f.name]) for f in dataclasses.fields(cls) if f.name in known}
    return cls(**settings, **fields)


def check_settings(settings: Any, section: str) -> None:
    """Check the fields of frozen ``settings`` that are keys of the config section ``section``
    against its schema: settings made in Python rather than by :func:`stage_settings` meet the
    same ranges. Raises as :func:`check_section`."""
    known = section_schema(section).get("properties", {})
    values = {
        f.name: _plain(getattr(settings, f.name))
        for f in dataclasses.fields(settings)
        if f.name in known and getattr(settings, f.name) is not None  # None: not set
    }
    check_section(section, values, source=type(settings).__name__)


def _frozen(value: Any) -> Any:
    """Lists as tuples (a frozen dataclass's fields), recursively."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """Tuples as lists (what a JSON schema calls an array), recursively."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
