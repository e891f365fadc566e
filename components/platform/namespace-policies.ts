/**
 * The NetworkPolicies of a chart's default-deny namespace as resources: one helper for every
 * component that installs a chart (KEDA, cert-manager, Gatekeeper, Kueue, the GPU charts), so the
 * policies (`chartNamespacePolicies`) and their resource names are built in one place.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import { chartNamespacePolicies, type ApiServerPeers, type ChartNamespaceFlows } from "../lib/network-policy";

/**
 * Default-deny both ways plus exactly `flows`, each policy a child named
 * `<name>-np-<policy name>` with `opts` (its parent, and what it waits for).
 */
export function chartNamespacePolicyResources(
  name: string,
  flows: ChartNamespaceFlows,
  apiServer: ApiServerPeers,
  opts: pulumi.CustomResourceOptions,
): k8s.networking.v1.NetworkPolicy[] {
  return chartNamespacePolicies(flows, apiServer, PLATFORM_NAMESPACES.monitoring).map(
    (np) => new k8s.networking.v1.NetworkPolicy(`${name}-np-${np.metadata.name}`, np, opts),
  );
}
