import { describe, expect, it } from "vitest";
import { renderRoutes } from "../scripts/images";
import { localInvocation } from "../scripts/local";
import { rawFromStackFile, stackFile } from "../stacks/config/load";
import { parseConfig } from "../stacks/config/validate";
import { imageRoutes } from "../stacks/config/image-plan";

describe("local deploy scripts", () => {
  it("GIVEN up WHEN computed THEN it uses a file backend under the repo and the local stack", () => {
    const inv = localInvocation("up", "/repo", {});
    expect(inv.env.PULUMI_BACKEND_URL).toBe("file:///repo/.pulumi-state");
    expect(inv.env.PULUMI_CONFIG_PASSPHRASE).toBe("");
    expect(inv.steps.map((s) => [s.cmd, ...s.args].join(" "))).toEqual([
      "mkdir -p /repo/.pulumi-state",
      "pulumi stack select local --create --cwd /repo",
      "pulumi up --yes --stack local --cwd /repo",
    ]);
  });

  it("GIVEN down with a custom state dir and passphrase WHEN computed THEN both are honoured", () => {
    const inv = localInvocation("down", "/repo", {
      SOVEREIGN_STATE_DIR: "/state",
      PULUMI_CONFIG_PASSPHRASE: "pw",
    });
    expect(inv.env.PULUMI_BACKEND_URL).toBe("file:///state");
    expect(inv.env.PULUMI_CONFIG_PASSPHRASE).toBe("pw");
    expect(inv.steps[2].args.slice(0, 2)).toEqual(["destroy", "--yes"]);
  });
});

describe("images script", () => {
  const config = (stack: string) => parseConfig(rawFromStackFile(stackFile(stack)).raw);

  it("GIVEN aws-prod WHEN its images are routed THEN nvcr.io goes through the mirror, the own gateway directly, the rest through ECR pull-through", () => {
    const routes = imageRoutes(config("aws-prod"), "111122223333.dkr.ecr.eu-central-1.amazonaws.com");
    const via = (role: string) => routes.find((r) => r.role === role)!;
    expect(via("device plugin")).toMatchObject({
      via: "mirror",
      pull: "123456789012.dkr.ecr.eu-central-1.amazonaws.com/mirror/nvcr/nvidia/k8s-device-plugin:v0.20.0",
    });
    expect(via("gateway").via).toBe("direct");
    expect(via("Prometheus")).toMatchObject({
      via: "pull-through",
      pull: "111122223333.dkr.ecr.eu-central-1.amazonaws.com/quay/prometheus/prometheus:v3.6.0",
    });
    expect(new Set(routes.map((r) => r.via))).toEqual(new Set(["mirror", "direct", "pull-through"]));
    expect(renderRoutes(routes, true).split("\n")).toEqual([
      "crane copy nvcr.io/nvidia/k8s-device-plugin:v0.20.0 123456789012.dkr.ecr.eu-central-1.amazonaws.com/mirror/nvcr/nvidia/k8s-device-plugin:v0.20.0",
      "crane copy nvcr.io/nvidia/k8s/dcgm-exporter:4.6.0-4.8.3-distroless 123456789012.dkr.ecr.eu-central-1.amazonaws.com/mirror/nvcr/nvidia/k8s/dcgm-exporter:4.6.0-4.8.3-distroless",
    ]);
  });

  it("GIVEN a quay.io mirror WHEN copy lines are printed THEN tagged images get crane copy and images that keep the chart's tag get a comment, never an untagged copy", () => {
    const c = { ...config("local"), registryMirrors: { "quay.io": "harbor.corp/quay" } };
    const lines = renderRoutes(imageRoutes(c), true).split("\n");
    expect(lines).toContain(
      "crane copy quay.io/prometheus/prometheus:v3.6.0 harbor.corp/quay/prometheus/prometheus:v3.6.0",
    );
    expect(lines).toContain(
      "# quay.io/kiwigrid/k8s-sidecar (kubePrometheusStack: Grafana dashboard and datasource sidecars) keeps the chart version's own tag: copy the tag `helm template` shows to harbor.corp/quay/kiwigrid/k8s-sidecar",
    );
    for (const l of lines.filter((x) => x.startsWith("crane copy ")))
      expect(l.split(" ")[2]).toMatch(/:[^/]+$/);
  });

  it("GIVEN local WHEN routed THEN every image is pulled directly, and the table lists each one", () => {
    const routes = imageRoutes(config("local"));
    expect(routes.every((r) => r.via === "direct" && r.pull === r.image)).toBe(true);
    const table = renderRoutes(routes, false).split("\n");
    expect(table[0]).toMatch(/^source\s+role\s+via\s+pulled as$/);
    expect(table).toHaveLength(routes.length + 2);
    expect(renderRoutes(routes, true)).toBe("");
  });
});
