# Quality control: host index (once), trimming and filters per sample, merged statistics.


localrules:
    merge_qc,


rule host_index:
    input:
        config["qc"]["host_references"],
    output:
        host_index_files(),
    log:
        "logs/qc/host_index.log",
    benchmark:
        "results/benchmarks/qc/host_index.tsv"
    conda:
        "../../envs/microbiome.yaml"
    threads: config["qc"]["threads"]
    resources:
        **resources_for("qc"),
    params:
        flags=host_index_flags(),
        prefix=lambda wildcards, output: host_index_prefix(output[0]),
    shell:
        "microbiome qc-index {input:q} -o {params.prefix:q} {params.flags} -t {threads}"
        " 2> {log:q}"


rule qc_paired:
    input:
        reads=get_reads,
        host=host_index_files(),
    output:
        **qc_outputs("paired"),
    log:
        "logs/qc/{sample}.log",
    benchmark:
        "results/benchmarks/qc/{sample}.tsv"
    wildcard_constraints:
        sample=sample_pattern("paired"),
    conda:
        "../../envs/microbiome.yaml"
    threads: config["qc"]["threads"]
    resources:
        **resources_for("qc"),
    params:
        reads=qc_reads_flags,
        host=qc_host_flags,
        settings=json.dumps(science(config["qc"])),
    shell:
        "microbiome qc {params.reads} {params.host} --settings {params.settings:q}"
        " -s {wildcards.sample:q} -t {threads} -o results/qc 2> {log:q}"


rule qc_single:
    input:
        reads=get_reads,
        host=host_index_files(),
    output:
        **qc_outputs("single"),
    log:
        "logs/qc/{sample}.log",
    benchmark:
        "results/benchmarks/qc/{sample}.tsv"
    wildcard_constraints:
        sample=sample_pattern("single"),
    conda:
        "../../envs/microbiome.yaml"
    threads: config["qc"]["threads"]
    resources:
        **resources_for("qc"),
    params:
        reads=qc_reads_flags,
        host=qc_host_flags,
        settings=json.dumps(science(config["qc"])),
    shell:
        "microbiome qc {params.reads} {params.host} --settings {params.settings:q}"
        " -s {wildcards.sample:q} -t {threads} -o results/qc 2> {log:q}"


# A few seconds on the submitting machine: not worth a place in the cluster's queue.
rule merge_qc:
    input:
        expand("results/qc/{sample}.qc.json", sample=SAMPLES.index),
    output:
        tsv=report(
            "results/qc/qc_summary.tsv",
            caption="../report/qc_summary.rst",
            category="Quality control",
        ),
        general="results/qc/microbiome_qc_general_stats_mqc.tsv",
        fates="results/qc/microbiome_qc_fates_mqc.tsv",
    log:
        "logs/qc/merge.log",
    conda:
        "../../envs/microbiome.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    shell:
        "microbiome merge-qc {input:q} -o {output.tsv:q} --multiqc results/qc 2> {log:q}"
