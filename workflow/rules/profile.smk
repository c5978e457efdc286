# Taxonomic profiling: the database (built once), each sample's classification, cohort tables.


if (
    config["profile"]["activate"]
    and not TABLES_MODE  # no reads: nothing to build a database for
    and config["profile"]["profiler"] == "microbiome"
    and not config["profile"]["database"]
):

    rule profile_database:
        input:
            references=profile_reference_files(),
            taxonomy=profile_taxonomy_files(),
            seqid2taxid=config["profile"]["seqid2taxid"] or [],
        output:
            db="resources/db/profile.mbdb",
            summary="resources/db/profile.summary.tsv",
        log:
            "logs/profile/database.log",
        benchmark:
            "results/benchmarks/profile/database.tsv"
        conda:
            "../../envs/microbiome.yaml"
        threads: config["profile"]["threads"]
        resources:
            **resources_for("profile"),
        params:
            references=config["profile"]["references"],
            taxonomy=profile_taxonomy_arg,
            seqid2taxid=lambda wildcards, input: shell_flag(
                "--seqid2taxid", input.seqid2taxid
            ),
            k=config["profile"]["k"],
            w=config["profile"]["w"],
            read_length=config["profile"]["read_length"],
            duplicates=(
                "--rename-duplicates"
                if config["profile"]["duplicate_ids"] == "rename"
                else ""
            ),
        shell:
            "microbiome db build --sequences {params.references:q} --taxonomy {params.taxonomy:q}"
            " {params.seqid2taxid} -k {params.k} -w {params.w} --read-length {params.read_length}"
            " {params.duplicates} -t {threads} --max-memory {resources.mem_mb}MB"
            " -o {output.db:q} > {output.summary:q} 2> {log:q}"


if config["profile"]["profiler"] == "kraken2":

    rule kraken2:
        input:
            reads=profile_reads,
            db=profile_db(),
        output:
            **(
                {"reads": "results/profile/{sample}.reads.gz"}
                if config["profile"]["per_read_output"]
                else {}
            ),
            report="results/profile/{sample}.kreport",
        log:
            "logs/profile/{sample}.log",
        benchmark:
            "results/benchmarks/profile/{sample}.tsv"
        conda:
            "../../envs/kraken2.yaml"
        threads: config["profile"]["threads"]
        resources:
            **resources_for("profile", mem_input="db"),
        params:
            db=config["profile"]["kraken2_db"],
            paired=lambda wildcards, input: "--paired" if len(input.reads) == 2 else "",
            confidence=config["profile"]["confidence"],
            min_hit_groups=config["profile"]["min_hit_groups"],
            # Kraken 2 writes plain text; "-" switches the per-read output off.
            output=lambda wildcards: (
                f"results/profile/{wildcards.sample}.reads"
                if config["profile"]["per_read_output"]
                else "-"
            ),
        shell:
            "(kraken2 --db {params.db:q} --threads {threads} --confidence {params.confidence}"
            " --minimum-hit-groups {params.min_hit_groups} --gzip-compressed {params.paired}"
            " --report {output.report:q} --output {params.output:q} {input.reads:q}"
            " && if [ {params.output:q} != - ]; then gzip -f {params.output:q}; fi) 2> {log:q}"

    rule profile_import:
        input:
            report="results/profile/{sample}.kreport",
        output:
            cami="results/profile/{sample}.cami",
            tsv="results/profile/{sample}.tsv",
        log:
            "logs/profile/{sample}.import.log",
        conda:
            "../../envs/microbiome.yaml"
        threads: 1
        resources:
            mem_mb=500,
            runtime=10,
        shell:
            "microbiome classify-import --kraken-report {input.report:q}"
            " -s {wildcards.sample:q} --cami {output.cami:q} --tsv {output.tsv:q} 2> {log:q}"

else:

    rule classify:
        input:
            reads=profile_reads,
            db=profile_db(),
        output:
            **profile_outputs(),
        log:
            "logs/profile/{sample}.log",
        benchmark:
            "results/benchmarks/profile/{sample}.tsv"
        conda:
            "../../envs/microbiome.yaml"
        threads: config["profile"]["threads"]
        resources:
            **resources_for("profile", mem_input="db"),
        params:
            reads=lambda wildcards, input: reads_flags(input.reads),
            per_read=lambda wildcards, output: shell_flag(
                "--output", config["profile"]["per_read_output"] and output.reads
            ),
            confidence=config["profile"]["confidence"],
            min_hit_groups=config["profile"]["min_hit_groups"],
            abundance=config["profile"]["abundance"],
            abundance_type=config["profile"]["abundance_type"],
            min_reads=config["profile"]["min_reads"],
        shell:
            "microbiome classify --db {input.db:q} {params.reads} -s {wildcards.sample:q}"
            " -t {threads} --confidence {params.confidence}"
            " --min-hit-groups {params.min_hit_groups} --abundance {params.abundance:q}"
            " --abundance-type {params.abundance_type:q} --min-reads {params.min_reads}"
            " --report {output.report:q} --cami {output.cami:q} --tsv {output.tsv:q}"
            " {params.per_read} 2> {log:q}"


# A few seconds on the submitting machine: not worth a place in the cluster's queue. In tables
# mode, import-profiles writes the classification summary instead (integrate.smk).
if not TABLES_MODE:

    localrules:
        merge_profiles,

    rule merge_profiles:
        input:
            expand("results/profile/{sample}.tsv", sample=SAMPLES.index),
        output:
            relative=[
                report(
                    f"results/tables/{rank}.relative.tsv",
                    caption="../report/profiles_relative.rst",
                    category="Taxonomic profiles",
                    labels={"rank": rank, "table": "relative abundance"},
                )
                for rank in PROFILE_RANKS
            ],
            relative_classified=expand(
                "results/tables/{rank}.relative_classified.tsv", rank=PROFILE_RANKS
            ),
            counts=expand("results/tables/{rank}.counts.tsv", rank=PROFILE_RANKS),
            summary=report(
                "results/tables/classification_summary.tsv",
                caption="../report/classification_summary.rst",
                category="Taxonomic profiles",
                labels={"rank": "all", "table": "classified fraction"},
            ),
            multiqc="results/tables/classification_mqc.tsv",
            long=report(
                "results/tables/profiles.long.tsv",
                caption="../report/profiles_long.rst",
                category="Taxonomic profiles",
                labels={"rank": "all", "table": "long"},
            ),
            biom="results/tables/profiles.biom",
        log:
            "logs/profile/merge.log",
        conda:
            "../../envs/microbiome.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        shell:
            "microbiome merge-profiles {input:q} -o results/tables 2> {log:q}"
