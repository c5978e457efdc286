# Input functions of the sample-status rule (rules/status.smk).


def sample_status_inputs(wildcards):
    """Whatever exists of the QC summary, the classification summary (merge-profiles, or in
    tables mode the import of profiler outputs) and the taxa table."""
    inputs = {}
    if not TABLES_MODE:
        inputs["qc"] = "results/qc/qc_summary.tsv"
    if TABLES_MODE or config["profile"]["activate"]:
        inputs["taxa"] = taxa_table("species")
        if not TABLES_MODE or config["tables"]["profiler_outputs"]:
            inputs["classification"] = "results/tables/classification_summary.tsv"
    return inputs


def sample_status_settings():
    """The settings `microbiome sample-status` reads: the verdicts' limits (report.qc and
    report.coverage), not the rest of the report section, whose changes must not rerun it.
    """
    return {"report": {k: config["report"][k] for k in ("qc", "coverage")}}


def sample_status_flags(wildcards, input):
    """--qc, --classification and --taxa of the inputs present."""
    return " ".join(
        shell_flag(f"--{name}", getattr(input, name))
        for name in ("qc", "classification", "taxa")
        if hasattr(input, name)
    )
