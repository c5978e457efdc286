"""Each sample's status, decided once: sample quality (QC), profiling coverage, exclusion.

Two verdicts that never stand in for each other:

- **Sample quality** (``qc_verdict``): from the QC summary (``microbiome merge-qc``): clean reads
  left, host reads, reads removed by QC, against the ``report: qc:`` limits of the config.
- **Profiling coverage** (``coverage_verdict``): from the classification summary of the profiling
  step (``classification_summary.tsv``): the share of the reads given to the classifier that it
  classified at any rank, against the ``report: coverage:`` limits. A low share means that the
  reference database does not cover the sample, not that the sample is bad.

Each verdict is PASS, WARN, FAIL, or NA when its input is absent (QC was not run, as in tables
mode, or the profiler did not report unclassified reads). A sample is **excluded** from the
cohort statistics (diversity, integrate, the reports) when either verdict is FAIL, or when it has
no reads at all in the taxa table. :func:`sample_status` writes the one table every later stage
reads (``results/tables/sample_status.tsv``; columns :data:`STATUS_COLUMNS`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from microbiome.errors import ConfigError, InputError
from microbiome.io.atomic import write_text_atomic
from microbiome.io.tables import read_tsv
from microbiome.profile.summary import SUMMARY_COLUMNS

if TYPE_CHECKING:
    from microbiome.io.feature_table import FeatureTable

log = logging.getLogger("microbiome")

#: Verdicts by severity; NA (input absent) is outside this order.
VERDICTS = ("PASS", "WARN", "FAIL")
NA = "NA"
#: Columns of the status table, in this order.
STATUS_COLUMNS = (
    "sample_id",
    "qc_verdict",
    "qc_reason",
    "coverage_verdict",
    "coverage_reason",
    "classified_percent",
    "species_percent",
    "excluded",
    "exclusion_reason",
)
#: Columns of the QC summary that the QC verdict needs.
QC_COLUMNS = ("sample_id", "reads_in", "reads_out", "kept_read_percent", "host_read_percent")
#: Default coverage limits (classified percent below which a sample warns / fails).
COVERAGE_DEFAULTS = {"warn_classified_percent": 50.0, "fail_classified_percent": 20.0}
NOT_COVERED = "the reference database does not cover this sample"

#: QC checks: (column, direction, fail key, warn key, description of the value).
_QC_CHECKS = (
    ("reads_out", "below", "min_reads_fail", "min_reads_warn", "{:,.0f} clean reads"),
    (
        "host_read_percent",
        "above",
        "max_host_percent_fail",
        "max_host_percent_warn",
        "{:.1f} % human (host) reads",
    ),
    (
        "removed_read_percent",
        "above",
        "max_removed_percent_fail",
        "max_removed_percent_warn",
        "{:.1f} % of reads removed by QC",
    ),
)


# --------------------------------------------------------------------------------------------
# Sample quality
# --------------------------------------------------------------------------------------------


def qc_verdicts(qc: pd.DataFrame, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """PASS / WARN / FAIL of each sample from its QC summary row, with the reasons.

    Parameters
    ----------
    qc : DataFrame indexed by sample ID
        The merged QC table (``microbiome merge-qc``): ``reads_out``, ``kept_read_percent``,
        ``host_read_percent``.
    thresholds : mapping
        ``min_reads_fail``, ``min_reads_warn`` (clean reads), ``max_host_percent_warn``,
        ``max_host_percent_fail`` (reads removed as host), ``max_removed_percent_warn``,
        ``max_removed_percent_fail`` (reads removed by QC in all).

    Returns
    -------
    DataFrame indexed like ``qc`` with ``qc_verdict`` (FAIL if any check fails, else WARN if
    any warns, else PASS) and ``qc_reason`` (plain language, with the limits; empty for PASS).
    """
    check_thresholds(thresholds)
    qc = qc.assign(removed_read_percent=100.0 - qc["kept_read_percent"])
    verdicts, reasons = [], []
    for _, row in qc.iterrows():
        verdict, why = "PASS", []
        for column, side, fail, warn, text in _QC_CHECKS:
            value = row[column]
            if pd.isna(value):
                continue
            word = "minimum" if side == "below" else "maximum"
            for level, key in (("FAIL", fail), ("WARN", warn)):
                limit = thresholds[key]
                if (value < limit) if side == "below" else (value > limit):
                    shown = f"{limit:,.0f}" if column == "reads_out" else f"{limit:g} %"
                    advice = word if level == "FAIL" else f"recommended {word}"
                    why.append(f"{text.format(value)} ({advice} {shown})")
                    if VERDICTS.index(level) > VERDICTS.index(verdict):
                        verdict = level
                    break
        verdicts.append(verdict)
        reasons.append("; ".join(why))
    return pd.DataFrame({"qc_verdict": verdicts, "qc_reason": reasons}, index=qc.index)


def qc_description(row: Mapping) -> str:
    """One QC summary row in words: '17,856 clean reads, 0.0 % host, 10.7 % removed by QC'."""
    return (
        f"{row['reads_out']:,.0f} clean reads, {row['host_read_percent']:.1f} % host, "
        f"{100.0 - row['kept_read_percent']:.1f} % removed by QC"
    )


def check_thresholds(thresholds: Mapping[str, float]) -> None:
    """ConfigError when a QC threshold is missing or a warning limit is stricter than the
    failing one."""
    for _, side, fail, warn, _ in _QC_CHECKS:
        for key in (fail, warn):
            if key not in thresholds:
                raise ConfigError(f"report: QC threshold {key!r} is missing")
        ok = (
            thresholds[fail] <= thresholds[warn]
            if side == "below"
            else (thresholds[warn] <= thresholds[fail])
        )
        if not ok:
            raise ConfigError(
                f"report: QC thresholds {warn} ({thresholds[warn]}) and {fail} "
                f"({thresholds[fail]}) are the wrong way round"
            )


# --------------------------------------------------------------------------------------------
# Profiling coverage
# --------------------------------------------------------------------------------------------


def coverage_thresholds(settings: Mapping | None) -> dict[str, float]:
    """The coverage limits of ``report: coverage:`` with defaults, checked (warn >= fail)."""
    limits = {**COVERAGE_DEFAULTS, **(settings or {})}
    warn, fail = limits["warn_classified_percent"], limits["fail_classified_percent"]
    if not 0 <= fail <= warn <= 100:
        raise ConfigError(
            f"report: coverage limits warn_classified_percent ({warn:g}) and "
            f"fail_classified_percent ({fail:g}) must satisfy 0 <= fail <= warn <= 100"
        )
    return limits


def coverage_verdicts(
    classification: pd.DataFrame, thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """PASS / WARN / FAIL / NA of each sample from its classified share, with the reasons.

    Parameters
    ----------
    classification : DataFrame indexed by sample ID
        The classification summary (:data:`SUMMARY_COLUMNS` but ``sample_id``).
    thresholds : mapping, optional
        ``warn_classified_percent`` (default 50) and ``fail_classified_percent`` (20): a
        sample with a lower classified percent warns or fails.

    Returns
    -------
    DataFrame indexed like ``classification`` with ``coverage_verdict``, ``coverage_reason``
    (empty for PASS), ``classified_percent`` and ``species_percent``.
    """
    limits = coverage_thresholds(thresholds)
    verdicts, reasons = [], []
    for _, row in classification.iterrows():
        percent, total = row["classified_percent"], row["reads_total"]
        if pd.notna(total) and total == 0:
            verdicts.append("FAIL")
            reasons.append("no reads were left to classify after QC and host removal")
            continue
        if pd.isna(percent):
            verdicts.append(NA)
            reasons.append("not available: the profiler did not report its unclassified reads")
            continue
        counted = (
            f"{row['reads_classified']:,.0f} of {total:,.0f}; "
            if pd.notna(row["reads_classified"]) and pd.notna(total)
            else ""
        )
        for verdict, key, suffix in (
            ("FAIL", "fail_classified_percent", ""),
            ("WARN", "warn_classified_percent", " well"),
        ):
            if percent < limits[key]:
                share = f"{_percent(percent, limits[key])} % of reads classified"
                verdicts.append(verdict)
                reasons.append(f"{share} ({counted}below {limits[key]:g} %): {NOT_COVERED}{suffix}")
                break
        else:
            verdicts.append("PASS")
            reasons.append("")
    return pd.DataFrame(
        {
            "coverage_verdict": verdicts,
            "coverage_reason": reasons,
            "classified_percent": classification["classified_percent"].astype(float),
            "species_percent": classification["species_percent"].astype(float),
        },
        index=classification.index,
    )


def _percent(value: float, below: float | None = None) -> str:
    """A percentage with one decimal, two significant digits below 1 (0.2, 0.035), and as many
    decimals as it takes to stay below ``below`` (49.99, not 50.0, below 50)."""
    if 0 < value < 1:
        return f"{value:.2g}"
    for digits in (1, 2, 3, 4):
        text = f"{value:.{digits}f}"
        if below is None or float(text) < below:
            return text
    return text


# --------------------------------------------------------------------------------------------
# The status table
# --------------------------------------------------------------------------------------------


def sample_status(
    *,
    qc: pd.DataFrame | None = None,
    classification: pd.DataFrame | None = None,
    samples: Iterable[str] | None = None,
    empty: Iterable[str] = (),
    qc_thresholds: Mapping[str, float],
    coverage: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The status of every sample: both verdicts, the classified shares, the exclusion.

    Parameters
    ----------
    qc : DataFrame indexed by sample ID, optional
        The QC summary (:func:`read_qc`); None when QC was not run (tables mode): every
        ``qc_verdict`` is then NA.
    classification : DataFrame indexed by sample ID, optional
        The classification summary (:func:`read_classification`); None when unknown: every
        ``coverage_verdict`` is then NA (unless the sample is empty, below).
    samples : iterable of str, optional
        Further samples to list (e.g. those of the taxa table), after those of ``qc`` and
        ``classification``.
    empty : iterable of str
        Samples with no reads at all in the taxa table: their coverage FAILs ("no reads in
        the taxa profile") unless it already does.
    qc_thresholds, coverage : mapping
        The ``report: qc:`` and ``report: coverage:`` settings.

    Returns
    -------
    DataFrame with the columns :data:`STATUS_COLUMNS` but ``sample_id``, indexed by sample ID
    (the union of the inputs' samples, in order of first appearance).
    """
    order: list[str] = []
    for source in (
        qc.index if qc is not None else (),
        classification.index if classification is not None else (),
        samples or (),
        empty,
    ):
        order += [str(s) for s in source]
    index = pd.Index(list(dict.fromkeys(order)), name="sample_id")
    out = pd.DataFrame(index=index)
    for prefix, verdicts, why in (
        (
            "qc",
            qc_verdicts(qc, qc_thresholds) if qc is not None else None,
            "QC was not run" if qc is None else "no QC record for this sample",
        ),
        (
            "coverage",
            coverage_verdicts(classification, coverage) if classification is not None else None,
            "the classified share of reads is unknown"
            if classification is None
            else "no classification record",
        ),
    ):
        verdict, reason = f"{prefix}_verdict", f"{prefix}_reason"
        verdicts = pd.DataFrame(columns=[verdict, reason]) if verdicts is None else verdicts
        verdicts = verdicts.reindex(index)
        missing = verdicts[verdict].isna()
        verdicts.loc[missing, [verdict, reason]] = [NA, f"not available: {why}"]
        out = out.join(verdicts)
    for column in ("classified_percent", "species_percent"):
        if column not in out:
            out[column] = np.nan
    out = mark_empty(out, empty)
    return with_exclusion(out)


