#!/usr/bin/env bash
# The one test command (README, .ci/run): installs everything, then format, lint, typecheck,
# tests, the e2e (every shipped stack applied to a real API server, docs/e2e.md) and e2e:package
# (YAML programs previewed against the component package by the real Pulumi CLI,
# docs/component-package.md).
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
echo "== engine tools (Pulumi CLI, kubernetes provider, YAML language host; pinned, cached in ${SOVEREIGN_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/tools})"
# The YAML host after the provider: it then reuses most of the provider's Go build cache.
bash scripts/engine-tools.sh pulumi pulumi-resource-kubernetes pulumi-language-yaml
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
echo "== e2e:package (YAML programs use the component package through the real Pulumi CLI)"
package_status=0
npm run e2e:package -- --report "$out/package.json" || package_status=$?
[[ -f "$out/package.json" ]] || echo '{"passed":0,"failed":1}' >"$out/package.json"
# One plain closing line for CI: "N passed, N failed" (", N skipped" when any); each e2e stack
# and each e2e:package program counts as one.
node -e '
const r = require(process.argv[1]);
const e = require(process.argv[2]);
const p = require(process.argv[3]);
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`${r.numPassedTests + e.passed + p.passed} passed, ${r.numFailedTests + e.failed + p.failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$out/vitest.json" "$out/e2e.json" "$out/package.json" || true
[[ $status -eq 0 ]] || exit "$status"
[[ $e2e_status -eq 0 ]] || exit "$e2e_status"
exit "$package_status"
