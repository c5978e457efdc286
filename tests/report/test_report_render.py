"""`microbiome report` on a contract-shaped cohort: sections present or replaced by a plain note,
escaping, nothing external, PDF pages and a browser screenshot that are not blank."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from report_cohort import SAMPLES, SCRIPT, cohort_files, report_args, reports, write_cohort

from microbiome.cli.main import main

__all__ = ["cohort_files", "reports"]  # fixtures used by the tests below

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SCRIPT_STEM = "patient__script_alert_1___script_"


def html_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.html"))


def ink(png: Path) -> float:
    """Share of pixels of an image that are not (near) white."""
    pixels = np.asarray(Image.open(png).convert("L"))
    return float((pixels < 230).mean())


def pdf_text(pdf: Path, *pages: int) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian poppler-utils) is not installed")
    first_last = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    out = subprocess.run(
        ["pdftotext", "-layout", *first_last, str(pdf), "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout


def test_every_report_is_written(reports):
    patients = {s[1] for s in SAMPLES}
    assert (reports / "cohort.html").is_file() and (reports / "indices.tsv").is_file()
    for stem in {"P1", "P2", "P3", "P4", SCRIPT_STEM}:
        assert (reports / "patients" / f"{stem}.html").is_file(), stem
        assert (reports / "patients" / f"{stem}.pdf").is_file(), stem
    assert len(list((reports / "patients").glob("*.pdf"))) == len(patients)


def test_cohort_report_has_every_section_when_its_inputs_exist(reports):
    html = (reports / "cohort.html").read_text()
    headings = ("Samples, quality and profiling coverage", "Composition", "Alpha diversity",
                "PERMANOVA", "PERMDISP (dispersion)", "Associations with clinical variables",
                "Microbe-metabolite correlations", "Biomarker model performance",
                "Methods")  # fmt: skip
    for heading in headings:
        assert f"<h2>{heading}</h2>" in html or f"<h3>{heading}</h3>" in html, heading
    assert "3.21" in html and "0.314" in html  # pseudo-F and R2 of permanova.tsv
    # how it was tested, beside the p-value: q, the restricted permutations and their warning
    for shown in ("0.024", "patients as blocks", "relative abundances", "only 6 distinct"):
        assert shown in html, shown
    # the diversity figures of the reference variable (and the report's alpha metric)
    for caption in ("pcoa braycurtis diagnosis", "alpha shannon ln diagnosis", "rarefaction"):
        assert f"<figcaption>{caption}</figcaption>" in html, caption
    assert "pcoa braycurtis sex" not in html and "alpha observed diagnosis" not in html
    assert "0.81" in html and "l1 logistic" in html  # the chosen model and its AUROC
    # taxid features with the names the integrate stage gives them
    assert "<td>Klebsiella pneumoniae (573)</td>" in html
    assert "<td>Escherichia coli (562)</td>" in html and "<td>butyrate</td>" in html
    assert "was not run" not in html
    # methods from what ran: versions, parameters.json of both stages, the config
    assert "microbiome" in html and "matplotlib" in html
    assert "Parameters of diversity" in html and "Parameters of integrate" in html
    assert "reference.variable" in html


def test_missing_stages_become_plain_notes(tmp_path):
    files = write_cohort(tmp_path / "in", diversity=False, integrate=False)
    out = tmp_path / "out"
    assert main(report_args(files, out, "--no-pdf", "--patient", "P1")) == 0
    cohort = (out / "cohort.html").read_text()
    assert "Diversity was not run" in cohort and "Integrate was not run" in cohort
    assert "<h3>PERMANOVA</h3>" not in cohort
    assert "<h3>Biomarker model performance</h3>" not in cohort
    patient = (out / "patients" / "P1.html").read_text()
    assert "diversity was not run" in patient and "integrate was not run" in patient
    assert not (out / "patients" / "P1.pdf").exists()
    assert not (out / "patients" / "P2.html").exists()
    # a stage folder given but empty: the same note, naming the folder
    (tmp_path / "empty").mkdir()
    out2 = tmp_path / "out2"
    args = report_args(files, out2, "--no-patients", "--diversity", str(tmp_path / "empty"))
    assert main(args) == 0
    assert "Diversity was not run (no results in" in (out2 / "cohort.html").read_text()


def test_metadata_is_escaped_in_html(reports):
    for path in html_files(reports):
        assert SCRIPT not in path.read_text(), path
    patient = (reports / "patients" / f"{SCRIPT_STEM}.html").read_text()
    assert f"patient {ESCAPED}" in patient
    assert ESCAPED in (reports / "cohort.html").read_text()
    # indices.tsv keeps the IDs as given
    indices = pd.read_csv(reports / "indices.tsv", sep="\t", index_col=0)
    assert indices.loc["S9" + SCRIPT, "patient_id"] == SCRIPT


def test_metadata_is_text_in_pdf(reports):
    text = pdf_text(reports / "patients" / f"{SCRIPT_STEM}.pdf", 1)
    assert f"patient {SCRIPT}" in text


def test_reports_are_offline(reports):
    for path in html_files(reports):
        html = path.read_text()
        assert "http://" not in html and "https://" not in html, path
        assert "<script" not in html.lower(), path  # no scripts at all, inline or external
        assert "@import" not in html and "url(" not in html, path
        # embedded figures: data URIs whose SVGs reference nothing outside themselves
        uris = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
        assert uris, path
        for uri in uris:
            svg = base64.b64decode(uri).decode()
            assert not re.search(r'(xlink:)?href="(?!#)', svg), path
        srcs = re.findall(r'src="([^"]+)"', html)
        assert all(s.startswith("data:") for s in srcs), path


def test_research_use_statement_is_on_page_one(reports):
    text = pdf_text(reports / "patients" / "P1.pdf", 1)
    assert "RESEARCH USE ONLY" in text and "not a diagnosis" in text
    assert "Summary" in text and "Gut Microbiome" in text


def test_pdf_pages_are_not_blank(reports, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian poppler-utils) is not installed")
    for stem, minimum in (("P1", 5), ("P4", 5), (SCRIPT_STEM, 4)):
        prefix = tmp_path / stem
        subprocess.run(
            ["pdftoppm", "-r", "30", "-png", str(reports / "patients" / f"{stem}.pdf"),
             str(prefix)], check=True)  # fmt: skip
        pages = sorted(tmp_path.glob(f"{stem}-*.png"))
        assert len(pages) >= minimum, (stem, len(pages))
        for page in pages:
            assert ink(page) > 0.005, page


def test_chromium_screenshot_is_not_blank(reports, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian package chromium)")
    for name in ("cohort.html", "patients/P1.html"):
        png = tmp_path / (Path(name).stem + ".png")
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1400",
             f"--screenshot={png}", (reports / name).as_uri()],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
        assert png.is_file() and ink(png) > 0.02, name


def test_failed_sample_hides_its_indices(reports):
    indices = pd.read_csv(reports / "indices.tsv", sep="\t", index_col=0)
    assert indices.loc["S7", "qc_verdict"] == "FAIL"
    assert "20,000 clean reads (minimum 100,000)" in indices.loc["S7", "qc_reason"]
    assert indices.loc["S7", ["gmhi", "dysbiosis_score", "diversity"]].isna().all()
    assert indices.loc["S8", ["gmhi", "dysbiosis_score", "diversity"]].notna().all()
    assert indices.loc["S5", "qc_verdict"] == "WARN"
    html = (reports / "patients" / "P4.html").read_text()
    row = re.search(r"<tr><td>S7</td>.*?</tr>", html, re.S)[0]
    assert "FAIL" in row and "–" in row
    assert "are left out: S7 (sample quality failed: 20,000 clean reads (minimum" in html


def test_patient_summary_numbers_match_the_indices(reports, cohort_files):
    indices = pd.read_csv(reports / "indices.tsv", sep="\t", index_col=0)
    html = (reports / "patients" / "P1.html").read_text()
    latest = indices.loc["S3"]
    assert f">{latest['gmhi']:.2f}<" in html
    assert f">{latest['dysbiosis_score']:.2f}<" in html
    # responder probability of the latest sample, with the model's AUROC; research use
    predictions = pd.read_csv(cohort_files["integrate"] / "biomarkers/predictions.tsv", sep="\t")
    p = predictions.set_index("sample_id").loc["S3", "probability"]
    assert f"{p:.2f}" in html and "AUROC is 0.81" in html and "research use" in html
    assert "<td>responder</td>" in html  # observed outcome 1 named by model.json's class
    # diversity percentile against the reference group (the controls S1-S5)
    alpha = pd.read_csv(cohort_files["diversity"] / "alpha.tsv", sep="\t", index_col=0)
    ref = alpha.loc[["S1", "S2", "S3", "S4", "S5"], "shannon_ln"]
    value = alpha.loc["S3", "shannon_ln"]
    pct = 100 * ((ref < value).sum() + 0.5 * (ref == value).sum()) / len(ref)
    assert latest["diversity_percentile"] == pytest.approx(pct)


def test_taxa_against_the_cohort_median(reports, cohort_files):
    counts = pd.read_csv(cohort_files["taxa"], sep="\t", index_col=1).drop(
        columns=["taxid", "lineage"]
    )
    props = counts / counts.sum()
    usable = [s for s in props.columns if s != "S7"]  # S7 failed QC
    html = (reports / "patients" / "P1.html").read_text()
    top = props["S3"].sort_values(ascending=False).index[0]
    median = 100 * props.loc[top, usable].median()
    row = re.search(rf"<tr><td><i>{top}</i></td>.*?</tr>", html, re.S)[0]
    shown = f"{median:.1f} %" if median >= 1 else f"{median:.2g} %"
    assert shown in row, (row, shown)


def test_change_since_the_first_sample(reports, cohort_files):
    counts = pd.read_csv(cohort_files["taxa"], sep="\t", index_col=1).drop(
        columns=["taxid", "lineage"]
    )
    p = counts / counts.sum()
    bray_curtis = (p["S1"] - p["S3"]).abs().sum() / (p["S1"] + p["S3"]).sum()
    html = (reports / "patients" / "P1.html").read_text()
    assert "From sample S1 (time point 0) to sample S3 (time point 2)" in html
    assert f"Bray-Curtis dissimilarity between the two: {bray_curtis:.2f}" in html
    single = (reports / "patients" / "P3.html").read_text()
    assert "Only one usable sample" in single


def test_metabolite_highlights_against_the_cohort(reports, cohort_files):
    table = pd.read_csv(cohort_files["metabolites"], sep="\t", index_col=0)
    html = (reports / "patients" / "P1.html").read_text()
    assert "Short-chain fatty acids" in html and "Bile acids" in html
    assert "tryptophan" not in html  # not in a highlighted group
    values = table["butyrate"]
    row = re.search(r"<tr><td>butyrate</td>.*?</tr>", html, re.S)[0]
    assert f"{values.median():.3f}".rstrip("0") in row


def test_notable_taxa_with_references(reports):
    html = (reports / "patients" / "P3.html").read_text()
    assert "Klebsiella pneumoniae" in html and "Atarashi K et al. (2017)" in html
    assert "pathobiont" in html and "Faecalibacterium prausnitzii" in html


def test_multiqc_content_matches_the_indices(reports):
    text = (reports / "microbiome_report_mqc.tsv").read_text()
    header = yaml.safe_load(
        "\n".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    )
    assert header["plot_type"] == "generalstats" and "gmhi" in header["pconfig"]
    body = pd.read_csv(reports / "microbiome_report_mqc.tsv", sep="\t", comment="#", index_col=0)
    indices = pd.read_csv(reports / "indices.tsv", sep="\t", index_col=0)
    np.testing.assert_allclose(body["gmhi"], indices.loc[body.index, "gmhi"], atol=1e-4)


def test_bad_inputs_are_one_line_errors(cohort_files, tmp_path, capsys):
    qc = pd.read_csv(cohort_files["qc"], sep="\t").drop(columns="host_read_percent")
    bad_qc = tmp_path / "qc.tsv"
    qc.to_csv(bad_qc, sep="\t", index=False)
    files = dict(cohort_files, qc=bad_qc)
    assert main(report_args(files, tmp_path / "o1")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad_qc) in err[0] and "host_read_percent" in err[0], err
    config = tmp_path / "c.yaml"
    config.write_text("report:\n  reference: {variable: smoking, levels: [never]}\n")
    assert (
        main(report_args(dict(cohort_files, config=config), tmp_path / "o2", "--no-patients")) == 0
    )
    err = capsys.readouterr().err
    assert "'smoking' is not a column" in err  # a warning, and a note in the report:
    assert "the whole cohort is the reference" in (tmp_path / "o2" / "cohort.html").read_text()
    assert main(report_args(cohort_files, tmp_path / "o3", "--patient", "P9")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'P9'" in err[0], err


def test_missing_weasyprint_is_a_one_line_error(cohort_files, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as without the library
    assert main(report_args(cohort_files, tmp_path / "o", "--no-cohort", "--patient", "P3")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "WeasyPrint" in err[0] and "--no-pdf" in err[0], err
    assert not (tmp_path / "o" / "patients" / "P3.pdf").exists()


def test_tables_without_species_or_qc_still_give_reports(cohort_files, tmp_path):
    """A genus-level table (e.g. from another profiler) and no QC: the reports say so and use
    what there is."""
    counts = pd.read_csv(cohort_files["taxa"], sep="\t")
    counts["lineage"] = counts["lineage"].str.replace(r";s__.*$", "", regex=True)
    counts["name"] = counts["lineage"].str.extract(r"g__([^;]+)$")[0]
    genus = tmp_path / "genus.tsv"
    counts.to_csv(genus, sep="\t", index=False)
    out = tmp_path / "out"
    args = ["report", "--taxa", str(genus), "--metadata", str(cohort_files["metadata"]),
            "--config", str(cohort_files["config"]), "--no-pdf", "--patient", "P1",
            "-o", str(out)]  # fmt: skip
    assert main(args) == 0
    cohort = (out / "cohort.html").read_text()
    assert "the taxa table does not reach species: genus is shown instead" in cohort
    assert "the GMHI cannot be computed" in cohort and "QC was not run" in cohort
    patient = (out / "patients" / "P1.html").read_text()
    # tables mode: sample quality is not available, never a WARN "QC was not run"
    assert "Not available: QC was not run." in patient
    assert re.search(
        r'data-line="quality".*?<span class="badge NA">not available</span>', patient, re.S
    )
    assert "WARN: QC was not run" not in patient and "quality is unknown" not in patient
    assert "<i>Faecalibacterium</i>" in patient  # main taxa at genus


def test_patient_only_in_the_metadata_gets_a_report_saying_so(cohort_files, tmp_path):
    meta = pd.read_csv(cohort_files["metadata"], sep="\t")
    extra = pd.DataFrame([["S99", "P9", 0, "Case", "responder"]], columns=meta.columns)
    sheet = tmp_path / "clinical.tsv"
    pd.concat([meta, extra]).to_csv(sheet, sep="\t", index=False)
    out = tmp_path / "out"
    files = dict(cohort_files, metadata=sheet)
    assert main(report_args(files, out, "--no-cohort", "--no-pdf", "--patient", "P9")) == 0
    html = (out / "patients" / "P9.html").read_text()
    assert "none of the patient&#39;s samples is in the taxa table" in html


def test_sample_sheet_maps_samples_to_patients_without_metadata(cohort_files, tmp_path):
    sheet = tmp_path / "samples.tsv"
    rows = [  # S9's ID is not a valid sample-sheet ID: it stays its own patient
        f"{s[0]}\t{s[1] if s[1] != 'P2' else ''}\t{s[0]}_1.fq\t{s[0]}_2.fq" for s in SAMPLES[:8]
    ]
    sheet.write_text("sample_id\tpatient_id\tfastq_1\tfastq_2\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out"
    args = ["report", "--taxa", str(cohort_files["taxa"]), "--samples", str(sheet),
            "--no-pdf", "-o", str(out)]  # fmt: skip
    assert main(args) == 0
    p1 = (out / "patients" / "P1.html").read_text()
    assert all(f"<tr><td>{s}</td>" in p1 for s in ("S1", "S2", "S3"))
    # without a patient ID, a sample is its own patient
    assert (out / "patients" / "S4.html").is_file() and (out / "patients" / "S5.html").is_file()


def pdf_info(pdf: Path) -> str:
    """The PDF's uncompressed text and its deflated streams (where WeasyPrint puts the document
    information dictionary), as one string."""
    data = pdf.read_bytes()
    parts = [data.decode("latin-1")]
    for stream in re.findall(rb"/FlateDecode.*?>>\nstream\n(.*?)\nendstream", data, re.S):
        try:
            parts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(parts)


def test_the_same_inputs_give_the_same_report_bytes_whatever_the_clock(tmp_path, monkeypatch):
    """A rerun days later (a resumed workflow) rewrites a patient's HTML and PDF byte for byte,
    and neither carries the clock's date: inputs dated 2020 give a PDF dated 2020 (WeasyPrint
    and fontTools would stamp today's)."""
    files = write_cohort(tmp_path / "cohort")
    for path in files.values():
        for f in [path, *path.rglob("*")]:
            os.utime(f, (1_600_000_000, 1_600_000_000))  # 2020-09-13 12:26:40
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    args = ("--patient", "P1", "--no-cohort")
    assert main(report_args(files, tmp_path / "first", *args)) == 0
    later = time.time() + 3 * 86400 + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert main(report_args(files, tmp_path / "second", *args)) == 0
    for name in ("P1.html", "P1.pdf"):
        first = (tmp_path / "first" / "patients" / name).read_bytes()
        assert (tmp_path / "second" / "patients" / name).read_bytes() == first, name
    assert "/CreationDate (D:20200913122640" in pdf_info(tmp_path / "first" / "patients" / "P1.pdf")


