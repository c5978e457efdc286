"""HTML from jinja2 templates (autoescaped), PDF from the same HTML with WeasyPrint, and the
tables and MultiQC content that go with the reports."""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import astuple
from pathlib import Path

import jinja2
import pandas as pd

from microbiome import __version__
from microbiome.errors import ConfigError
from microbiome.io.atomic import atomic_path, write_text_atomic
from microbiome.io.multiqc import custom_content
from microbiome.progress import track
from microbiome.report.cohort import Cohort, file_stem
from microbiome.report.cohort_report import cohort_context
from microbiome.report.patient_report import patient_context
from microbiome.reproducible import pinned_clock, source_date
from microbiome.status import STATUS_COLUMNS

log = logging.getLogger("microbiome")

#: Columns of ``indices.tsv``, one row per sample of the taxa table.
INDEX_COLUMNS = (
    "patient_id",
    "time",
    *STATUS_COLUMNS[1:],
    "gmhi",
    "gmhi_mh_present",
    "gmhi_mn_present",
    "gmhi_percentile",
    "dysbiosis_score",
    "dysbiotic",
    "dysbiosis_score_percentile",
    "diversity",
    "diversity_percentile",
)


def environment() -> jinja2.Environment:
    """The templates' environment: every ``{{ value }}`` is HTML-escaped."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("microbiome.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, context: dict, date: datetime.datetime) -> str:
    """The report ``template`` filled with ``context``; ``date`` (see
    :func:`microbiome.reproducible.source_date`) is the date it shows and its metadata's."""
    return (
        environment()
        .get_template(template)
        .render(
            **context,
            version=__version__,
            date=date.strftime("%Y-%m-%d"),
            created=date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    )


def write_pdf(html: str, path: str | os.PathLike, date: datetime.datetime) -> None:
    """Write ``html`` as an A4 PDF. Only ``data:`` URIs are fetched: nothing leaves the machine.

    ``date`` stands in for the clock wherever a library would read it (the timestamps of the
    embedded font subsets), so the same HTML gives the same bytes; the PDF's creation date is
    the HTML's ``dcterms.created``.

    Raises ConfigError with one line when WeasyPrint or its Pango libraries cannot be loaded.
    """
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except (ImportError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            "PDF reports need WeasyPrint and the Pango library (Debian: libpango-1.0-0 "
            f"libpangoft2-1.0-0); it cannot be loaded ({first}). Use --no-pdf to skip PDFs"
        ) from None
    fetcher = URLFetcher(allowed_protocols=("data",))
    with atomic_path(path) as tmp, pinned_clock(date):
        HTML(string=html, url_fetcher=fetcher, base_url=None).write_pdf(tmp)


def indices_table(cohort: Cohort) -> pd.DataFrame:
    columns = [c for c in INDEX_COLUMNS if c in cohort.indices.columns]
    table = cohort.indices[columns].copy()
    table.index.name = "sample_id"
    return table


def write_indices(cohort: Cohort, path: str | os.PathLike) -> None:
    """Per-sample verdicts and indices as TSV (indices NA where a sample is excluded)."""
    table = indices_table(cohort)
    write_text_atomic(path, table.to_csv(sep="\t", na_rep="NA", float_format="%.6g"))


def multiqc_indices(cohort: Cohort) -> str:
    """MultiQC custom content: each sample's health indices in the General Statistics table."""
    table = indices_table(cohort)
    columns = {
        "gmhi": {
            "title": "GMHI",
            "description": "Gut Microbiome Health Index (Gupta 2020)",
            "format": "{:,.2f}",
        },
        "dysbiosis_score": {
            "title": "Dysbiosis",
            "description": "Median Bray-Curtis dissimilarity to the reference group",
            "min": 0,
            "max": 1,
            "format": "{:,.2f}",
        },
        "diversity": {
            "title": "Diversity",
            "description": cohort.settings["diversity_metric"],
            "format": "{:,.2f}",
        },
    }
    columns = {k: v for k, v in columns.items() if k in table.columns}
    return custom_content(
        {
            "id": "microbiome_report",
            "section_name": "microbiome report",
            "plot_type": "generalstats",
            "pconfig": columns,
        },
        table[list(columns)].round(4),
    )


def write_reports(
    cohort: Cohort,
    outdir: str | os.PathLike,
    *,
    patients: list[str] | None = None,
    cohort_report: bool = True,
    pdf: bool = True,
) -> list[Path]:
    """Write the cohort report (``cohort.html``, ``indices.tsv``, MultiQC content) and the
    patient reports (``patients/<patient>.html`` and ``.pdf``) into ``outdir``.

    ``patients``: IDs (or report file names) to write; None for every patient. The reports'
    date is ``SOURCE_DATE_EPOCH``'s, else the newest modification time of the cohort's inputs
    (:func:`microbiome.reproducible.source_date`): the same inputs give the same bytes.
    Returns the files written.
    """
    outdir = Path(outdir)
    written = []
    date = source_date(astuple(cohort.inputs))
    if cohort_report:
        html = render("cohort.html.j2", cohort_context(cohort), date)
        write_text_atomic(outdir / "cohort.html", html)
        write_indices(cohort, outdir / "indices.tsv")
        write_text_atomic(outdir / "microbiome_report_mqc.tsv", multiqc_indices(cohort))
        written += [outdir / "cohort.html", outdir / "indices.tsv"]
    chosen = cohort.all_patients if patients is None else [cohort.find_patient(p) for p in patients]
    stems = {}
    for patient in cohort.all_patients:
        stem = file_stem(patient)
        if stem in stems and stems[stem] != patient:
            raise ConfigError(
                f"patients {stems[stem]!r} and {patient!r} would get the same report file "
                f"name {stem!r}: make the IDs differ in letters, digits, '.', '_' or '-'"
            )
        stems[stem] = patient
    for patient in track(chosen, "report", total=len(chosen), unit="patients"):
        stem = file_stem(patient)
        html = render("patient.html.j2", patient_context(cohort, patient), date)
        target = outdir / "patients" / f"{stem}.html"
        write_text_atomic(target, html)
        written.append(target)
        if pdf:
            write_pdf(html, target.with_suffix(".pdf"), date)
            written.append(target.with_suffix(".pdf"))
        log.info("report of patient %s: %s", patient, target)
    return written
