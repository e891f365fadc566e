#!/usr/bin/env bash
# Creates .tools/trainer-venv with the runner's test dependencies (requirements-test.txt):
# pytest, boto3 and moto; no torch, no transformers. Idempotent: returns at once when the venv
# matches the requirements file. Called by test/tenancy/trainer.test.ts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/trainer/requirements-test.txt"
VENV="$ROOT/.tools/trainer-venv"
PY="${PYTHON:-python3}"
mkdir -p "$ROOT/.tools"
exec 9>"$ROOT/.tools/.trainer-venv.lock"
flock 9
want="$(sha256sum "$REQ" | cut -d' ' -f1) $("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ -x "$VENV/bin/python" && -f "$VENV/.stamp" && "$(cat "$VENV/.stamp")" == "$want" ]]; then
  exit 0
fi
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQ"
echo "$want" >"$VENV/.stamp"
echo "trainer-venv: installed $(grep -cv '^#' "$REQ") requirements into $VENV" >&2
