# Input functions of the sample-status rule (rules/status.smk).

#: The classification summary of the profiling step (results/tables/classification_summary.tsv,
#: written by merge-profiles, or in tables mode by the import of profiler outputs that report
#: unclassified reads). Switch on once those rules declare it as an output.
CLASSIFICATION_SUMMARY = False


def sample_status_inputs(wildcards):
    """Whatever exists of the QC summary, the classification summary and the taxa table."""
    inputs = {}
    if not TABLES_MODE:
        inputs["qc"] = "results/qc/qc_summary.tsv"
    if TABLES_MODE or config["profile"]["activate"]:
        inputs["taxa"] = taxa_table("species")
        if CLASSIFICATION_SUMMARY and (
            not TABLES_MODE or config["tables"]["profiler_outputs"]
        ):
            inputs["classification"] = "results/tables/classification_summary.tsv"
    return inputs


def sample_status_flags(wildcards, input):
    """--qc, --classification and --taxa of the inputs present."""
    return " ".join(
        f"--{name} {getattr(input, name)!r}"
        for name in ("qc", "classification", "taxa")
        if hasattr(input, name)
    )
