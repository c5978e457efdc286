"""MultiQC custom content: a TSV whose ``#`` header is MultiQC's YAML configuration.

``multiqc results/`` picks up every ``*_mqc.tsv`` file; see MultiQC's documentation of custom
content for the header keys (``id``, ``section_name``, ``plot_type``, ``pconfig``, ...).
"""

from __future__ import annotations

import io

import pandas as pd
import yaml


def custom_content(header: dict, table: pd.DataFrame) -> str:
    """A ``*_mqc.tsv`` text: ``header`` as commented YAML, then ``table`` (index: the sample
    names, written as column ``Sample``; missing values left empty)."""
    config = yaml.safe_dump(header, sort_keys=False, default_flow_style=False, width=1000)
    lines = "".join(f"# {line}\n" for line in config.splitlines())
    body = io.StringIO()
    table.rename_axis("Sample").to_csv(body, sep="\t", na_rep="", lineterminator="\n")
    return lines + body.getvalue()
