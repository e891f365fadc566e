#!/usr/bin/env bash
# The one test command (README, .ci/run): installs everything, then format, lint, typecheck, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== install (npm ci)"
npm ci --no-audit --no-fund
echo "== tools (OPA, Helm, promtool, amtool, PostgreSQL; pinned, cached in .tools/)"
bash scripts/tools.sh
echo "== format"
npx prettier --check .
echo "== lint"
npx eslint .
echo "== typecheck"
npx tsc -p .
echo "== tests"
npx vitest run
