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
