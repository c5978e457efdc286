# Read statistics of the raw reads, per sample and merged.


localrules:
    merge_read_stats,


rule read_stats:
    input:
        reads=get_reads,
    output:
        json="results/stats/{sample}.json",
    log:
        "logs/stats/{sample}.log",
    benchmark:
        "results/benchmarks/stats/{sample}.tsv"
    conda:
        "../../envs/microbiome.yaml"
    threads: config["stats"]["threads"]
    resources:
        **resources_for("stats"),
    params:
        flags=stats_flags,
        chunk_mb=config["stats"]["chunk_mb"],
    shell:
        "microbiome stats {input.reads:q} {params.flags} --sample-id {wildcards.sample:q}"
        " --threads {threads} --chunk-mb {params.chunk_mb:q} -o {output.json:q} 2> {log:q}"


# A few seconds on the submitting machine: not worth a place in the cluster's queue.
rule merge_read_stats:
    input:
        expand("results/stats/{sample}.json", sample=SAMPLES.index),
    output:
        tsv=report(
            "results/stats/read_stats.tsv",
            caption="../report/read_stats.rst",
            category="Quality control",
        ),
    log:
        "logs/stats/merge.log",
    conda:
        "../../envs/microbiome.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    shell:
        "microbiome merge-stats {input:q} -o {output.tsv:q} 2> {log:q}"
