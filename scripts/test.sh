#!/usr/bin/env bash
# The one test command (README, .ci/run): installs everything, then format, lint, typecheck, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== install (npm ci)"
npm ci --no-audit --no-fund
echo "== tools (OPA, Helm, promtool, amtool, PostgreSQL; pinned, cached in .tools/)"
bash scripts/tools.sh
echo "== engine tools (Pulumi CLI; pinned, cached in ~/.cache/sovereign/tools)"
bash scripts/engine-tools.sh pulumi
echo "== format"
npx prettier --check .
echo "== lint"
npx eslint .
echo "== typecheck"
npx tsc -p .
echo "== tests"
report="$(mktemp -d)/vitest.json"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
# One plain closing line for CI: "N passed, N failed" (", N skipped" when any).
node -e '
const r = require(process.argv[1]);
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
exit "$status"
