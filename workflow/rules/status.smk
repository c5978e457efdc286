# Each sample's status, decided once (microbiome sample-status): sample quality from QC,
# profiling coverage from the classified share of reads, and whether the sample is left out of
# the cohort statistics. Diversity, integrate and the reports read this one table.


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
        settings=json.dumps(sample_status_settings()),
    shell:
        "microbiome sample-status {params.flags} --settings {params.settings:q}"
        " -o {output:q} 2> {log:q}"
