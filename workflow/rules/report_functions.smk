# Input functions of the report rules (rules/report.smk).


def report_metadata_sheet():
    """The sheet that maps samples to patients: the metadata table, else the sample sheet when
    every sample has a patient_id, else none (each sample is its own patient)."""
    if config["metadata"]["table"]:
        return config["metadata"]["table"]
    if not TABLES_MODE and (SAMPLES["patient_id"] != "").all():
        return config["samples"]
    return None


def report_metadata():
    """The metadata of the report's patients (None without a sheet), checked at
    start-up with the reference group's variable, so that a wrong setting stops the
    run before it starts."""
    from microbiome.report.cohort import read_cohort_metadata

    sheet = report_metadata_sheet()
    if not sheet:
        return None
    try:
        metadata = read_cohort_metadata(sheet, config)
    except MicrobiomeError as exc:
        raise WorkflowError(f"report: {exc}") from None
    variable = config["report"]["reference"]["variable"]
    # a clinical sheet without it is a mistake; the sample sheet in its place never has it
    clinical = bool(config["metadata"]["table"])
    if clinical and variable and variable not in metadata.table.columns:
        raise WorkflowError(
            f"report.reference.variable: {variable!r} is not a column of {sheet} (columns:"
            f" {', '.join(metadata.table.columns)}); set it to one, or to '' for the whole cohort"
        )
    return metadata


def report_patients():
    """The report file names of the patients: of the sample sheet's samples, or in tables mode
    every patient of the metadata."""
    from microbiome.report.cohort import file_stem, patients_of

    metadata = report_metadata()
    if TABLES_MODE:
        patients = metadata.table["patient_id"] if metadata is not None else []
    else:
        patients = patients_of(list(SAMPLES.index), metadata)
    return sorted({file_stem(p) for p in patients})


def report_inputs(wildcards):
    """Every file the reports read; the diversity and integrate folders through their
    parameters.json, which each stage writes last. The taxa are the species table (the GMHI
    needs species; the report collapses it to the ranks it shows)."""
    inputs = {"taxa": taxa_table("species")}
    if not TABLES_MODE:
        inputs["qc"] = "results/qc/qc_summary.tsv"
        if config["profile"]["profiler"] == "microbiome":
            inputs["database"] = profile_db()
    if report_metadata_sheet():
        inputs["metadata"] = report_metadata_sheet()
    if diversity_active():
        inputs["diversity"] = "results/diversity/parameters.json"
    if integrate_runs():
        inputs["integrate"] = "results/integrate/parameters.json"
    # The metabolite tables of the integrate section, even when that stage is off.
    for name in ("metabolites", "metabolite_annotation"):
        if config["integrate"][name]:
            inputs[name] = config["integrate"][name]
    return inputs


def report_flags(wildcards, input):
    """The command-line flags of the inputs present."""
    flags = [f"--taxa {input.taxa!r}"]
    for name in ("qc", "metadata", "database", "metabolites", "metabolite_annotation"):
        if hasattr(input, name):
            flags.append(f"--{name.replace('_', '-')} {getattr(input, name)!r}")
    for name in ("diversity", "integrate"):
        if hasattr(input, name):
            flags.append(f"--{name} {os.path.dirname(getattr(input, name))!r}")
    return " ".join(flags)


def report_outputs():
    """The cohort report and every patient's report."""
    outputs = ["results/report/cohort.html", "results/report/indices.tsv"]
    kinds = ("html", "pdf") if config["report"]["pdf"] else ("html",)
    outputs += expand(
        "results/report/patients/{patient}.{kind}",
        patient=report_patients(),
        kind=kinds,
    )
    return outputs


def report_patient_outputs():
    outputs = {
        "html": report(
            "results/report/patients/{patient}.html",
            caption="../report/report_patient.rst",
            category="Reports",
            subcategory="Patients",
            labels={"patient": "{patient}", "format": "HTML"},
        )
    }
    if config["report"]["pdf"]:
        outputs["pdf"] = report(
            "results/report/patients/{patient}.pdf",
            caption="../report/report_patient.rst",
            category="Reports",
            subcategory="Patients",
            labels={"patient": "{patient}", "format": "PDF"},
        )
    return outputs
