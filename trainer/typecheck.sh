#!/usr/bin/env bash
# Checks the runner's Python: `ruff format --check` and `ruff check` (trainer/pyproject.toml
# [tool.ruff]; ruff is pinned in requirements-test.txt, so it is in the ML venv), then
# `mypy --strict` (trainer/pyproject.toml [tool.mypy]: sovereign_train/ and tests/) against the
# real ML packages. Extra arguments go to mypy. Exits non-zero at the first check that fails.
# Called by test/tenancy/trainer.test.ts; CONTRIBUTING.md has the narrow loop.
#
# mypy and the boto3 stubs do not go into the ML venv (its hash would change: a 7.6 GB
# reinstall). They live in a small venv of their own, cached outside the clone like it, keyed by
# a hash of requirements-typecheck.txt, requirements-stubs.txt and the Python version:
#   ${SOVEREIGN_TOOLS_CACHE:-$HOME/.cache/sovereign}/venvs/trainer-typecheck-<hash>
# mypy runs from there with --python-executable <ML venv's python>, so it resolves torch,
# transformers, peft, llmcompressor, pytest and moto from the ML venv. The stubs are installed
# (--no-deps) into <typecheck venv>/stubs, a folder that holds stubs only, and reach mypy on
# that interpreter's sys.path through PYTHONPATH. Same lock / stamp / rebuild rules as
# setup-tests.sh. The incremental cache is trainer/.mypy_cache (ignored by git).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
REQS=("$ROOT/trainer/requirements-typecheck.txt" "$ROOT/trainer/requirements-stubs.txt")
CACHE="${SOVEREIGN_TOOLS_CACHE:-$HOME/.cache/sovereign}/venvs"
pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
hash="$( { cat "${REQS[@]}"; echo "python $pyver"; } | sha256sum | cut -c1-16)"
VENV="$CACHE/trainer-typecheck-$hash"
ML="$(bash "$ROOT/trainer/setup-tests.sh" | tail -n 1)"
mkdir -p "$CACHE"
(
  exec 9>"$VENV.lock"
  flock 9
  if [[ -x "$VENV/bin/mypy" && -f "$VENV/.complete" ]]; then exit 0; fi
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "${REQS[0]}" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps \
    --target "$VENV/stubs" -r "${REQS[1]}" >&2
  date -u +%FT%TZ >"$VENV/.complete"
  echo "typecheck venv: installed into $VENV, $(du -sh "$VENV" | cut -f1)" >&2
)
cd "$ROOT/trainer"
"$ML/bin/ruff" format --check --no-cache .
"$ML/bin/ruff" check --no-cache .
PYTHONPATH="$VENV/stubs" exec "$VENV/bin/mypy" --python-executable "$ML/bin/python" "$@"
