/**
 * The seam between the naming rules and the program: configs at the edge of what the rules accept
 * (longest names, the longest stack name, cost centers of 63 characters, a flywheel adapter as
 * long as its labels allow) run through the real program under the mocks, and every name and
 * label the program registers must be one the API server and AWS accept. A rule that lets through
 * a value the program turns into an invalid name fails here.
 */
import { describe, expect, it } from "vitest";
import {
  bucketNameProblem,
  dnsLabelProblem,
  dnsSubdomainProblem,
  eksClusterNameProblem,
  iamRoleNamePrefixProblem,
  labelValueProblem,
  postgresIdentifierProblem,
  qualifiedNameProblem,
  rdsIdentifierProblem,
} from "../../components/lib/naming";
import { stackFile } from "../../stacks/config/load";
import type { RecordedResource } from "../helpers/mocks";
import { pulumiConfigFromFile, runProgram } from "../helpers/stack";
import { withFlywheelCapacity } from "../helpers/flywheel-stack";

/** Every `labels`/`matchLabels` map anywhere in a Kubernetes object's inputs. */
function labelMaps(v: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(v)) for (const x of v) labelMaps(x, out);
  else if (v !== null && typeof v === "object")
    for (const [k, x] of Object.entries(v)) {
      if ((k === "labels" || k === "matchLabels") && x !== null && typeof x === "object" && !Array.isArray(x))
        out.push(x as Record<string, unknown>);
      labelMaps(x, out);
    }
  return out;
}

// A Job's name is also its pods' `job-name` label value: at most 63 characters.
const DNS_LABEL_KINDS = new Set(["Namespace", "Service", "Job"]);

/** Every name or label the API server or AWS would refuse, as `type name: problem`. */
function refusals(resources: readonly RecordedResource[]): string[] {
  const out: string[] = [];
  const flag = (r: RecordedResource, what: string, v: unknown, p: (s: string) => string | undefined) => {
    if (typeof v !== "string") return; // unknown until apply (mocks): not a config-made name
    const problem = p(v);
    if (problem) out.push(`${r.type} ${r.name} ${what} "${v}": ${problem}`);
  };
  for (const r of resources) {
    if (r.type.startsWith("kubernetes:") && !r.type.includes("helm.sh")) {
      const meta = (r.inputs.metadata ?? {}) as Record<string, unknown>;
      const kind = r.type.split(":").pop() ?? "";
      flag(r, "name", meta.name, DNS_LABEL_KINDS.has(kind) ? dnsLabelProblem : dnsSubdomainProblem);
      flag(r, "namespace", meta.namespace, dnsLabelProblem);
      // cert-manager labels a Certificate's requests and Secret with its name
      if (kind === "Certificate") flag(r, "name (a label value)", meta.name, labelValueProblem);
      // cert-manager's admission webhook refuses a Certificate whose commonName is over 64
      // characters (X.509's upper bound; `spec.commonName: Too long`): nothing is issued
      if (kind === "Certificate")
        flag(r, "commonName", (r.inputs.spec as Record<string, unknown> | undefined)?.commonName, (v) =>
          v.length > 64 ? `${v.length} characters, cert-manager accepts at most 64` : undefined,
        );
      // Postgres role names: CloudNativePG's managed roles, the AWS login Job's role (SERVICE)
      const spec = (r.inputs.spec ?? {}) as Record<string, any>;
      for (const role of spec.managed?.roles ?? [])
        flag(r, "Postgres role", role.name, postgresIdentifierProblem);
      for (const c of spec.template?.spec?.containers ?? [])
        for (const e of c.env ?? [])
          if (e.name === "SERVICE") flag(r, "Postgres role (SERVICE)", e.value, postgresIdentifierProblem);
      for (const labels of labelMaps(r.inputs))
        for (const [k, v] of Object.entries(labels)) {
          flag(r, "label key", k, qualifiedNameProblem);
          flag(r, `label ${k}`, v, labelValueProblem);
        }
    }
    if (r.type === "aws:eks/cluster:Cluster") flag(r, "name", r.inputs.name, eksClusterNameProblem);
    if (r.type === "aws:rds/instance:Instance")
      flag(r, "identifier", r.inputs.identifier, rdsIdentifierProblem);
    if (r.type.startsWith("aws:s3/bucket")) flag(r, "bucket", r.inputs.bucket, bucketNameProblem);
    if (r.type === "aws:iam/role:Role") {
      flag(r, "namePrefix", r.inputs.namePrefix, iamRoleNamePrefixProblem);
      if (typeof r.inputs.name === "string" && r.inputs.name.length > 64)
        out.push(`${r.name}: role name over 64`);
    }
  }
  return out;
}

