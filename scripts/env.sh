# Sourced by scripts/demo.sh and scripts/test.sh: make sure `microbiome` and its dependencies are
# importable. Uses the active virtual environment if there is one, else creates .venv here.
# Reinstalls when pyproject.toml changed since the last install.

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "microbiome: error: Python >= 3.11 is needed (found: $("$PYTHON" --version 2>&1))" >&2
  exit 2
fi
if [[ -z "${VIRTUAL_ENV:-}" ]]; then
  if [[ ! -x .venv/bin/python ]]; then
    echo "microbiome: creating .venv (first run only)" >&2
    "$PYTHON" -m venv .venv
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
fi
# Optional extras to install with the package: MICROBIOME_EXTRAS=test,slurm adds the SLURM plugin.
extras=${MICROBIOME_EXTRAS:-test}
stamp="$VIRTUAL_ENV/.microbiome-installed"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" || "$(cat "$stamp")" != "$extras" ]] \
  || ! python -c 'import microbiome' 2>/dev/null; then
  echo "microbiome: installing the package and its dependencies into $VIRTUAL_ENV" >&2
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -e ".[$extras]"
  echo "$extras" > "$stamp"
fi
