/** `helm template` of a chart from the tool cache, with the pinned helm, as parsed objects. */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { KUBERNETES_VERSION } from "../../components/lib/versions";
import type { K8sObject } from "./k8s-schema";
import { toolPath } from "./tools";

/** Renders `chart` as release `release` in `namespace` with `values`; a helm failure throws with its output. */
export function helmTemplate(
  release: string,
  chart: string,
  namespace: string,
  values: unknown,
): K8sObject[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${release}-`));
  const file = path.join(dir, "values.json");
  fs.writeFileSync(file, JSON.stringify(values));
  const args = [
    "template",
    release,
    chart,
    "--namespace",
    namespace,
    "--kube-version",
    `${KUBERNETES_VERSION}.0`,
  ];
  // Charts that template their CRDs (Kueue) print megabytes.
  const r = spawnSync(toolPath("helm"), [...args, "-f", file], {
    encoding: "utf8",
    timeout: 60_000,
    maxBuffer: 64 * 2 ** 20,
  });
  fs.rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0)
    throw new Error(`helm template ${release} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o && typeof o === "object" && "kind" in o);
}
