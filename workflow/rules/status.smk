# Each sample's status, decided once (microbiome sample-status): sample quality from QC,
# profiling coverage from the classified share of reads, and whether the sample is left out of
# the cohort statistics. Diversity, integrate and the reports read this one table.

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


localrules:
    sample_status,


# Under a second: not worth a place in the cluster's queue.
rule sample_status:
    input:
        unpack(sample_status_inputs),
    output:
        report(
            "results/tables/sample_status.tsv",
            caption="../report/sample_status.rst",
            category="Sample status",
        ),
    log:
        "logs/status/sample_status.log",
    conda:
        "../../envs/microbiome.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        flags=sample_status_flags,
        settings=json.dumps({"report": config["report"]}),
    shell:
        "microbiome sample-status {params.flags} --settings {params.settings:q}"
        " -o {output} 2> {log}"
