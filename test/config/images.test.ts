/**
 * Registry mirrors: the image reference maths (with properties), the per-chart image tables,
 * the image plan of each shipped stack, and the config rules that check every image can be
 * pulled and is admitted before anything is deployed.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CHART_IMAGES,
  chartImageValues,
  imageFieldValues,
  withChartImages,
  type ChartImage,
} from "../../components/lib/chart-images";
import {
  admissionRegistryHosts,
  formatImage,
  isUnpinned,
  mirrorImage,
  parseImage,
  registryOf,
} from "../../components/lib/images";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { ConfigError } from "../../stacks/config/errors";
import { parseConfig } from "../../stacks/config/validate";
import { CHART_IMAGE_TABLES, imagePlanOf, stackImages } from "../../stacks/config/image-plan";

const ECR = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";

function raw(stack: string): Record<string, any> {
  return rawFromStackFile(stackFile(stack)).raw as Record<string, any>;
}

/** The messages of the ConfigError a raw config raises (none when it is valid). */
function problems(r: Record<string, any>): string[] {
  try {
    parseConfig(r);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe("image references", () => {
  it("GIVEN references in every form WHEN parsed THEN registry, repository, tag and digest come apart; Docker Hub short names expand", () => {
    expect(parseImage("postgres:16")).toEqual({
      registry: "docker.io",
      repository: "library/postgres",
      tag: "16",
    });
    expect(parseImage("grafana/grafana:12.1.0")).toMatchObject({
      registry: "docker.io",
      repository: "grafana/grafana",
    });
    expect(parseImage("localhost:5000/a/b:1")).toEqual({
      registry: "localhost:5000",
      repository: "a/b",
      tag: "1",
    });
    expect(parseImage("index.docker.io/library/busybox:1.36")).toMatchObject({ registry: "docker.io" });
    const d = `sha256:${"a".repeat(64)}`;
    expect(parseImage(`public.ecr.aws/karpenter/controller:1.8.1@${d}`)).toEqual({
      registry: "public.ecr.aws",
      repository: "karpenter/controller",
      tag: "1.8.1",
      digest: d,
    });
    expect(registryOf("nvcr.io/nvidia/k8s-device-plugin:v0.20.0")).toBe("nvcr.io");
    expect(isUnpinned("quay.io/a/b")).toBe(true);
    expect(isUnpinned("quay.io/a/b:latest")).toBe(true);
    expect(isUnpinned(`quay.io/a/b@${d}`)).toBe(false);
  });

  it("GIVEN a mirror per registry WHEN an image is mirrored THEN only its registry is replaced by the prefix; path and tag stay", () => {
    const m = { "quay.io": `${ECR}/quay`, "docker.io": `${ECR}/docker-hub/`, "nvcr.io": "harbor.corp:8443" };
    expect(mirrorImage("quay.io/prometheus/prometheus:v3.6.0", m)).toBe(
      `${ECR}/quay/prometheus/prometheus:v3.6.0`,
    );
    expect(mirrorImage("busybox:1.36", m)).toBe(`${ECR}/docker-hub/library/busybox:1.36`);
    expect(mirrorImage("nvcr.io/nvidia/k8s-device-plugin:v0.20.0", m)).toBe(
      "harbor.corp:8443/nvidia/k8s-device-plugin:v0.20.0",
    );
    // no mirror for the registry: the reference is returned exactly as given
    expect(mirrorImage("ghcr.io/kedacore/keda:2.21.1", m)).toBe("ghcr.io/kedacore/keda:2.21.1");
  });

  const segment = fc.stringMatching(/^[a-z0-9]{1,8}$/);
  const host = fc.oneof(
    fc.constantFrom("docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "nvcr.io", "public.ecr.aws"),
    fc.tuple(segment, segment).map(([a, b]) => `${a}.${b}.example`),
    fc.tuple(segment, fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `${a}.corp:${p}`),
  );
  const ref = fc
    .record({
      registry: host,
      repository: fc.array(segment, { minLength: 1, maxLength: 3 }).map((p) => p.join("/")),
      tag: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,10}$/),
    })
    .map((r) => ({
      ...r,
      repository:
        r.registry === "docker.io" && !r.repository.includes("/") ? `library/${r.repository}` : r.repository,
    }));
  // A mirror is never Docker Hub's root namespace (`docker.io/a` would mean `library/a`).
  const prefix = fc
    .tuple(
      host.filter((h) => h !== "docker.io"),
      fc.array(segment, { maxLength: 2 }),
    )
    .map(([h, p]) => [h, ...p].join("/"));

  it("PROPERTY: format and parse are inverse", () => {
    fc.assert(
      fc.property(ref, (r) => {
        expect(parseImage(formatImage(r))).toEqual(r);
      }),
    );
  });

  it("PROPERTY: a mirrored image lives under the prefix with the same repository and tag; without a mirror nothing changes", () => {
    fc.assert(
      fc.property(ref, prefix, (r, p) => {
        const image = formatImage(r);
        expect(mirrorImage(image, {})).toBe(image);
        const m = parseImage(mirrorImage(image, { [r.registry]: p }));
        expect(`${m.registry}/${m.repository}`).toBe(`${p}/${r.repository}`);
        expect(m.tag).toBe(r.tag);
      }),
    );
  });
});

describe("admission registry hosts", () => {
  it("GIVEN an allowlist in any case, with Docker Hub WHEN handed to admission THEN hosts are lower case and Docker Hub's other names are added", () => {
    expect(admissionRegistryHosts(["Docker.io", "QUAY.io", `${ECR}`, "quay.io"])).toEqual([
      "docker.io",
      "index.docker.io",
      "registry-1.docker.io",
      "quay.io",
      ECR,
    ]);
    expect(admissionRegistryHosts(["index.docker.io"])).toContain("docker.io");
    expect(admissionRegistryHosts([ECR])).toEqual([ECR]);
  });
});

describe("chart image tables", () => {
  const all = Object.entries(CHART_IMAGE_TABLES).flatMap(([chart, imgs]) =>
    (imgs as readonly ChartImage[]).map((i) => ({ chart, ...i })),
  );

  it("GIVEN every chart image WHEN inspected THEN none is `latest`, each names its registry and a values path", () => {
    expect(all.length).toBeGreaterThan(20);
    for (const i of all) {
      expect(parseImage(i.image).tag, `${i.chart} ${i.role}`).not.toBe("latest");
      expect(i.image.split("/")[0], `${i.chart} ${i.role}: name the registry`).toContain(".");
    }
  });

  it("GIVEN the three key layouts WHEN values are built THEN each chart gets the keys it reads", () => {
    const m = { "quay.io": `${ECR}/quay` };
    expect(
      imageFieldValues(
        "quay.io/prometheus/prometheus:v3.6.0",
        { registry: "registry", repository: "repository", tag: "tag" },
        m,
      ),
    ).toEqual({
      registry: `${ECR}/quay`.split("/")[0],
      repository: "quay/prometheus/prometheus",
      tag: "v3.6.0",
    });
    expect(imageFieldValues("quay.io/a/b:1", { repository: "repository", tag: "tag" }, m)).toEqual({
      repository: `${ECR}/quay/a/b`,
      tag: "1",
    });
    expect(imageFieldValues("quay.io/a/b:1", { image: "image" }, m)).toEqual({ image: `${ECR}/quay/a/b:1` });
    // dotted keys nest; no tag key when the table keeps the chart's default tag
    expect(
      imageFieldValues(
        "docker.io/grafana/grafana",
        { registry: "global.registry", repository: "global.imageName", tag: "image.tag" },
        {},
      ),
    ).toEqual({ global: { registry: "docker.io", imageName: "grafana/grafana" } });
  });

  it("GIVEN a digest WHEN a chart takes registry, repository and tag THEN it is refused, not dropped", () => {
    expect(() =>
      imageFieldValues(`quay.io/a/b@sha256:${"a".repeat(64)}`, { repository: "repository", tag: "tag" }, {}),
    ).toThrow("found a digest");
  });

  it("GIVEN the kit's own values WHEN the images are merged in THEN nothing else changes and arrays are kept whole", () => {
    const values = { image: { pullPolicy: "IfNotPresent" }, tolerations: [{ key: "a" }], replicas: 2 };
    const merged = withChartImages(values, CHART_IMAGES.nvidiaDevicePlugin, {
      "nvcr.io": `${ECR}/mirror/nvcr`,
    });
    expect(merged).toEqual({
      image: {
        pullPolicy: "IfNotPresent",
        repository: `${ECR}/mirror/nvcr/nvidia/k8s-device-plugin`,
        tag: "v0.20.0",
      },
      tolerations: [{ key: "a" }],
      replicas: 2,
    });
    expect(values.image).toEqual({ pullPolicy: "IfNotPresent" });
  });

  it("GIVEN Gatekeeper WHEN its images are set THEN the controller and the CRD hook share `image.release`", () => {
    const v = chartImageValues(CHART_IMAGES.gatekeeper, {}) as Record<string, any>;
    expect(v.image).toEqual({
      repository: "docker.io/openpolicyagent/gatekeeper",
      crdRepository: "docker.io/openpolicyagent/gatekeeper-crds",
      release: "v3.23.0",
    });
  });
});

describe("image plan of the shipped stacks", () => {
  const plan = (stack: string) => stackImages(imagePlanOf(parseConfig(raw(stack))));
  const sources = (stack: string) => [...new Set(plan(stack).map((i) => i.source))].sort();

  it("GIVEN local (no GPU pools, no training, existing-cluster substrate) THEN no NVIDIA, Kueue or Karpenter images; SeaweedFS and CloudNativePG are in", () => {
    // no model autoscales in local: no KEDA either
    expect(sources("local")).toEqual([
      "cloudnativePg",
      "gatekeeper",
      "kit",
      "kubePrometheusStack",
      "seaweedfs",
    ]);
    const images = plan("local").map((i) => i.image);
    expect(images).toContain("ghcr.io/llm-d/llm-d-inference-sim:v0.10.2");
    expect(images).not.toContain("quay.io/prometheus/alertmanager");
    expect(images).not.toContain("quay.io/prometheus/node-exporter");
  });

  it("GIVEN aws-prod THEN GPU, training and AWS substrate images are in, and node-exporter runs in prod", () => {
    expect(sources("aws-prod")).toEqual([
      "certManager",
      "dcgmExporter",
      "gatekeeper",
      "karpenter",
      "keda",
      "kit",
      "kubePrometheusStack",
      "kueue",
      "nvidiaDevicePlugin",
    ]);
    const images = plan("aws-prod").map((i) => i.image);
    expect(images).toContain("quay.io/prometheus/node-exporter");
    expect(images).toContain(`${ECR}/sovereign/gateway:0.1.0`);
    expect(images).toContain("ghcr.io/sovereign-ai/trainer:0.1.0");
    expect(images.filter((i) => i.startsWith("docker.io/vllm/"))).toHaveLength(1);
    // The gateway's private CA: cert-manager, without the ACME solver (no ACME issuer).
    expect(images).toContain("quay.io/jetstack/cert-manager-controller:v1.21.2");
    expect(images).not.toContain("quay.io/jetstack/cert-manager-acmesolver:v1.21.2");
  });

  it("GIVEN the gateway's TLS from a customer issuer, a Secret or off THEN cert-manager's images follow (the ACME solver only with an issuer)", () => {
    const withTls = (tls: Record<string, unknown>) => {
      const r = raw("aws-dev");
      return stackImages(imagePlanOf(parseConfig({ ...r, gateway: { ...r.gateway, tls } }))).map(
        (i) => i.image,
      );
    };
    expect(withTls({ mode: "issuer", issuer: { name: "corp" } })).toContain(
      "quay.io/jetstack/cert-manager-acmesolver:v1.21.2",
    );
    for (const tls of [{ mode: "secret", secretName: "s" }, { mode: "off" }])
      expect(withTls(tls).filter((i) => i.includes("cert-manager"))).toEqual([]);
  });
});

describe("config rules over every image", () => {
  it("GIVEN the shipped stacks THEN every image can be pulled and is admitted", () => {
    for (const s of ["local", "aws-dev", "aws-prod"]) expect(problems(raw(s)), s).toEqual([]);
  });

  it("GIVEN aws-prod without the nvcr.io mirror and without the GHCR credential WHEN validated THEN both are reported at once, naming the images", () => {
    const r = raw("aws-prod");
    delete r.registryMirrors;
    delete r.network.registryCredentialArns["ghcr.io"];
    const p = problems(r);
    expect(p).toHaveLength(2);
    const nvcr = p.find((m) => m.includes('"nvcr.io"')) ?? "";
    expect(nvcr).toMatch(
      /^sovereign:registryMirrors: expected a mirror for "nvcr.io" with network.egress "private"/,
    );
    expect(nvcr).toContain("ECR pull-through cannot cache it");
    expect(nvcr).toContain("nvcr.io/nvidia/k8s-device-plugin:v0.20.0");
    const ghcr = p.find((m) => m.includes('"ghcr.io"')) ?? "";
    expect(ghcr).toMatch(/expected a mirror for "ghcr.io".*network.registryCredentialArns."ghcr.io"/);
    expect(ghcr).toContain("ghcr.io/kedacore/keda:2.21.1");
  });

  it("GIVEN aws-prod whose allowlist lacks the account's ECR WHEN validated THEN the pull-through images are reported at policy.allowedRegistries", () => {
    const r = raw("aws-prod");
    r.policy.allowedRegistries = ["registry.corp.example"];
    const p = problems(r);
    expect(p.join("\n")).toContain(
      "sovereign:policy.allowedRegistries: expected every image the stack runs to come from an allowed registry, found the account's ECR in eu-central-1 not allowed",
    );
    expect(p.join("\n")).toContain(`"${ECR}" not allowed`);
  });

  it("GIVEN local with quay.io dropped from the allowlist WHEN validated THEN the monitoring images are named; a quay.io mirror on an allowed host fixes it", () => {
    const r = raw("local");
    r.policy.allowedRegistries = ["docker.io", "ghcr.io", "registry.k8s.io"];
    const p = problems(r);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(
      /found "quay.io" not allowed \(quay.io\/prometheus-operator\/prometheus-operator:v0.85.0/,
    );
    r.registryMirrors = { "quay.io": "ghcr.io/acme/quay-mirror" };
    expect(problems(r)).toEqual([]);
  });

  it("GIVEN malformed mirrors WHEN validated THEN the schema names the key and the expected form", () => {
    const r = raw("local");
    r.registryMirrors = { "quay.io": "https://mirror.corp/quay", "Not A Host": "mirror.corp" };
    const p = problems(r).join("\n");
    expect(p).toContain("registryMirrors");
    expect(p).toContain("no https://");
    expect(p).toContain("a registry host like nvcr.io");
  });
});
