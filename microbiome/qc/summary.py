"""Tables of the QC of many samples: a merged TSV and MultiQC custom content."""

from __future__ import annotations

import csv
import io

import pandas as pd

from microbiome.io.multiqc import custom_content

#: Columns of the merged table, after sample_id and layout.
STEP_COLUMNS = (
    "reads_in",
    "bases_in",
    "reads_with_adapter",
    "adapter_trimmed_bases",
    "quality_trimmed_bases",
    "n_trimmed_bases",
    "too_short",
    "too_many_n",
    "low_complexity",
    "host",
    "duplicate",
    "reads_out",
    "bases_out",
    "singletons",
    "kept_read_percent",
    "host_read_percent",
    "q30_percent_before",
    "q30_percent_after",
    "mean_len_after",
)


def _step(sample: dict, name: str) -> dict:
    for step in sample["steps"]:
        if step["step"] == name:
            return step
    return {"reads": 0, "bases": 0}


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 2) if values else None


def summary_row(sample: dict) -> dict:
    """One row of the merged table from a sample's QC statistics (``QCResult.to_dict()``)."""
    reads_in = _step(sample, "input")["reads"]
    adapter = _step(sample, "adapter_trimming")
    row = {
        "sample_id": sample["sample_id"],
        "layout": sample["layout"],
        "reads_in": reads_in,
        "bases_in": _step(sample, "input")["bases"],
        "reads_with_adapter": adapter.get("reads_with_adapter", 0),
        "adapter_trimmed_bases": adapter["bases"],
        "quality_trimmed_bases": _step(sample, "quality_trimming")["bases"],
        "n_trimmed_bases": _step(sample, "n_trimming")["bases"],
    }
    for name in ("too_short", "too_many_n", "low_complexity", "host", "duplicate"):
        row[name] = _step(sample, name)["reads"]
    row["reads_out"] = _step(sample, "output")["reads"]
    row["bases_out"] = _step(sample, "output")["bases"]
    row["singletons"] = _step(sample, "singletons")["reads"]
    row["kept_read_percent"] = sample["kept_read_percent"]
    row["host_read_percent"] = round(100 * row["host"] / reads_in, 3) if reads_in else 0.0
    row["q30_percent_before"] = _mean([m["q30_percent"] for m in sample["before"]])
    row["q30_percent_after"] = _mean([m["q30_percent"] for m in sample["after"]])
    row["mean_len_after"] = _mean([m["mean_len"] for m in sample["after"]])
    return row


def merged_table(samples: list[dict]) -> str:
    """The merged QC table (TSV), one row per sample."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, ["sample_id", "layout", *STEP_COLUMNS], delimiter="\t", lineterminator="\n"
    )
    writer.writeheader()
    for sample in samples:
        writer.writerow({k: "NA" if v is None else v for k, v in summary_row(sample).items()})
    return out.getvalue()


def multiqc_general_stats(samples: list[dict]) -> str:
    """MultiQC custom content for the General Statistics table (``*_mqc.tsv``)."""
    percent = {"max": 100, "min": 0, "suffix": "%"}
    header = {
        "id": "microbiome_qc",
        "section_name": "microbiome QC",
        "plot_type": "generalstats",
        "pconfig": {
            "kept_read_percent": {
                "title": "% kept",
                "description": "Reads kept by microbiome qc",
                **percent,
            },
            "host_read_percent": {
                "title": "% host",
                "description": "Reads removed as host",
                **percent,
            },
            "reads_out": {"title": "Clean reads", "format": "{:,.0f}"},
        },
    }
    return custom_content(header, _table(samples, list(header["pconfig"])))


def multiqc_fates(samples: list[dict]) -> str:
    """MultiQC custom content: a bar graph of what happened to each sample's reads."""
    fates = [
        "reads_out",
        "singletons",
        "too_short",
        "too_many_n",
        "low_complexity",
        "host",
        "duplicate",
    ]
    header = {
        "id": "microbiome_qc_fates",
        "section_name": "microbiome QC: read fates",
        "description": "Reads kept and removed by each QC filter, in the order applied.",
        "plot_type": "bargraph",
        "pconfig": {
            "id": "microbiome_qc_fates_plot",
            "title": "microbiome QC: read fates",
            "ylab": "Reads",
        },
    }
    return custom_content(header, _table(samples, fates))


def _table(samples: list[dict], columns: list[str]) -> pd.DataFrame:
    rows = [summary_row(sample) for sample in samples]
    return pd.DataFrame(rows, columns=["sample_id", *columns]).set_index("sample_id")