def mark_empty(status: pd.DataFrame, empty: Iterable[str]) -> pd.DataFrame:
    """Coverage FAIL for samples with no reads in the taxa table (nothing left to report),
    unless their coverage already fails; the reason says what is known of their reads."""
    status = status.copy()
    for sample in empty:
        if sample not in status.index or status.at[sample, "coverage_verdict"] == "FAIL":
            continue
        known = status.at[sample, "coverage_reason"] if "coverage_reason" in status else ""
        why = "no reads in the taxa profile: no taxon reached the profiler's minimum read count"
        if status.at[sample, "coverage_verdict"] in ("PASS", "WARN"):
            percent = status.at[sample, "classified_percent"]
            why += f" ({_percent(percent)} % of reads classified)"
        elif known and not str(known).startswith("not available"):
            why += f" ({known})"
        status.at[sample, "coverage_verdict"] = "FAIL"
        status.at[sample, "coverage_reason"] = why
    return status


def with_exclusion(status: pd.DataFrame) -> pd.DataFrame:
    """``excluded`` (yes when either verdict is FAIL) and ``exclusion_reason`` (which verdict
    failed and why) from the verdict columns."""
    status = status.copy()
    excluded, reasons = [], []
    for _, row in status.iterrows():
        why = []
        if row["qc_verdict"] == "FAIL":
            why.append(f"sample quality failed: {row['qc_reason']}")
        if row["coverage_verdict"] == "FAIL":
            why.append(f"profiling coverage failed: {row['coverage_reason']}")
        excluded.append("yes" if why else "no")
        reasons.append("; ".join(why))
    status["excluded"] = excluded
    status["exclusion_reason"] = reasons
    return status[list(STATUS_COLUMNS[1:])]


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _indexed(table: pd.DataFrame, path: str, numeric: Iterable[str]) -> pd.DataFrame:
    duplicated = table["sample_id"][table["sample_id"].duplicated()]
    if len(duplicated):
        line = int(duplicated.index[0]) + 2
        raise InputError(f"duplicated sample ID {duplicated.iloc[0]!r}", file=path, line=line)
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(table[column]):
            bad = pd.to_numeric(table[column], errors="coerce").isna() & table[column].notna()
            line = int(bad.idxmax()) + 2 if bad.any() else None
            raise InputError(
                f"not a number: {table[column][bad].iloc[0]!r}" if bad.any() else "not numeric",
                file=path,
                line=line,
                column=column,
            )
    return table.set_index("sample_id")


