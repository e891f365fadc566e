import { describe, expect, it } from "vitest";
import { INTERNET_EGRESS_LABEL, planTeam } from "../../components/platform/tenancy-plan";
import { parseConfig } from "../../stacks/config/validate";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";

const team = {
  name: "lab",
  oidcGroup: "lab",
  costCenter: "cc-1",
  clearance: "internal" as const,
  allowedModels: [],
  gpuQuota: { nominal: 0, borrowingLimit: 0 },
  budgets: { tokensPerDay: 1, requestsPerMinute: 1 },
  allowCapture: false,
};
const args = { teams: [team], trainingEnabled: true, cohort: "c" };

describe("internet egress of a team (explicit setting)", () => {
  it("GIVEN the default WHEN planned THEN no policy reaches beyond the cluster and the substrate, and the namespace is not labelled", () => {
    const p = planTeam(team, args);
    expect(p.networkPolicies.map((n) => n.metadata.name)).not.toContain("allow-internet-egress");
    expect(p.namespace.metadata.labels[INTERNET_EGRESS_LABEL]).toBeUndefined();
    expect(JSON.stringify(p.networkPolicies)).not.toContain("0.0.0.0/0");
  });

  it("GIVEN internetEgress WHEN planned THEN HTTPS to public addresses only (never private ranges or metadata), and the namespace says so", () => {
    const p = planTeam({ ...team, internetEgress: true }, args);
    const np = p.networkPolicies.find((n) => n.metadata.name === "allow-internet-egress")!;
    expect(np.spec.egress).toHaveLength(1);
    expect(np.spec.egress[0].ports).toEqual([{ protocol: "TCP", port: 443 }]);
    expect(np.spec.egress[0].to[0].ipBlock.cidr).toBe("0.0.0.0/0");
    expect(np.spec.egress[0].to[0].ipBlock.except).toEqual(
      expect.arrayContaining(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]),
    );
    expect(p.namespace.metadata.labels[INTERNET_EGRESS_LABEL]).toBe("true");
  });

  it("GIVEN the config WHEN a team sets internetEgress THEN it validates and defaults to false", () => {
    const raw = rawFromStackFile(stackFile("aws-dev")).raw as Record<string, any>;
    expect(parseConfig(raw).teams.every((t) => t.internetEgress === false)).toBe(true);
    raw.teams[0].internetEgress = true;
    expect(parseConfig(raw).teams[0].internetEgress).toBe(true);
  });
});
