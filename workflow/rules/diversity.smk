# Diversity and community statistics of the merged taxa table against the metadata sheet.

if diversity_active() and diversity_sketching():

    rule diversity_sketch:
        input:
            reads=profile_reads,
        output:
            sketch="results/diversity/sketches/{sample}.sketch",
        log:
            "logs/diversity/{sample}.sketch.log",
        benchmark:
            "results/benchmarks/diversity/{sample}.sketch.tsv"
        conda:
            "../../envs/microbiome.yaml"
        threads: 1
        resources:
            **resources_for("diversity"),
        params:
            k=config["diversity"]["sketch_k"],
            scaled=config["diversity"]["sketch_scaled"],
        shell:
            "microbiome kmer sketch {input.reads:q} -k {params.k} -s {params.scaled}"
            " -n {wildcards.sample:q} -o {output.sketch:q} 2> {log:q}"


if diversity_active():

    rule diversity:
        input:
            table=get_taxa_table,
            metadata=config["metadata"]["table"] or [],
            tree=config["diversity"]["tree"] or [],
            sketches=diversity_sketches(),
            status="results/tables/sample_status.tsv",
        output:
            alpha=report(
                "results/diversity/alpha.tsv",
                caption="../report/diversity_alpha.rst",
                category="Diversity",
                labels={"table": "alpha diversity"},
            ),
            alpha_rarefied=diversity_rarefied_output(),
            distances=expand(
                "results/diversity/beta/{metric}.distances.tsv",
                metric=diversity_metrics(),
            ),
            coordinates=expand(
                "results/diversity/pcoa/{metric}.coordinates.tsv",
                metric=diversity_metrics(),
            ),
            variance=expand(
                "results/diversity/pcoa/{metric}.variance.tsv",
                metric=diversity_metrics(),
            ),
            permanova=report(
                "results/diversity/tests/permanova.tsv",
                caption="../report/diversity_permanova.rst",
                category="Diversity",
                labels={"table": "PERMANOVA"},
            ),
            permdisp=report(
                "results/diversity/tests/permdisp.tsv",
                caption="../report/diversity_permdisp.rst",
                category="Diversity",
                labels={"table": "PERMDISP"},
            ),
            alpha_tests=report(
                "results/diversity/tests/alpha_tests.tsv",
                caption="../report/diversity_alpha_tests.rst",
                category="Diversity",
                labels={"table": "alpha diversity tests"},
            ),
            skipped="results/diversity/tests/skipped_variables.tsv",
            excluded=report(
                "results/diversity/excluded.tsv",
                caption="../report/diversity_excluded.rst",
                category="Diversity",
                labels={"table": "excluded samples"},
            ),
            figures=[
                report(
                    path,
                    caption=caption,
                    category="Diversity",
                    subcategory=subcategory,
                    labels=labels,
                )
                for path, caption, subcategory, labels in diversity_figures()
            ],
            figures_png=[path for path, *_ in diversity_figures("png")],
            parameters="results/diversity/parameters.json",
        log:
            "logs/diversity/diversity.log",
        benchmark:
            "results/benchmarks/diversity/diversity.tsv"
        conda:
            "../../envs/microbiome.yaml"
        threads: 1
        resources:
            **resources_for("diversity"),
        params:
            metadata=lambda wildcards, input: shell_flag("--metadata", input.metadata),
            orientation=config["tables"]["orientation"] if TABLES_MODE else "auto",
            sample_column=diversity_column_flag("sample_column"),
            patient_column=diversity_column_flag("patient_column"),
            types=json.dumps(config["metadata"]["variables"]),
            variables=",".join(config["diversity"]["variables"]),
            metrics=",".join(config["diversity"]["metrics"]),
            tree=lambda wildcards, input: shell_flag("--tree", input.tree),
            sketches=lambda wildcards, input: shell_flag("--sketches", input.sketches),
            curves="" if config["diversity"]["rarefaction_curves"] else "--no-curves",
            cfg=science(config["diversity"]),
        shell:
            "microbiome diversity --table {input.table:q} --orientation {params.orientation:q}"
            " {params.metadata} {params.sample_column}"
            " {params.patient_column} --variable-types {params.types:q}"
            " --variables {params.variables:q} --metrics {params.metrics:q} {params.tree}"
            " {params.sketches} --exclude {input.status:q}"
            " --pseudocount {params.cfg[pseudocount]}"
            " --rarefaction-depth {params.cfg[rarefaction_depth]}"
            " --rarefaction-repeats {params.cfg[rarefaction_repeats]}"
            " --rarefaction-steps {params.cfg[rarefaction_steps]}"
            " --rarefaction-max-depth {params.cfg[rarefaction_max_depth]} {params.curves}"
            " --permutations {params.cfg[permutations]} --seed {params.cfg[seed]}"
            " --missing {params.cfg[missing]:q} -o results/diversity 2> {log:q}"
