#!/usr/bin/env bash
# The one test command (README, .ci/run): installs everything, then format, lint, typecheck,
# tests, and the e2e (every shipped stack applied to a real API server, docs/e2e.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# Three packages, each with its own manifest and lockfile (docs/decisions/0006-own-packages.md):
# the kit (the Pulumi program, scripts and tests), the gateway and the policy pack. The kit's
# prepare script runs `npm ci --prefix gateway` and `npm ci --prefix policy-pack`.
echo "== install (npm ci: the kit, then its prepare script: gateway/, policy-pack/)"
npm ci --no-audit --no-fund
# The trainer's ML venv (torch, about 7.6 GB, cached outside the clone) is mostly download and
# unpacking, so on a cold machine it installs in the background while the Go tools compile.
echo "== trainer venv (background; trainer/setup-tests.sh, cached in ${SOVEREIGN_TOOLS_CACHE:-$HOME/.cache/sovereign}/venvs)"
venv_log="$(mktemp)"
bash trainer/setup-tests.sh >"$venv_log" 2>&1 &
venv_pid=$!
echo "== tools (OPA, Helm, promtool, amtool, PostgreSQL, etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, operator CRDs; pinned, cached in ${SOVEREIGN_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/tools})"
bash scripts/tools.sh e2e
echo "== engine tools (Pulumi CLI; pinned, cached in ${SOVEREIGN_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/tools})"
bash scripts/engine-tools.sh pulumi
echo "== trainer venv (waiting for the background install)"
if ! wait "$venv_pid"; then
  cat "$venv_log"
  echo "trainer/setup-tests.sh failed: the runner's ML tests cannot run (nothing is skipped)" >&2
  exit 1
fi
tail -n 2 "$venv_log"
echo "== format"
npx prettier --check .
echo "== lint"
npx eslint .
echo "== typecheck"
npx tsc -p .
echo "== tests"
out="$(mktemp -d)"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$out/vitest.json" || status=$?
echo "== e2e (every shipped stack on a real API server)"
e2e_status=0
npm run e2e -- --report "$out/e2e.json" || e2e_status=$?
[[ -f "$out/e2e.json" ]] || echo '{"passed":0,"failed":1}' >"$out/e2e.json" # it died before its table
# One plain closing line for CI: "N passed, N failed" (", N skipped" when any); each e2e stack counts as one.
node -e '
const r = require(process.argv[1]);
const e = require(process.argv[2]);
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`${r.numPassedTests + e.passed} passed, ${r.numFailedTests + e.failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$out/vitest.json" "$out/e2e.json" || true
[[ $status -eq 0 ]] || exit "$status"
exit "$e2e_status"
