# Input functions of the report rules (rules/report.smk).


def report_metadata():
    """The clinical sheet of the report's patients (None without one), read and checked at
    start-up (common.smk), with the report's reference variable."""
    return CHECKED.metadata


def report_patients():
    """The report file names of the patients: of the sample sheet's samples (by the
    clinical sheet, else by the sample sheet's patient_id), or in tables mode every
    patient of the clinical sheet."""
    from microbiome.report.cohort import file_stem, patients_of

    metadata = report_metadata()
    if TABLES_MODE:
        patients = metadata.table["patient_id"] if metadata is not None else []
    elif metadata is not None:
        patients = patients_of(list(SAMPLES.index), metadata.table["patient_id"])
    else:
        patients = patients_of(list(SAMPLES.index), SAMPLES["patient_id"])
    return sorted({file_stem(p) for p in patients})


def report_inputs(wildcards):
    """Every file the reports read; the diversity and integrate folders through their
    parameters.json, which each stage writes last. The taxa are the species table (the GMHI
    needs species; the report collapses it to the ranks it shows)."""
    inputs = {
        "taxa": taxa_table("species"),
        "status": "results/tables/sample_status.tsv",
    }
    if not TABLES_MODE:
        inputs["qc"] = "results/qc/qc_summary.tsv"
        if config["profile"]["profiler"] == "microbiome":
            inputs["database"] = profile_db()
    if config["metadata"]["table"]:
        inputs["metadata"] = config["metadata"]["table"]
    elif not TABLES_MODE:
        inputs["samples"] = config["samples"]  # its patient_id column
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
    flags = [shell_flag("--taxa", input.taxa)]
    for name in (
        "qc",
        "status",
        "metadata",
        "samples",
        "database",
        "metabolites",
        "metabolite_annotation",
    ):
        if hasattr(input, name):
            flags.append(
                shell_flag(f"--{name.replace('_', '-')}", getattr(input, name))
            )
    for name in ("diversity", "integrate"):
        if hasattr(input, name):
            flags.append(shell_flag(f"--{name}", os.path.dirname(getattr(input, name))))
    return " ".join(flags)


def report_settings():
    """The config sections the reports read and list in their methods, without resources."""
    from microbiome.report.cohort import CONFIG_SECTIONS

    return {section: science(config[section]) for section in CONFIG_SECTIONS}


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
