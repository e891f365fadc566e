/** Standard labels and tags applied to everything the kit creates. */

export const LABEL_PREFIX = "sovereign.ai";

/** Kubernetes recommended labels for a component. */
export function k8sLabels(
  component: string,
  instance: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    "app.kubernetes.io/name": component,
    "app.kubernetes.io/instance": instance,
    "app.kubernetes.io/part-of": "sovereign",
    "app.kubernetes.io/managed-by": "pulumi",
    ...extra,
  };
}

/** Labels every team-owned object carries (admission requires `team` and `cost-center`). */
export function teamLabels(team: string, costCenter: string): Record<string, string> {
  return { team, "cost-center": costCenter };
}

/** Cloud tags: the required set (owner, cost-center, data-classification) plus the kit's own. */
export function cloudTags(
  base: { owner: string; costCenter: string; dataClassification: string },
  stack: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    owner: base.owner,
    "cost-center": base.costCenter,
    "data-classification": base.dataClassification,
    "sovereign:stack": stack,
    "sovereign:managed-by": "pulumi",
    ...extra,
  };
}

/** Label of the flywheel's pods (its value: the stage); OPA admits these from flywheel teams' namespaces. */
export const FLYWHEEL_STAGE_LABEL = "sovereign.ai/flywheel-stage";
