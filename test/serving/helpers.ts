/** Shared helpers of the serving tests: run the serving wiring under mocks, run the pinned Helm. */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { gpuFamily } from "../../components/aws/gpu-families";
import { KUBERNETES_VERSION } from "../../components/lib/versions";
import type { ModelServerValues } from "../../components/platform/model-server";
import { MODEL_SERVER_CHART } from "../../stacks/wiring/serving";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import type { StackConfig } from "../../stacks/config/schema";
import { parseConfig } from "../../stacks/config/validate";
import { wireServing } from "../../stacks/wiring/serving";
import { fakeSubstrate } from "../helpers/fake-substrate";
import type { K8sObject } from "../helpers/k8s-schema";
import { installMocks, settle, type ResourceRecorder } from "../helpers/mocks";
import { toolPath } from "../helpers/tools";

export const RELEASE_TYPE = "kubernetes:helm.sh/v3:Release";

export function shippedConfig(stack: string): StackConfig {
  return parseConfig(rawFromStackFile(stackFile(stack)).raw);
}

/** Fake-substrate GPU pools matching a config's pools (type and size from the GPU catalog). */
export function poolsFor(config: StackConfig): Record<string, { gpuType: string; gpusPerNode: number }> {
  const out: Record<string, { gpuType: string; gpusPerNode: number }> = {};
  for (const p of config.gpuPools) {
    const fams = (p.instanceFamilies ?? []).map((f) => gpuFamily(f)!);
    out[p.name] = {
      gpuType: p.gpuType ?? fams[0].gpuType,
      gpusPerNode: p.gpusPerNode ?? Math.max(...fams.map((f) => f.maxGpusPerInstance)),
    };
  }
  return out;
}

export interface ServingRun {
  readonly config: StackConfig;
  readonly recorder: ResourceRecorder;
  readonly outputs: Record<string, unknown>;
  /** Values of each model-server Release, by model name. */
  readonly values: Record<string, ModelServerValues>;
}

/** Runs the serving wiring of a config under mocks with a fake substrate. */
export async function runServing(config: StackConfig, stack: string): Promise<ServingRun> {
  const recorder = installMocks({ stack });
  const substrate = fakeSubstrate({ gpuPools: poolsFor(config) });
  // the model CA as the platform's wiring hands it over (wireCertManager; tested in test/stacks)
  const outputs = wireServing(config, { stack }, substrate, { certManager: { ready: [], modelCaReady: [] } });
  await settle();
  const values: Record<string, ModelServerValues> = {};
  for (const r of recorder.ofType(RELEASE_TYPE)) {
    if (r.inputs.chart === MODEL_SERVER_CHART) {
      const v = r.inputs.values as ModelServerValues;
      values[v.model.name] = v;
    }
  }
  return { config, recorder, outputs, values };
}

export interface HelmResult {
  readonly status: number;
  readonly output: string;
}

function helm(args: string[]): HelmResult {
  const r = spawnSync(toolPath("helm"), args, { encoding: "utf8", timeout: 60_000 });
  return { status: r.status ?? -1, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** Runs helm with `values` in a temporary values file, removed afterwards. */
function helmWithValues(args: string[], values: unknown): HelmResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-server-"));
  try {
    const file = path.join(dir, "values.json");
    fs.writeFileSync(file, JSON.stringify(values));
    return helm([...args, "-f", file]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const KUBE = `${KUBERNETES_VERSION}.0`;

export function helmLint(values: unknown): HelmResult {
  return helmWithValues(["lint", MODEL_SERVER_CHART, "--strict", "--kube-version", KUBE], values);
}

export function helmTemplate(
  values: unknown,
  namespace = "sovereign-serving",
): HelmResult & { objects: K8sObject[] } {
  const r = helmWithValues(
    [
      "template",
      "sovereign",
      MODEL_SERVER_CHART,
      "--namespace",
      namespace,
      "--kube-version",
      KUBE,
      "--api-versions",
      "monitoring.coreos.com/v1",
      "--api-versions",
      "keda.sh/v1alpha1",
    ],
    values,
  );
  const objects =
    r.status === 0
      ? parseAllDocuments(r.output)
          .map((d) => d.toJSON() as K8sObject | null)
          .filter((o): o is K8sObject => o !== null)
      : [];
  return { ...r, objects };
}

/** Every container (init and main) of a rendered workload. */
export function containersOf(o: K8sObject): Record<string, any>[] {
  const spec = (o.spec as any)?.template?.spec;
  if (!spec) return [];
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}
