/** Pod scheduling helpers shared by the platform's Deployments. */

export interface SpreadConstraint {
  readonly maxSkew: number;
  readonly topologyKey: string;
  readonly whenUnsatisfiable: "ScheduleAnyway" | "DoNotSchedule";
  readonly labelSelector: { readonly matchLabels: Readonly<Record<string, string>> };
}

/**
 * Spread replicas across zones (best effort) and nodes (`nodes`: strict in prod, so a node
 * loss never takes more than one replica).
 */
export function spreadAcrossZonesAndNodes(
  selector: Readonly<Record<string, string>>,
  nodes: "ScheduleAnyway" | "DoNotSchedule",
): SpreadConstraint[] {
  return [
    {
      maxSkew: 1,
      topologyKey: "topology.kubernetes.io/zone",
      whenUnsatisfiable: "ScheduleAnyway",
      labelSelector: { matchLabels: selector },
    },
    {
      maxSkew: 1,
      topologyKey: "kubernetes.io/hostname",
      whenUnsatisfiable: nodes,
      labelSelector: { matchLabels: selector },
    },
  ];
}

/** Whether a model is autoscaled (a range of replicas, or scale-to-zero). */
export function autoscales(model: {
  readonly replicas: { readonly min: number; readonly max: number };
}): boolean {
  return model.replicas.min === 0 || model.replicas.max > model.replicas.min;
}
