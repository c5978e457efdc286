"""Reading the per-sample JSON files that the commands write, for merging."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from microbiome.errors import InputError


def load_sample_files(
    paths: Sequence[str | os.PathLike], *, keys: Sequence[str], what: str
) -> list[dict]:
    """The JSON objects of ``paths``, each required to have ``keys`` and a unique sample_id.

    ``what`` names the kind of file in errors (e.g. "QC statistics file of `microbiome qc`").
    """
    samples: list[dict] = []
    seen: dict[str, str] = {}
    for path in map(os.fspath, paths):
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError as exc:
            raise InputError("file not found", file=path) from exc
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno) from exc
        if not isinstance(data, dict) or any(key not in data for key in ("sample_id", *keys)):
            raise InputError(f"not a {what}", file=path)
        sample = data["sample_id"]
        if sample in seen:
            raise InputError(
                f"sample {sample!r} appears in more than one file (also in {seen[sample]})",
                file=path,
            )
        seen[sample] = path
        samples.append(data)
    return samples