def read_qc(path: str | os.PathLike) -> pd.DataFrame:
    """The merged QC table (``microbiome merge-qc``), indexed by sample ID."""
    path = os.fspath(path)
    return _indexed(read_tsv(path, QC_COLUMNS), path, QC_COLUMNS[1:])


def read_classification(path: str | os.PathLike) -> pd.DataFrame:
    """The classification summary (:data:`SUMMARY_COLUMNS`), indexed by sample ID.

    Percentages outside 0..100 and negative read counts are InputErrors naming the line.
    """
    path = os.fspath(path)
    table = _indexed(read_tsv(path, SUMMARY_COLUMNS), path, SUMMARY_COLUMNS[1:])
    for column in SUMMARY_COLUMNS[1:]:
        upper = 100 if column.endswith("_percent") else np.inf
        bad = table[column].notna() & ((table[column] < 0) | (table[column] > upper))
        if bad.any():
            sample = table.index[bad.to_numpy()][0]
            raise InputError(
                f"{table.at[sample, column]:g} is out of range"
                + (" (0..100)" if upper == 100 else " (negative)"),
                file=path,
                line=table.index.get_loc(sample) + 2,
                column=column,
            )
    return table


def read_status(path: str | os.PathLike) -> pd.DataFrame:
    """A status table (:func:`write_status`), indexed by sample ID, checked: verdicts of
    PASS/WARN/FAIL/NA and ``excluded`` of yes/no."""
    path = os.fspath(path)
    table = read_tsv(path, STATUS_COLUMNS)
    for column in ("qc_reason", "coverage_reason", "exclusion_reason"):
        table[column] = table[column].astype(object).fillna("").astype(str)
    allowed = {
        "qc_verdict": (*VERDICTS, NA),
        "coverage_verdict": (*VERDICTS, NA),
        "excluded": ("yes", "no"),
    }
    # NA verdicts are read as missing values: they are NA again
    for column in ("qc_verdict", "coverage_verdict"):
        table[column] = table[column].astype(object).fillna(NA).astype(str)
    for column, values in allowed.items():
        bad = ~table[column].astype(str).isin(values)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{table[column].iloc[row]!r} is not one of {', '.join(values)}",
                file=path,
                line=row + 2,
                column=column,
            )
    return _indexed(table, path, ("classified_percent", "species_percent"))


