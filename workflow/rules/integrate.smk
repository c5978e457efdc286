# Linking taxa and metabolites to the clinical metadata (microbiome integrate), and in tables
# mode the import of other profilers' outputs.


if TABLES_MODE and config["tables"]["profiler_outputs"]:

    localrules:
        import_profiles,
        import_classification_summary,

    rule import_profiles:
        input:
            config["tables"]["profiler_outputs"],
        output:
            "results/tables/imported.{rank}.tsv",
        log:
            "logs/integrate/import_profiles.{rank}.log",
        conda:
            "../../envs/microbiome.yaml"
        params:
            format=config["tables"]["profiler_format"],
        shell:
            "microbiome import-profiles {input:q} --format {params.format:q}"
            " --rank {wildcards.rank:q} -o {output:q} 2> {log:q}"

    # What the classifier made of each sample, where the outputs say (Kraken 2 reports; else NA).
    rule import_classification_summary:
        input:
            config["tables"]["profiler_outputs"],
        output:
            summary="results/tables/classification_summary.tsv",
            multiqc="results/tables/classification_mqc.tsv",
        log:
            "logs/integrate/import_classification_summary.log",
        conda:
            "../../envs/microbiome.yaml"
        params:
            format=config["tables"]["profiler_format"],
        shell:
            "microbiome import-profiles {input:q} --format {params.format:q}"
            " --summary {output.summary:q} --multiqc {output.multiqc:q} 2> {log:q}"


rule integrate:
    input:
        taxa=get_integrate_taxa_table,
        metadata=config["metadata"]["table"],
        metabolites=config["integrate"]["metabolites"] or [],
        annotation=config["integrate"]["metabolite_annotation"] or [],
        status="results/tables/sample_status.tsv",
    output:
        **integrate_rule_outputs(),
    log:
        "logs/integrate/integrate.log",
    benchmark:
        "results/benchmarks/integrate/integrate.tsv"
    conda:
        "../../envs/microbiome.yaml"
    threads: config["integrate"]["threads"]
    resources:
        **resources_for("integrate"),
    params:
        settings=integrate_settings,
        orientation=config["tables"]["orientation"] if TABLES_MODE else "auto",
        outdir=lambda wildcards, output: os.path.dirname(output.join_report),
        metabolites=lambda wildcards, input: shell_flag(
            "--metabolites", input.metabolites
        ),
        annotation=lambda wildcards, input: shell_flag("--annotation", input.annotation),
    shell:
        "printf '%s\\n' {params.settings:q} > {output.settings:q} && microbiome integrate"
        " --config {output.settings:q} --taxa {input.taxa:q}"
        " --taxa-orientation {params.orientation:q} {params.metabolites}"
        " {params.annotation} --metadata {input.metadata:q} --exclude {input.status:q}"
        " --threads {threads}"
        " -o {params.outdir:q} 2> {log:q}"
