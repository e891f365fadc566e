import { describe, expect, it } from "vitest";
import { validateObject } from "./helpers/k8s-schema";

const deployment = (spec: Record<string, unknown>) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "x" },
  spec,
});

describe("offline Kubernetes schema validation", () => {
  it("GIVEN a valid Deployment THEN it validates", async () => {
    const r = await validateObject(
      deployment({
        selector: { matchLabels: { a: "b" } },
        template: {
          metadata: { labels: { a: "b" } },
          spec: { containers: [{ name: "c", image: "nginx:1.27" }] },
        },
      }),
    );
    expect(r).toEqual({ status: "valid" });
  });

  it("GIVEN a Deployment with a wrongly typed field THEN it is invalid with a message", async () => {
    const r = await validateObject(
      deployment({ replicas: "two", selector: { matchLabels: {} }, template: { spec: { containers: [] } } }),
    );
    expect(r.status).toBe("invalid");
  });

  it("GIVEN a ServiceMonitor THEN the Prometheus Operator schema is used", async () => {
    const sm = (spec: unknown) => ({
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata: { name: "m" },
      spec,
    });
    expect(await validateObject(sm({ endpoints: [{ port: "http" }], selector: {} }))).toEqual({
      status: "valid",
    });
    expect((await validateObject(sm({ endpoints: "http", selector: {} }))).status).toBe("invalid");
  });

  it("GIVEN a kind with no offline schema THEN it is reported unvalidated, not passed", async () => {
    expect((await validateObject({ apiVersion: "keda.sh/v1alpha1", kind: "ScaledObject" })).status).toBe(
      "unvalidated",
    );
  });
});
