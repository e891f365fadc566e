import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { renderRoutes } from "../scripts/images";
import { howToCall, localPlan, preflight } from "../scripts/local";
import { rawFromStackFile, stackFile } from "../stacks/config/load";
import { parseConfig } from "../stacks/config/validate";
import { imageRoutes } from "../stacks/config/image-plan";

describe("local deploy scripts (up:local, down:local, preview:local)", () => {
  const cmds = (p: ReturnType<typeof localPlan>) =>
    p.steps.map((s) =>
      s.kind === "demo-key" ? "<demo key via scripts/keys.ts>" : [s.cmd, ...s.args].join(" "),
    );

  it("GIVEN up without a cluster WHEN planned THEN it creates the cluster, builds and loads the gateway, deploys, waits, forwards and creates a demo key", () => {
    const plan = localPlan("up", "/repo", { PULUMI_CONFIG_PASSPHRASE: "pw" }, { clusterExists: false });
    expect(plan.env).toEqual({
      PULUMI_BACKEND_URL: "file:///repo/.pulumi-state",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_CONFIG_PASSPHRASE: "pw",
    });
    expect(cmds(plan)).toEqual([
      "kind create cluster --name sovereign --image kindest/node:v1.33.1",
      "kubectl config use-context kind-sovereign",
      "docker build -t ghcr.io/sovereign-ai/gateway:0.1.0 -f gateway/Dockerfile /repo",
      "kind load docker-image ghcr.io/sovereign-ai/gateway:0.1.0 --name sovereign",
      "mkdir -p /repo/.pulumi-state",
      "pulumi stack select local --create --cwd /repo",
      "pulumi up --yes --stack local --cwd /repo",
      "kubectl -n sovereign-data wait --for=condition=Ready cluster.postgresql.cnpg.io/postgres --timeout=10m",
      "kubectl -n sovereign-data wait --for=condition=complete job -l app.kubernetes.io/name=object-store-buckets --timeout=10m",
      "kubectl -n sovereign-gateway rollout status deploy/gateway --timeout=10m",
      "kubectl -n sovereign-data port-forward svc/postgres-rw 15432:5432",
      "kubectl -n sovereign-gateway port-forward svc/gateway 8080:8080",
      "<demo key via scripts/keys.ts>",
    ]);
  });

  it("GIVEN up with the cluster present, down, and down --delete-cluster WHEN planned THEN only the needed steps run", () => {
    const env = { PULUMI_CONFIG_PASSPHRASE: "", SOVEREIGN_STATE_DIR: "/state" };
    expect(cmds(localPlan("up", "/repo", env, { clusterExists: true }))[0]).toBe(
      "kubectl config use-context kind-sovereign",
    );
    expect(cmds(localPlan("down", "/repo", env, { clusterExists: true }))).toEqual([
      "mkdir -p /state",
      "pulumi stack select local --create --cwd /repo",
      "pulumi destroy --yes --stack local --cwd /repo",
    ]);
    expect(cmds(localPlan("down", "/repo", env, { clusterExists: true, deleteCluster: true })).at(-1)).toBe(
      "kind delete cluster --name sovereign",
    );
    expect(localPlan("down", "/repo", env, { clusterExists: true }).env.PULUMI_CONFIG_PASSPHRASE).toBe("");
  });

  it("GIVEN missing tools and no passphrase WHEN preflighted THEN each tool is named with its hint and the passphrase is refused", () => {
    const none = preflight("up", {}, () => false);
    expect(none.map((p) => p.split(":")[0])).toEqual([
      "missing docker",
      "missing kind",
      "missing kubectl",
      "missing pulumi",
      "PULUMI_CONFIG_PASSPHRASE is not set",
    ]);
    expect(none[1]).toContain("kind.sigs.k8s.io");
    expect(preflight("up", { PULUMI_CONFIG_PASSPHRASE: "x" }, () => true)).toEqual([]);
    expect(preflight("down", { PULUMI_CONFIG_PASSPHRASE: "x" }, (t) => t !== "kind")).toEqual([]);
    expect(preflight("down", { PULUMI_CONFIG_PASSPHRASE: "x" }, (t) => t !== "kind", true)).toHaveLength(1);
  });

  it("GIVEN the script with no tools on PATH and no passphrase WHEN run THEN it lists every problem, exits 2 and changes nothing", () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "bin-"));
    fs.symlinkSync(process.execPath, path.join(bin, "node"));
    fs.symlinkSync("/bin/sh", path.join(bin, "sh"));
    const state = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "state-")), "s");
    const env: Record<string, string> = {
      PATH: bin,
      SOVEREIGN_STATE_DIR: state,
      HOME: os.tmpdir(),
    };
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", path.resolve(__dirname, "../scripts/local.ts"), "up"],
      { cwd: path.resolve(__dirname, ".."), encoding: "utf8", env },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^local: cannot start, nothing was changed:/);
    for (const t of ["docker", "kind", "kubectl", "pulumi"]) expect(r.stderr).toContain(`missing ${t}: `);
    expect(r.stderr).toContain("PULUMI_CONFIG_PASSPHRASE is not set");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(state)).toBe(false);
  });

  it("GIVEN a key WHEN the closing message is printed THEN it has a curl command and an openai snippet with the key", () => {
    const msg = howToCall("sk-sov-abc.def");
    expect(msg).toContain('-H "Authorization: Bearer sk-sov-abc.def"');
    expect(msg).toContain('client = OpenAI(base_url="http://localhost:8080/v1", api_key="sk-sov-abc.def")');
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

  it("GIVEN a mistyped flag, a flag without its value, a bad account or an extra argument WHEN run THEN one line names it and the usage follows, exit 2, no stack trace", () => {
    for (const [args, msg] of [
      [["local", "--acount", "1"], /Unknown option '--acount'/],
      [["local", "--account"], /'--account <value>' argument missing/],
      [["local", "--copy=yes"], /'--copy' does not take an argument/],
      [["aws-prod", "--account", "abc"], /--account: expected a 12-digit AWS account id, found "abc"/],
      [["local", "extra"], /unexpected argument "extra"/],
    ] as [string[], RegExp][]) {
      const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/images.ts", ...args], {
        cwd: path.resolve(__dirname, ".."),
        encoding: "utf8",
      });
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.split("\n")[0], args.join(" ")).toMatch(new RegExp(`^images: .*${msg.source}`));
      expect(r.stderr, args.join(" ")).not.toMatch(/\n\s+at /);
      expect(r.stdout, args.join(" ")).toBe("");
    }
  }, 120_000);
});

describe("--help and -h (scripts/lib/cli.ts)", () => {
  it("GIVEN --help or -h WHEN a helper command is run THEN its usage goes to stdout, exit 0, nothing on stderr", () => {
    for (const [script, args] of [
      ["cost", ["--help"]],
      ["check-config", ["-h"]],
      ["train-submit", ["--help"]],
      ["keys", ["list", "-h"]],
      ["flywheel", ["--help"]],
      ["images", ["local", "--help"]],
      ["export", ["--stack", "local", "-h"]],
    ] as [string, string[]][]) {
      const r = spawnSync(process.execPath, ["--import", "tsx", `scripts/${script}.ts`, ...args], {
        cwd: path.resolve(__dirname, ".."),
        encoding: "utf8",
      });
      expect(r.stderr, `${script} ${args.join(" ")}`).toBe("");
      expect(r.status, `${script} ${args.join(" ")}`).toBe(0);
      expect(r.stdout, `${script} ${args.join(" ")}`).toMatch(/^usage: /);
    }
  }, 180_000);
});
