# Reports: the cohort report for scientists and one HTML + PDF summary per patient for
# clinicians (microbiome report), from whatever stages are switched on.


localrules:
    report_cohort,


# A few seconds: not worth a place in the cluster's queue.
rule report_cohort:
    input:
        unpack(report_inputs),
    output:
        html=report(
            "results/report/cohort.html",
            caption="../report/report_cohort.rst",
            category="Reports",
        ),
        indices="results/report/indices.tsv",
        multiqc="results/report/microbiome_report_mqc.tsv",
    log:
        "logs/report/cohort.log",
    conda:
        "../../envs/microbiome.yaml"
    threads: 1
    resources:
        **resources_for("report", mem_input="taxa"),
    params:
        flags=report_flags,
        settings=json.dumps(report_settings()),
    shell:
        "microbiome report {params.flags} --settings {params.settings:q} --no-patients"
        " -o results/report 2> {log:q}"


rule report_patient:
    input:
        unpack(report_inputs),
    output:
        **report_patient_outputs(),
    log:
        "logs/report/{patient}.log",
    wildcard_constraints:
        patient="[^/]+",
    conda:
        "../../envs/microbiome.yaml"
    threads: 1
    resources:
        **resources_for("report", mem_input="taxa"),
    params:
        flags=report_flags,
        settings=json.dumps(report_settings()),
        pdf="" if config["report"]["pdf"] else "--no-pdf",
    shell:
        "microbiome report {params.flags} --settings {params.settings:q} --no-cohort"
        " --patient {wildcards.patient:q} {params.pdf} -o results/report 2> {log:q}"
