#!/usr/bin/env bash
# Creates (once) the venv the runner's pytest suite runs in: the runner's ML dependencies
# (requirements.txt: torch, transformers, peft, datasets, accelerate, llmcompressor,
# compressed-tensors, boto3) plus the test-only ones (requirements-test.txt: pytest, moto).
#
# The venv lives OUTSIDE the clone, keyed by a hash of both requirement files and the Python
# version, so every clone and worktree of the same pins shares one install:
#   ${SOVEREIGN_TOOLS_CACHE:-$HOME/.cache/sovereign}/venvs/trainer-ml-<hash>
# It is built in place (venvs are not relocatable) and marked complete with a stamp file only
# after pip succeeds; an incomplete one is removed and rebuilt. Concurrent callers serialize on
# a lock. Prints the venv's directory on stdout. Called by test/tenancy/trainer.test.ts.
#
# Size: torch 2.10.0 from PyPI on Linux x86_64 is the CUDA build (a 0.9 GB wheel) and depends
# on the nvidia-* CUDA libraries and triton (about 3 GB more); `import torch` fails without
# them even on a CPU-only machine (it preloads libcublasLt), and PyPI carries no CPU-only torch
# wheel for Linux. docs/flywheel.md has the measured size and time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
REQS=("$ROOT/trainer/requirements.txt" "$ROOT/trainer/requirements-test.txt")
CACHE="${SOVEREIGN_TOOLS_CACHE:-$HOME/.cache/sovereign}/venvs"
pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
hash="$( { cat "${REQS[@]}"; echo "python $pyver"; } | sha256sum | cut -c1-16)"
VENV="$CACHE/trainer-ml-$hash"
mkdir -p "$CACHE"
exec 9>"$VENV.lock"
flock 9
if [[ -x "$VENV/bin/python" && -f "$VENV/.complete" ]]; then
  echo "$VENV"
  exit 0
fi
rm -rf "$VENV"
start=$SECONDS
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  -r "${REQS[0]}" -r "${REQS[1]}" >&2
date -u +%FT%TZ >"$VENV/.complete"
echo "trainer venv: installed $(cat "${REQS[@]}" | grep -cv '^#') pinned requirements (and their" \
  "dependencies) into $VENV in $((SECONDS - start)) s, $(du -sh "$VENV" | cut -f1)" >&2
echo "$VENV"
