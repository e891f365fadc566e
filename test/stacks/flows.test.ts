/**
 * The network flows of every shipped stack, read back from the recorded NetworkPolicies and
 * compared with a table written out here: per namespace that has default-deny in both
 * directions, exactly these ingress and egress peers. An unexpected flow fails the test.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import { subnetLayout } from "../../components/aws/layout";
import { allowedFlows, createdNamespaces, defaultDenied } from "../helpers/flows";
import type { StackRun } from "../helpers/stack";
import { runShippedStack } from "../helpers/stack";

const DNS = "ns(kubernetes.io/metadata.name=kube-system)/pods(k8s-app=kube-dns) on UDP/53,TCP/53";
const OPA = "pods(app.kubernetes.io/instance=opa,app.kubernetes.io/name=opa)";
/** The S3 prefix list the mocks return for the region (documentation ranges). */
const S3_PREFIX_LIST = ["198.51.100.0/24", "203.0.113.0/24"];

/** The flows of one team namespace: its own pods, DNS, the object store; scraped by monitoring. */
function teamFlows(ns: string, objectStore: readonly string[]): string[] {
  return [
    `${ns} egress pods(*) to ${DNS}`,
    `${ns} egress pods(*) to ns(same)/pods(*) on any port`,
    ...objectStore.map((to) => `${ns} egress pods(*) to ${to}`),
    `${ns} ingress pods(*) from ns(kubernetes.io/metadata.name=sovereign-monitoring) on any port`,
    `${ns} ingress pods(*) from ns(same)/pods(*) on any port`,
  ];
}

/** A team with the flywheel on: its flywheel pods (only) and OPA's port, both ways. */
function flywheelFlows(ns: string): string[] {
  const pods = "pods(sovereign.ai/flywheel-stage Exists )";
  return [
    `${ns} egress ${pods} to ns(kubernetes.io/metadata.name=sovereign-policy) on TCP/8181`,
    `sovereign-policy ingress ${OPA} from ns(kubernetes.io/metadata.name=${ns})/${pods} on TCP/8181`,
  ];
}

const POLICY_FLOWS = [
  `sovereign-policy egress ${OPA} to ${DNS}`,
  `sovereign-policy egress ${OPA} to ns(kubernetes.io/metadata.name=sovereign-serving) on TCP/8000`,
  `sovereign-policy ingress ${OPA} from ns(kubernetes.io/metadata.name=sovereign-gateway)/pods(app.kubernetes.io/name=gateway) on TCP/8181`,
  `sovereign-policy ingress ${OPA} from ns(kubernetes.io/metadata.name=sovereign-monitoring) on TCP/8181`,
];

/**
 * Namespaces the kit creates that do not have default-deny in both directions yet (charts
 * whose NetworkPolicies are not rendered here, or ingress-only policies). The list may only
 * shrink: a new namespace without default-deny fails the test. (`cert-manager` came with the
 * gateway's TLS, issue 16, and with the data services' TLS in-cluster: its controller must reach the API server and its webhook be reached
 * by it, at addresses a NetworkPolicy cannot name portably; like KEDA's, not done yet.)
 */
const NOT_YET_DEFAULT_DENIED: Record<string, string[]> = {
  aws: [
    "cert-manager",
    "gatekeeper-system",
    "keda",
    "kueue-system",
    "sovereign-gateway",
    "sovereign-gpu",
    "sovereign-monitoring",
    "sovereign-serving",
  ],
  "existing-cluster": [
    "cert-manager",
    "cnpg-system",
    "gatekeeper-system",
    "sovereign-data",
    "sovereign-gateway",
    "sovereign-monitoring",
    "sovereign-serving",
  ],
};

function expectedFlows(stack: string): string[] {
  const config = parseConfig(rawFromStackFile(stackFile(stack)).raw);
  if (config.substrate.kind === "aws") {
    const db = subnetLayout(
      config.network.cidr,
      config.network.azCount ?? (config.profile === "prod" ? 3 : 2),
    ).database;
    const objectStore = [
      "ip:169.254.170.23/32 on TCP/80",
      ...S3_PREFIX_LIST.map((c) => `ip:${c} on TCP/443`),
    ];
    return [
      ...POLICY_FLOWS,
      `sovereign-substrate egress pods(*) to ${DNS}`,
      ...db.map((c) => `sovereign-substrate egress pods(*) to ip:${c} on TCP/5432`),
      ...config.teams.flatMap((t) => teamFlows(`team-${t.name}`, objectStore)),
      ...config.teams.filter((t) => t.flywheel?.enabled).flatMap((t) => flywheelFlows(`team-${t.name}`)),
    ].sort();
  }
  return [
    ...POLICY_FLOWS,
    ...config.teams.flatMap((t) =>
      teamFlows(`team-${t.name}`, ["ns(kubernetes.io/metadata.name=sovereign-data) on TCP/8443"]),
    ),
    ...config.teams.filter((t) => t.flywheel?.enabled).flatMap((t) => flywheelFlows(`team-${t.name}`)),
  ].sort();
}

for (const stack of ["aws-dev", "aws-prod", "local"] as const) {
  describe(`network flows of ${stack}`, () => {
    let run: StackRun;
    beforeAll(async () => {
      run = await runShippedStack(stack);
      expect(run.error).toBeUndefined();
    });

    it("GIVEN the namespaces with default-deny WHEN their allowed flows are enumerated THEN they are exactly the table", () => {
      const denied = defaultDenied(run.recorder);
      const flows = allowedFlows(run.recorder).filter((f) => denied.has(f.split(" ")[0]));
      expect(flows).toEqual(expectedFlows(stack));
    });

    it("THEN every namespace the kit creates has default-deny both ways, except the listed ones still to do", () => {
      const kind = parseConfig(rawFromStackFile(stackFile(stack)).raw).substrate.kind;
      const denied = defaultDenied(run.recorder);
      const missing = createdNamespaces(run.recorder).filter((n) => !denied.has(n));
      expect(missing).toEqual(NOT_YET_DEFAULT_DENIED[kind]);
    });

    it("THEN no team namespace may send to every address (internet egress is an explicit team setting)", () => {
      for (const f of allowedFlows(run.recorder).filter((x) => x.startsWith("team-")))
        expect(f).not.toMatch(/ to (anywhere|ip:0\.0\.0\.0\/0)/);
    });
  });
}