#: How diversity's excluded.tsv and integrate's join report name a sample the status excluded.
EXCLUDED_NOTE = "excluded by the sample status"


def read_exclusions(path: str | os.PathLike) -> dict[str, str]:
    """Sample ID -> reason, for every sample of a status table with ``excluded == yes``, in the
    table's order: what diversity and integrate leave out (``--exclude``), after
    :data:`EXCLUDED_NOTE`. A sample the table does not list is kept."""
    status = read_status(path)
    excluded = status.loc[status["excluded"] == "yes", "exclusion_reason"]
    return {sample: reason or "no reason given" for sample, reason in excluded.items()}


def left_out(
    samples: Iterable[str], exclude: Mapping[str, str] | None, *, file: str | None = None
) -> list[str]:
    """The samples of ``samples`` that ``exclude`` (:func:`read_exclusions`) leaves out, said
    once in the log with their reasons.

    Raises
    ------
    InputError
        Naming ``file`` (the table whose samples these are) when every sample is left out.
    """
    samples = [str(s) for s in samples]
    exclude = exclude or {}
    out = [s for s in samples if s in exclude]
    if not out:
        return []
    if len(out) == len(samples):
        raise InputError(
            f"every sample is {EXCLUDED_NOTE} (--exclude: excluded = yes for all of them):"
            " nothing to analyse; see the status table's exclusion_reason column",
            file=file,
        )
    log.warning(
        "%d samples %s, left out of every analysis: %s",
        len(out),
        EXCLUDED_NOTE,
        "; ".join(f"{s} ({exclude[s]})" for s in out),
    )
    return out