def test_reports_are_dated_by_source_date_epoch_else_by_their_newest_input(
    tmp_path, monkeypatch, capsys
):
    files = write_cohort(tmp_path / "cohort")  # a copy of its own, whose dates are set here
    for path in files.values():
        for f in [path, *path.rglob("*")]:
            os.utime(f, (1_500_000_000, 1_500_000_000))
    os.utime(files["qc"], (1_600_000_000, 1_600_000_000))  # the newest: 2020-09-13 12:26:40
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    for epoch, day, stamp in (
        (None, "2020-09-13", "20200913122640"),
        ("1700000000", "2023-11-14", "20231114221320"),
    ):
        if epoch:
            monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        out = tmp_path / f"out{epoch}"
        assert main(report_args(files, out, "--patient", "P1")) == 0
        for html in (out / "cohort.html", out / "patients" / "P1.html"):
            assert f"dated {day}," in html.read_text(), html
        assert f"/CreationDate (D:{stamp}" in pdf_info(out / "patients" / "P1.pdf")

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    capsys.readouterr()
    assert main(report_args(files, tmp_path / "bad", "--patient", "P1")) == 2
    err = capsys.readouterr().err
    assert err.startswith("microbiome: error: SOURCE_DATE_EPOCH must be") and err.count("\n") == 1
    assert not list((tmp_path / "bad").rglob("*.*"))


def test_patient_reports_show_progress_with_the_option_only(cohort_files, tmp_path, capsys):
    args = report_args(cohort_files, tmp_path / "out", "--no-pdf", "--no-cohort")
    assert main(args) == 0
    assert "progress:" not in capsys.readouterr().err
    assert main([*args, "--progress"]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "progress:" in x]
    assert lines[0].startswith("microbiome: progress: report: 0/")
    assert "patients (100 %)" in lines[-1] and lines[-1].endswith(", done")
