/** Paths of the pinned external tools built by scripts/tools.sh. Missing tools fail loudly. */
import * as fs from "node:fs";
import * as path from "node:path";

export const TOOLS_BIN = path.resolve(__dirname, "../../.tools/bin");

export function toolPath(
  name: "opa" | "helm" | "promtool" | "amtool" | "postgres" | "initdb" | "pg_ctl" | "psql",
): string {
  const p = path.join(TOOLS_BIN, name);
  if (!fs.existsSync(p)) {
    throw new Error(
      `${name} is not installed at ${p}: run \`bash scripts/tools.sh\` (the test command does this)`,
    );
  }
  return p;
}

export const TOOLS_CHARTS = path.resolve(__dirname, "../../.tools/charts");

/** A third-party chart fetched by scripts/tools.sh (`charts`); missing charts fail loudly. */
export function chartPath(name: string, version: string): string {
  const p = path.join(TOOLS_CHARTS, `${name}-${version}`);
  if (!fs.existsSync(path.join(p, "Chart.yaml"))) {
    throw new Error(
      `chart ${name} ${version} is not at ${p}: run \`bash scripts/tools.sh charts\` (the test command does this)`,
    );
  }
  return p;
}