def write_status(status: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a status table (index: sample ID) atomically as TSV, missing numbers as NA."""
    table = status[list(STATUS_COLUMNS[1:])].copy()
    table.index.name = "sample_id"
    write_text_atomic(path, table.to_csv(sep="\t", na_rep="NA", float_format="%.4g"))


def classification_from_taxa(table: FeatureTable) -> pd.DataFrame | None:
    """A classification summary (:data:`SUMMARY_COLUMNS` but ``sample_id``) derived from a
    taxa table's unclassified entry, for when the classifier's own summary is not at hand;
    None when the table has no such entry.

    ``classified_percent`` is then the share of reads in the table's taxa (at its rank), which
    is at most the share classified at any rank: a conservative figure. Read counts are known
    for a counts table only; the species share is not known.
    """
    if table.unclassified is None:
        return None
    classified = table.data.sum(axis=1)
    total = classified + table.unclassified.reindex(classified.index).fillna(0.0)
    percent = (100.0 * classified / total.where(total > 0)).astype(float)
    counts = not table.relative
    return pd.DataFrame(
        {
            "reads_total": total if counts else np.nan,
            "reads_classified": classified if counts else np.nan,
            "classified_percent": percent,
            "reads_species": np.nan,
            "species_percent": np.nan,
        },
        index=classified.index,
    )


def log_status(status: pd.DataFrame) -> None:
    """Say in the log how many samples each verdict has and which are excluded, and why."""
    for column, label in (("qc_verdict", "sample quality"), ("coverage_verdict", "coverage")):
        counts = status[column].value_counts()
        log.info(
            "%s: %s",
            label,
            ", ".join(f"{counts.get(v, 0)} {v}" for v in (*VERDICTS, NA) if counts.get(v, 0)),
        )
    for sample, row in status[status["excluded"] == "yes"].iterrows():
        log.warning("sample %s is excluded: %s", sample, row["exclusion_reason"])
