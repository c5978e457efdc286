#!/usr/bin/env bash
# Run by Snakemake inside the new conda environment of envs/microbiome.yaml, once, when it creates
# that environment: installs the microbiome package from the checkout that runs the workflow
# ($MICROBIOME_SRC, set by workflow/rules/common.smk). Its dependencies come from the environment
# file, and nothing is downloaded here (no build isolation), so this works on a cluster's login
# node as long as conda itself can reach its channels.
set -euo pipefail
: "${MICROBIOME_SRC:?is set by workflow/rules/common.smk to the repository to install from}"
python -m pip install --quiet --no-deps --no-build-isolation -e "$MICROBIOME_SRC"
microbiome --version