/** A shipped stack's flat config with `edit` applied to its parsed `sovereign:` values. */
function edited(stack: string, edit: (c: Record<string, any>) => void) {
  const flat = pulumiConfigFromFile(stackFile(stack));
  const c: Record<string, any> = {};
  for (const [k, v] of Object.entries(flat.config))
    if (k.startsWith("sovereign:"))
      c[k.slice(10)] = v.startsWith("{") || v.startsWith("[") ? JSON.parse(v) : v;
  edit(c);
  for (const [k, v] of Object.entries(c))
    flat.config[`sovereign:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
  return flat;
}

const TEAM = "t".repeat(40); // the schema's longest team name
const ADAPTER = "a".repeat(22); // `${team}-${adapter}` is a label value: 40 + 1 + 22 = 63
const MODEL = "m".repeat(40);

function atTheEdge(c: Record<string, any>, base: string): void {
  c.tags.costCenter = "c".repeat(63);
  c.tags.owner = "Platform_Team.EU-1";
  const model = c.models[0];
  const oldModel = model.name;
  model.name = MODEL;
  for (const t of c.teams) t.allowedModels = t.allowedModels.map((m: string) => (m === oldModel ? MODEL : m));
  const team = c.teams[0];
  team.name = TEAM;
  team.costCenter = "C".repeat(63);
  team.allowCapture = true;
  // A shipped flywheel adapter is replaced, so its name leaves allowedModels too; an enabled
  // flywheel runs through the team's Kueue queue, so training is on.
  const shippedAdapter = team.flywheel?.adapter;
  team.allowedModels = team.allowedModels.filter((m: string) => m !== shippedAdapter);
  team.flywheel = { enabled: true, baseModel: MODEL, adapter: ADAPTER };
  team.allowedModels.push(ADAPTER);
  c.training = { ...c.training, enabled: true };
  // Its chain runs on a training pool (local ships none).
  if (!(c.gpuPools ?? []).some((p: { purpose: string }) => p.purpose === "training")) withFlywheelCapacity(c);
  c.storage.bucketPrefix = `${base}-${"b".repeat(40 - base.length - 1)}`;
}

describe("names at the edge of the rules, through the program", () => {
  it("GIVEN aws-dev at the edge of every naming rule and a 50-character stack name WHEN the program runs THEN AWS and the API server would accept every name and label", async () => {
    const run = await runProgram(
      "s".repeat(50),
      edited("aws-dev", (c) => atTheEdge(c, "acme")),
    );
    expect(run.error).toBeUndefined();
    expect(run.recorder.resources.length).toBeGreaterThan(100);
    expect(refusals(run.recorder.resources)).toEqual([]);
  });

  it("GIVEN local at the edge of every naming rule and a 100-character stack name (Pulumi's longest) WHEN the program runs THEN the API server would accept every name and label", async () => {
    const run = await runProgram(
      "s".repeat(100),
      edited("local", (c) => atTheEdge(c, "loc")),
    );
    expect(run.error).toBeUndefined();
    expect(refusals(run.recorder.resources)).toEqual([]);
  });

  it("GIVEN one character more where a rule draws its line WHEN the program runs THEN it stops with a config error (the rule, not the API server, refuses it)", async () => {
    const run = await runProgram(
      "s".repeat(51),
      edited("aws-dev", (c) => atTheEdge(c, "acme")),
    );
    expect((run.error as Error).message).toContain("RDS identifier");
    expect(run.recorder.resources).toEqual([]);
  });
});
