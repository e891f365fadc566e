/**
 * Runs the tenancy and policy wiring of a shipped stack against the substrate test double under
 * recording mocks, for the per-stack test files.
 */
import { GPU_FAMILIES } from "../../components/aws/gpu-families";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import type { StackConfig } from "../../stacks/config/schema";
import { parseConfig } from "../../stacks/config/validate";
import { wirePolicy, type AdmissionInputs } from "../../stacks/wiring/policy";
import { wireTenancy } from "../../stacks/wiring/tenancy";
import { fakeSubstrate } from "../helpers/fake-substrate";
import { installMocks, settle, type RecordedResource, type ResourceRecorder } from "../helpers/mocks";

export interface Wired {
  readonly config: StackConfig;
  readonly recorder: ResourceRecorder;
  readonly outputs: Record<string, unknown>;
}

export function shippedConfig(stack: string): StackConfig {
  return parseConfig(rawFromStackFile(stackFile(stack)).raw);
}

export async function wireShipped(stack: string): Promise<Wired> {
  const config = shippedConfig(stack);
  const recorder = installMocks({ stack });
  const gpuPools = Object.fromEntries(
    config.gpuPools.map((p) => [
      p.name,
      {
        gpuType: p.gpuType ?? GPU_FAMILIES[p.instanceFamilies?.[0] ?? "g6"].gpuType,
        gpusPerNode: p.gpusPerNode ?? 8,
        capacityType: p.capacityType,
      },
    ]),
  );
  const substrate = fakeSubstrate({ gpuPools });
  const ctx = { stack };
  // As wirePlatform: tenancy first, so admission gets the flywheel's identity.
  const admission: AdmissionInputs = {};
  const tenancy = wireTenancy(config, ctx, substrate, {}, admission);
  const outputs = { ...wirePolicy(config, ctx, substrate, admission), ...tenancy };
  await settle();
  return { config, recorder, outputs };
}

/** Recorded custom resources of one Kubernetes kind (CRs and built-ins). */
export function ofKind(recorder: ResourceRecorder, apiVersion: string, kind: string): RecordedResource[] {
  return recorder.resources.filter((r) => r.inputs.apiVersion === apiVersion && r.inputs.kind === kind);
}
