/**
 * The e2e obtains third-party charts the way an air-gapped install does: a local directory of
 * packaged charts, set as the stack's `chartMirror` (docs/registry-mirrors.md). Here that
 * directory holds what scripts/tools.sh could fetch from Go modules (Gatekeeper), packaged with
 * the pinned helm; every other release then points at a file that is not there, and the run
 * lists it as not applied.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { TENANCY_CHARTS } from "../../components/lib/versions";
import { tool } from "./controlplane";

const TOOLS_CHARTS = path.resolve(__dirname, "../../.tools/charts");

/** Charts the e2e can obtain (a source directory under .tools/charts). */
const OBTAINABLE = [TENANCY_CHARTS.gatekeeper];

export function prepareChartMirror(dir: string): { dir: string; charts: string[] } {
  fs.mkdirSync(dir, { recursive: true });
  const charts: string[] = [];
  for (const pin of OBTAINABLE) {
    const src = path.join(TOOLS_CHARTS, `${pin.chart}-${pin.version}`);
    if (!fs.existsSync(path.join(src, "Chart.yaml"))) {
      throw new Error(
        `chart ${pin.chart} ${pin.version} is not at ${src}: run \`bash scripts/tools.sh e2e\``,
      );
    }
    execFileSync(tool("helm"), ["package", src, "--destination", dir], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const file = path.join(dir, `${pin.chart}-${pin.version}.tgz`);
    if (!fs.existsSync(file)) throw new Error(`helm package of ${src} did not write ${file}`);
    charts.push(path.basename(file));
  }
  return { dir, charts };
}

/** The flat Pulumi config that points a stack's charts at the directory (`pulumi config set`). */
export function chartMirrorOverride(dir: string): Record<string, string> {
  return { "sovereign:chartMirror": JSON.stringify({ directory: dir }) };
}
