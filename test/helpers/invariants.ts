/**
 * Invariants every shipped stack must satisfy; each area adds its checks here so that all
 * stacks are held to them.
 */
import { expect } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import { assertMonitoringInvariants } from "../observability/invariants";
import { assertImageInvariants } from "./image-invariants";
import { duplicateObjects } from "./object-identity";
import type { StackRun } from "./stack";

export async function assertStackInvariants(run: StackRun, stack: string): Promise<void> {
  const config = parseConfig(rawFromStackFile(stackFile(stack)).raw);
  const out = run.outputs as Record<string, unknown>;
  expect(out.profile).toBe(config.profile);
  expect(out.substrate).toBe(config.substrate.kind);
  expect(out.models).toEqual(config.models.map((m) => m.name));

  // Every resource below the stack is parented (nothing floats at the root but providers and top components).
  for (const r of run.recorder.resources) {
    if (r.parent === undefined) {
      expect(r.type.startsWith("pulumi:providers:") || !r.custom, `${r.type} ${r.name} has no parent`).toBe(
        true,
      );
    }
    // Child names follow `${parent}-<role>`.
    if (r.parent) {
      const parent = run.recorder.byUrn(r.parent);
      if (parent && !parent.custom && !parent.type.startsWith("pulumi:pulumi:Stack")) {
        expect(r.name.startsWith(`${parent.name}-`), `${r.name} is a child of ${parent.name}`).toBe(true);
      }
    }
  }

  // No two registrations are one Kubernetes object (group, kind, namespace, name).
  expect(duplicateObjects(run.recorder), "Kubernetes objects registered more than once").toEqual({});

  // A workload scaled by an HPA leaves `replicas` to it (a set value resets every scale-out on update).
  for (const hpa of run.recorder.ofType("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")) {
    const ref = hpa.inputs.spec.scaleTargetRef;
    const ns = hpa.inputs.metadata.namespace;
    const target = run.recorder.resources.find(
      (r) =>
        r.inputs.kind === ref.kind &&
        r.inputs.metadata?.name === ref.name &&
        r.inputs.metadata?.namespace === ns,
    );
    expect(target, `the target of HPA ${ns}/${hpa.inputs.metadata.name}`).toBeDefined();
    expect(target!.inputs.spec.replicas, `replicas of ${ref.kind} ${ns}/${ref.name}`).toBeUndefined();
  }

  // Observability: one valid scrape object per SCRAPE_TARGETS entry, and the scrape contract
  // (labels, port names) holds for the components the program records.
  await assertMonitoringInvariants(run.recorder);

  // Images: every chart image pinned through the stack's mirrors; everything admitted.
  await assertImageInvariants(run, config);
}
