import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ADMISSION_FILES, planGatekeeper } from "../../components/platform/gatekeeper";
import { renderTrainingJob } from "../../components/platform/training-jobs";
import { POLICIES_DIR, readAdmissionRego } from "../../stacks/wiring/policy";
import { toolPath } from "../helpers/tools";

const ADMISSION = path.join(POLICIES_DIR, "admission");

function opa(...args: string[]) {
  return spawnSync(toolPath("opa"), args, { encoding: "utf8" });
}

describe("admission Rego (real pinned OPA)", () => {
  it("GIVEN policies/admission WHEN `opa check --strict` runs THEN it passes", () => {
    const r = opa("check", "--strict", ADMISSION);
    expect(r.stderr + r.stdout).toBe("");
    expect(r.status).toBe(0);
  });

  it("GIVEN policies/admission WHEN `opa fmt -l` runs THEN no file needs formatting", () => {
    const r = opa("fmt", "-l", ADMISSION);
    expect(r.stdout.trim()).toBe("");
    expect(r.status).toBe(0);
  });

  it("GIVEN the admission tests WHEN `opa test` runs THEN every test passes, with allow and deny cases for every constraint", () => {
    const r = opa("test", ADMISSION, "--format=json");
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as {
      package: string;
      name: string;
      fail?: boolean;
      error?: unknown;
    }[];
    expect(results.filter((t) => t.fail || t.error)).toEqual([]);
    const byPackage = new Map<string, string[]>();
    for (const t of results) byPackage.set(t.package, [...(byPackage.get(t.package) ?? []), t.name]);
    for (const pkg of [
      "data.k8sallowedimages_test",
      "data.k8snohostaccess_test",
      "data.k8sgputhroughqueue_test",
      "data.k8srequiredteamlabels_test",
      "data.k8sflywheelidentity_test",
    ]) {
      const names = byPackage.get(pkg) ?? [];
      expect(
        names.some((n) => /allowed|exempt/.test(n)),
        `${pkg} has a compliant case`,
      ).toBe(true);
      expect(
        names.some((n) => /denied/.test(n)),
        `${pkg} has a non-compliant case`,
      ).toBe(true);
    }
  });

  it("GIVEN a broken copy of a policy WHEN its tests run THEN `opa test` fails (the tests can fail)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "admission-"));
    for (const f of ["hostaccess.rego", "hostaccess_test.rego"])
      fs.copyFileSync(path.join(ADMISSION, f), path.join(dir, f));
    const src = fs.readFileSync(path.join(dir, "hostaccess.rego"), "utf8");
    fs.writeFileSync(
      path.join(dir, "hostaccess.rego"),
      src.replace("c.securityContext.privileged == true", "false"),
    );
    const r = opa("test", dir);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toContain("test_privileged_container_is_denied");
  });

  it("GIVEN the Gatekeeper plan WHEN built from the files THEN each template carries its file's Rego as v1 code", () => {
    const rego = readAdmissionRego();
    const plan = planGatekeeper({ rego, allowedRegistries: ["ghcr.io"], teamNamespaces: ["team-a"] });
    const byKind = Object.fromEntries(plan.templates.map((t) => [t.spec.crd.spec.names.kind, t]));
    const files: Record<string, string> = {
      K8sAllowedImages: ADMISSION_FILES.allowedImages,
      K8sNoHostAccess: ADMISSION_FILES.noHostAccess,
      K8sGpuThroughQueue: ADMISSION_FILES.gpuThroughQueue,
      K8sRequiredTeamLabels: ADMISSION_FILES.requiredTeamLabels,
      K8sFlywheelIdentity: ADMISSION_FILES.flywheelIdentity,
    };
    expect(Object.keys(files).sort()).toEqual(plan.templates.map((t) => t.spec.crd.spec.names.kind).sort());
    for (const [kind, file] of Object.entries(files)) {
      const code = byKind[kind].spec.targets[0].code[0];
      expect(code).toEqual({
        engine: "Rego",
        source: { version: "v1", rego: fs.readFileSync(path.join(ADMISSION, file), "utf8") },
      });
      // Gatekeeper requires a `violation` rule in the template's Rego.
      expect(code.source.rego).toMatch(/^violation contains/m);
    }
  });
});

describe("training jobs against the admission constraints (real pinned OPA)", () => {
  const plan = planGatekeeper({
    rego: readAdmissionRego(),
    allowedRegistries: ["ghcr.io", "docker.io"],
    teamNamespaces: ["team-research"],
    teamGroups: ["ai-research"],
    flywheelProtected: [
      { namespace: "team-research", serviceAccounts: ["flywheel-builder"], secrets: ["model-m-api-key"] },
    ],
  });
  // A member of the team's group submits the Job (the flywheel-identity constraint asks who).
  const member = { username: "alice", groups: ["ai-research", "system:authenticated"] };
  const packages: Record<string, string> = {
    K8sAllowedImages: "k8sallowedimages",
    K8sNoHostAccess: "k8snohostaccess",
    K8sGpuThroughQueue: "k8sgputhroughqueue",
    K8sRequiredTeamLabels: "k8srequiredteamlabels",
    K8sFlywheelIdentity: "k8sflywheelidentity",
  };

  function violations(obj: Record<string, any>): string[] {
    const out: string[] = [];
    for (const c of plan.constraints) {
      const input = {
        review: {
          object: obj,
          namespace: obj.metadata.namespace,
          kind: { kind: obj.kind },
          userInfo: member,
        },
        parameters: c.spec.parameters ?? {},
      };
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "adm-"));
      fs.writeFileSync(path.join(dir, "input.json"), JSON.stringify(input));
      const r = opa(
        "eval",
        "-f",
        "json",
        "-d",
        ADMISSION,
        "-i",
        path.join(dir, "input.json"),
        `data.${packages[c.kind]}.violation`,
      );
      fs.rmSync(dir, { recursive: true, force: true });
      expect(r.status, r.stderr).toBe(0);
      const value = JSON.parse(r.stdout).result[0].expressions[0].value as { msg: string }[];
      out.push(...value.map((v) => `${c.metadata.name}: ${v.msg}`));
    }
    return out;
  }

  const job = () =>
    renderTrainingJob({
      kind: "lora",
      name: "j",
      team: "research",
      costCenter: "cc-1",
      modelPrefix: "m/",
      dataset: "d.jsonl",
    });

  it("GIVEN a rendered training Job WHEN admitted THEN no constraint objects", () => {
    expect(violations(job())).toEqual([]);
  });

  it("GIVEN the Job reading the flywheel's model key WHEN a member submits it THEN the flywheel-identity constraint denies it", () => {
    const j = job();
    j.spec.template.spec.containers[0].env = [
      ...(j.spec.template.spec.containers[0].env ?? []),
      { name: "K", valueFrom: { secretKeyRef: { name: "model-m-api-key", key: "api-key" } } },
    ];
    expect(violations(j).filter((m) => m.startsWith("flywheel-identity:"))).toHaveLength(1);
  });

  it("GIVEN the Job without its queue label and team label WHEN admitted THEN the GPU and label constraints deny it", () => {
    const j = job();
    delete j.metadata.labels["kueue.x-k8s.io/queue-name"];
    delete j.metadata.labels.team;
    const v = violations(j);
    expect(v.some((m) => m.startsWith("gpu-through-queue:"))).toBe(true);
    expect(v.some((m) => m.startsWith("required-team-labels:"))).toBe(true);
  });
});
