/**
 * Stand-in for one job of Gatekeeper's controller, which does not run here (its pods are fake):
 * for each ConstraintTemplate it creates the constraint kind's CRD, so the kit's constraint
 * objects are validated by the real API server against the template's parameter schema.
 * Shape as Gatekeeper generates it (group constraints.gatekeeper.sh, served v1beta1/v1alpha1/v1,
 * cluster-scoped, `spec.parameters` from the template's `openAPIV3Schema`).
 */
import type { Manifest } from "./plan";

export function constraintCrd(template: Manifest): Manifest {
  const spec = (template as { spec?: any }).spec ?? {};
  const kind = String(spec.crd?.spec?.names?.kind ?? "");
  const schema = spec.crd?.spec?.validation?.openAPIV3Schema as Record<string, unknown> | undefined;
  const parameters =
    schema && Object.keys(schema).length > 0
      ? { type: "object", ...schema }
      : { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  const plural = kind.toLowerCase();
  const openAPIV3Schema = {
    type: "object",
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object", properties: { name: { type: "string", maxLength: 63 } } },
      spec: {
        type: "object",
        properties: {
          enforcementAction: { type: "string" },
          scopedEnforcementActions: {
            type: "array",
            items: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
          },
          match: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
          parameters,
        },
      },
      status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
    },
  };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${plural}.constraints.gatekeeper.sh`,
      labels: { "gatekeeper.sh/constraint": "yes", "e2e.sovereign/template": String(template.metadata.name) },
    },
    spec: {
      group: "constraints.gatekeeper.sh",
      names: {
        kind,
        plural,
        listKind: `${kind}List`,
        singular: plural,
        categories: ["constraint", "constraints"],
      },
      scope: "Cluster",
      versions: ["v1beta1", "v1alpha1", "v1"].map((name) => ({
        name,
        served: true,
        storage: name === "v1beta1",
        schema: { openAPIV3Schema },
        subresources: { status: {} },
      })),
    },
  };
}
