/**
 * The network flows of every shipped stack, read back from the recorded NetworkPolicies and
 * compared with the table written out in test/helpers/expected-flows.ts: per namespace that has
 * default-deny in both directions, exactly those ingress and egress peers. An unexpected flow
 * fails the test.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import { SCRAPE_TARGETS } from "../../components/lib/metrics";
import { expectedFlows, MONITORING, PROMETHEUS } from "../helpers/expected-flows";
import { allowedFlows, createdNamespaces, defaultDenied } from "../helpers/flows";
import { contractProblems } from "../observability/invariants";
import type { StackRun } from "../helpers/stack";
import { runShippedStack } from "../helpers/stack";

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
      expect(flows).toEqual(expectedFlows(parseConfig(rawFromStackFile(stackFile(stack)).raw)));
    });

    it("THEN every namespace the kit creates has default-deny both ways", () => {
      const denied = defaultDenied(run.recorder);
      const missing = createdNamespaces(run.recorder).filter((n) => !denied.has(n));
      expect(missing).toEqual([]);
    });

    it("THEN every scrape target is reachable: served on its listed container port, sent to by Prometheus, admitted by its namespace", () => {
      const problems = Object.entries(SCRAPE_TARGETS).flatMap(([key, t]) =>
        contractProblems(key, t, run.recorder.resources),
      );
      expect(problems).toEqual([]);
      const flows = allowedFlows(run.recorder);
      const created = new Set(createdNamespaces(run.recorder));
      const onPort = (f: string, port: number) => f.endsWith(" on any port") || f.includes(`TCP/${port}`);
      for (const [key, t] of Object.entries(SCRAPE_TARGETS)) {
        const out = `sovereign-monitoring egress ${PROMETHEUS} to ns(kubernetes.io/metadata.name=${t.namespace}) on `;
        expect(
          flows.some((f) => f.startsWith(out) && onPort(f, t.containerPort)),
          `${key}: Prometheus → ${t.namespace}`,
        ).toBe(true);
        if (!created.has(t.namespace)) continue;
        const into = new RegExp(
          `^${t.namespace} ingress pods\\(.*\\) from ${MONITORING.replace(/[().]/g, "\\$&")} on `,
        );
        expect(
          flows.some((f) => into.test(f) && onPort(f, t.containerPort)),
          `${key}: ${t.namespace} admits Prometheus`,
        ).toBe(true);
      }
    });

    it("THEN no team namespace may send to every address (internet egress is an explicit team setting)", () => {
      for (const f of allowedFlows(run.recorder).filter((x) => x.startsWith("team-")))
        expect(f).not.toMatch(/ to (anywhere|ip:0\.0\.0\.0\/0)/);
    });
  });
}
