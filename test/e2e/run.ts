/**
 * `npm run e2e`: applies every shipped stack's Kubernetes objects to a real API server (etcd,
 * kube-apiserver, kube-controller-manager, kube-scheduler, kwok on loopback), waits for the
 * workloads, checks the admission answers, deletes everything in reverse order and shows that
 * nothing is left. Prints one table row per stack; exits non-zero on any failure.
 *
 *   npm run e2e [-- <stack>...] [-- --inject invalid|duplicate]
 *
 * See docs/e2e.md for what is applied, what is not, and why.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { shippedStacks } from "../../stacks/config/load";
import { startControlPlane, tool, type ControlPlane } from "./controlplane";
import { type Kube, messageOf, sleep, waitFor } from "./kube";
import { fakeNodes } from "./nodes";
import {
  duplicates,
  emptyResult,
  failures,
  flattenDocs,
  helmInstallOrder,
  isRelease,
  manifestOf,
  objectKey,
  releaseOf,
  table,
  topologicalOrder,
  unsupported,
  type Manifest,
  type PlannedObject,
  type Recorded,
  type ReleasePlan,
  type StackResult,
  type Unit,
} from "./plan";
import { constraintCrd } from "./gatekeeper";
import { chartMirrorOverride, prepareChartMirror } from "./charts";

const ROOT = path.resolve(__dirname, "../..");
const KUBERNETES_VERSION = "v1.33.13";
/** Objects that make the API server call out to a service (none runs under kwok: pods are fake). */
const CALLS_OUT = new Set(["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService"]);
const SYSTEM_NAMESPACES = new Set(["default", "kube-system", "kube-public", "kube-node-lease"]);
const WAIT_READY_S = 180;
const WAIT_GONE_S = 180;

const log = (s: string) => process.stdout.write(`${s}\n`);

function parseArgs(argv: string[]): {
  stacks: string[];
  inject?: string;
  planOnly: boolean;
  report?: string;
} {
  const stacks: string[] = [];
  let inject: string | undefined;
  let planOnly = false;
  let report: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--inject") inject = argv[++i];
    else if (argv[i] === "--plan-only") planOnly = true;
    else if (argv[i] === "--report") report = argv[++i];
    else if (argv[i] !== "--") stacks.push(argv[i]);
  }
  const all = shippedStacks();
  for (const s of stacks)
    if (!all.includes(s)) throw new Error(`unknown stack '${s}' (shipped: ${all.join(", ")})`);
  if (inject && !["invalid", "duplicate"].includes(inject)) {
    throw new Error(`--inject takes 'invalid' or 'duplicate', not '${inject}'`);
  }
  return { stacks: stacks.length > 0 ? stacks : all, inject, planOnly, report };
}

/** Runs the program of each stack under the recording mocks, in child processes (two at a time). */
async function recordStacks(
  stacks: string[],
  dir: string,
  overrides: Record<string, string>,
): Promise<Map<string, Recorded[]>> {
  const out = new Map<string, Recorded[]>();
  const tsx = path.join(ROOT, "node_modules/.bin/tsx");
  const one = (stack: string) =>
    new Promise<void>((resolve, reject) => {
      const file = path.join(dir, `${stack}.json`);
      let stderr = "";
      const p = spawn(tsx, [path.join(__dirname, "record.ts"), stack, file, JSON.stringify(overrides)], {
        cwd: ROOT,
        stdio: ["ignore", "ignore", "pipe"],
      });
      p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      p.on("exit", (code) => {
        if (code !== 0) return reject(new Error(`recording stack ${stack} failed:\n${stderr.trim()}`));
        out.set(stack, JSON.parse(fs.readFileSync(file, "utf8")) as Recorded[]);
        resolve();
      });
    });
  const queue = [...stacks];
  await Promise.all(
    [0, 1].map(async () => {
      for (let s = queue.shift(); s; s = queue.shift()) await one(s);
    }),
  );
  return out;
}

/** Whether a release's chart is a chart on this machine (a directory or a packaged .tgz). */
function localChart(chart: string): boolean {
  return path.isAbsolute(chart) && fs.existsSync(chart);
}

function renderRelease(rel: ReleasePlan, apiVersions: string[], tmp: string): Manifest[] {
  const values = path.join(tmp, `values-${rel.resource}.json`);
  fs.writeFileSync(values, JSON.stringify(rel.values));
  const args = [
    "template",
    rel.releaseName,
    rel.chart,
    "--namespace",
    rel.namespace,
    "--values",
    values,
    "--kube-version",
    KUBERNETES_VERSION,
    "--include-crds",
    ...apiVersions.flatMap((v) => ["--api-versions", v]),
  ];
  const text = execFileSync(tool("helm"), args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return flattenDocs(parseAllDocuments(text).map((d) => d.toJS()));
}

/** The plan of one stack: units in dependency order, releases not applied, unsupported types. */
function planStack(recorded: Recorded[], apiVersions: string[], tmp: string) {
  const units: Unit[] = [];
  const notApplied: { release: string; reason: string }[] = [];
  const errors = unsupported(recorded).map((t) => `the harness cannot expand ${t}`);
  const namespaces = new Set(
    recorded
      .filter((r) => r.type === "kubernetes:core/v1:Namespace")
      .map((r) => manifestOf(r)!.metadata.name),
  );
  for (const r of topologicalOrder(recorded)) {
    if (isRelease(r)) {
      const rel = releaseOf(r);
      // `createNamespace`: Helm creates the release's namespace when the program does not.
      const createNs: PlannedObject[] =
        rel.createNamespace && !namespaces.has(rel.namespace) && !SYSTEM_NAMESPACES.has(rel.namespace)
          ? [
              {
                manifest: { apiVersion: "v1", kind: "Namespace", metadata: { name: rel.namespace } },
                source: `${rel.resource} (createNamespace)`,
              },
            ]
          : [];
      namespaces.add(rel.namespace);
      if (!localChart(rel.chart)) {
        if (createNs.length > 0) units.push({ urn: r.urn, label: rel.resource, objects: createNs });
        notApplied.push({
          release: `${rel.resource} (chart ${path.basename(rel.chart)}${rel.version ? ` ${rel.version}` : ""}, namespace ${rel.namespace})`,
          reason:
            "not in the local chart mirror: its chart repository cannot be reached from here; its CRDs are installed",
        });
        continue;
      }
      let rendered: Manifest[];
      try {
        rendered = renderRelease(rel, apiVersions, tmp);
      } catch (e) {
        errors.push(
          `helm template of ${rel.resource} failed: ${(e as { stderr?: string }).stderr ?? String(e)}`,
        );
        continue;
      }
      const objects = rendered.map((m) => ({
        manifest: { ...m, metadata: { ...m.metadata, namespace: m.metadata.namespace ?? rel.namespace } },
        source: `${rel.resource}/${m.kind}/${m.metadata.name}`,
      }));
      units.push({
        urn: r.urn,
        label: rel.resource,
        objects: [...createNs, ...helmInstallOrder(objects)],
        release: rel,
      });
      continue;
    }
    const m = manifestOf(r);
    if (m) units.push({ urn: r.urn, label: r.name, objects: [{ manifest: m, source: r.name }] });
  }
  return { units, notApplied, errors };
}

function describe(m: Manifest): string {
  return `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ""}${m.metadata.name}`;
}

/** Applies one object; waits for a kind that a CRD applied moments ago serves. */
async function applyOne(
  kube: Kube,
  m: Manifest,
): Promise<{ ok: boolean; message: string; warnings: string[] }> {
  if (!kube.info(m.apiVersion, m.kind)) {
    await waitFor(30, async () => {
      await kube.discover();
      return kube.info(m.apiVersion, m.kind) ? true : undefined;
    });
  }
  const r = await kube.apply(m);
  if (r.status >= 200 && r.status < 300) return { ok: true, message: "", warnings: r.warnings };
  return { ok: false, message: messageOf(r), warnings: r.warnings };
}

async function waitEstablished(kube: Kube, name: string): Promise<boolean> {
  const ok = await waitFor(30, async () => {
    const crd = await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", undefined, name);
    const established = (crd?.status?.conditions as { type: string; status: string }[] | undefined)?.some(
      (c) => c.type === "Established" && c.status === "True",
    );
    return established ? true : undefined;
  });
  return ok === true;
}

/** Installs the operators' CRDs (scripts/tools.sh `crds`), except those a rendered release ships. */
async function installCrds(
  kube: Kube,
  skip: Set<string>,
): Promise<{ installed: string[]; errors: string[] }> {
  const dir = path.join(ROOT, ".tools/crds");
  if (!fs.existsSync(dir)) throw new Error(`no CRDs at ${dir}: run \`bash scripts/tools.sh e2e\``);
  const installed: string[] = [];
  const errors: string[] = [];
  for (const op of fs.readdirSync(dir).sort()) {
    for (const f of fs
      .readdirSync(path.join(dir, op))
      .filter((x) => x.endsWith(".yaml"))
      .sort()) {
      const docs = flattenDocs(
        parseAllDocuments(fs.readFileSync(path.join(dir, op, f), "utf8")).map((d) => d.toJS()),
      );
      for (const crd of docs.filter((d) => d.kind === "CustomResourceDefinition")) {
        if (skip.has(crd.metadata.name!)) continue;
        const spec = crd.spec as { conversion?: { strategy?: string } };
        // A conversion webhook would be called at a service that does not run here.
        if (spec.conversion?.strategy === "Webhook") spec.conversion = { strategy: "None" };
        const r = await kube.apply(crd);
        if (r.status >= 300) errors.push(`CRD ${crd.metadata.name} (${op}) rejected: ${messageOf(r)}`);
        else installed.push(crd.metadata.name!);
      }
    }
  }
  for (const name of installed) {
    if (!(await waitEstablished(kube, name))) errors.push(`CRD ${name} was not established in 30 s`);
  }
  await kube.discover();
  return { installed, errors };
}

/** Why a workload is not ready yet, or undefined when it is (complete, for a Job). */
function notReadyReason(o: any): string | undefined {
  const st = o?.status ?? {};
  switch (o?.kind) {
    case "Deployment":
    case "StatefulSet": {
      const want = o.spec.replicas ?? 1;
      const ready = st.readyReplicas ?? 0;
      if (ready >= want && (st.observedGeneration ?? 0) >= o.metadata.generation) return undefined;
      const failure = (st.conditions ?? []).find(
        (c: any) => c.type === "ReplicaFailure" && c.status === "True",
      );
      return `${ready}/${want} replicas ready${failure ? ` (${failure.message})` : ""}`;
    }
    case "DaemonSet":
      return (st.numberReady ?? 0) >= (st.desiredNumberScheduled ?? 1) && st.desiredNumberScheduled > 0
        ? undefined
        : `${st.numberReady ?? 0}/${st.desiredNumberScheduled ?? "?"} pods ready`;
    case "Job": {
      const conds = (st.conditions ?? []) as { type: string; status: string; message?: string }[];
      if (conds.some((c) => c.type === "Complete" && c.status === "True")) return undefined;
      const failed = conds.find((c) => c.type === "Failed" && c.status === "True");
      return failed ? `failed: ${failed.message}` : `not complete (succeeded ${st.succeeded ?? 0})`;
    }
    default:
      return undefined;
  }
}

/** Why the pods of a workload's namespace are stuck (scheduler / admission events), for the report. */
async function podHint(kube: Kube, namespace: string | undefined): Promise<string> {
  const events = await kube.list("v1", "Event", namespace);
  const bad = events
    .filter((e) => e.type === "Warning")
    .map((e) => `${e.involvedObject?.kind} ${e.involvedObject?.name}: ${e.reason}: ${e.message}`);
  return bad.length > 0 ? ` [events: ${[...new Set(bad)].slice(-3).join(" | ")}]` : "";
}

const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job"]);

/** A pod that meets `baseline` but not `restricted` (no securityContext), and one that meets `restricted`. */
function probePod(namespace: string, restricted: boolean): Manifest {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `e2e-admission-probe-${restricted ? "restricted" : "baseline"}`, namespace },
    spec: {
      containers: [
        {
          name: "probe",
          image: "registry.k8s.io/pause:3.10",
          ...(restricted
            ? {
                securityContext: {
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ["ALL"] },
                  runAsNonRoot: true,
                  runAsUser: 65532,
                  seccompProfile: { type: "RuntimeDefault" },
                },
              }
            : {}),
        },
      ],
    },
  };
}

async function admissionChecks(kube: Kube, applied: PlannedObject[], result: StackResult): Promise<void> {
  const namespaces = applied.filter((o) => o.manifest.kind === "Namespace").map((o) => o.manifest);
  for (const ns of namespaces) {
    const name = ns.metadata.name!;
    const live = await kube.get("v1", "Namespace", undefined, name);
    const enforce = live?.metadata?.labels?.["pod-security.kubernetes.io/enforce"];
    const team = live?.metadata?.labels?.["sovereign.ai/team"] !== undefined;
    if (team && enforce !== "restricted") {
      result.admission.push({
        check: `team namespace ${name} enforces restricted`,
        ok: false,
        detail: `enforce=${enforce}`,
      });
    }
    if (enforce !== "restricted") continue;
    const bad = await kube.create(probePod(name, false), true);
    const rejected = bad.status === 403 && /violates PodSecurity "restricted/.test(messageOf(bad));
    result.admission.push({
      check: `baseline-only pod rejected in ${name}`,
      ok: rejected,
      detail: rejected ? messageOf(bad).slice(0, 160) : `answer ${bad.status}: ${messageOf(bad)}`,
    });
    const good = await kube.create(probePod(name, true), true);
    result.admission.push({
      check: `restricted pod admitted in ${name}`,
      ok: good.status === 201 || good.status === 200,
      detail: good.status < 300 ? "admitted" : `answer ${good.status}: ${messageOf(good)}`,
    });
  }
  const constraints = applied.filter((o) => o.manifest.apiVersion.startsWith("constraints.gatekeeper.sh/"));
  for (const c of constraints) {
    const m = c.manifest;
    const live = await kube.get(m.apiVersion, m.kind, undefined, m.metadata.name!);
    result.admission.push({
      check: `Gatekeeper constraint ${m.kind}/${m.metadata.name} stored`,
      ok: live !== undefined,
      detail: live ? "stored" : "not found after apply",
    });
  }
}

async function runStack(
  cp: ControlPlane,
  stack: string,
  recorded: Recorded[],
  tmp: string,
  inject: string | undefined,
): Promise<StackResult> {
  const { kube } = cp;
  const result = emptyResult(stack);
  const apiVersions = await servedGroupVersions(kube);
  const plan = planStack(recorded, apiVersions, tmp);
  result.notApplied = plan.notApplied;
  result.errors.push(...plan.errors);
  if (inject) injectFault(plan.units, inject);
  const all = plan.units.flatMap((u) => u.objects);
  result.duplicates = duplicates(all, kube.isClusterScoped);

  // Fake nodes shaped like the stack's pools.
  const nodes = fakeNodes(all.map((o) => o.manifest));
  for (const n of nodes) {
    const r = await kube.create(n);
    if (r.status >= 300 && r.status !== 409)
      result.errors.push(`fake node ${n.metadata.name}: ${messageOf(r)}`);
  }

  const applied: PlannedObject[] = [];
  const standIns: Manifest[] = []; // CRDs Gatekeeper's controller would create from templates
  for (const unit of plan.units) {
    for (const o of unit.objects) {
      const m = o.manifest;
      if (CALLS_OUT.has(m.kind)) {
        result.skippedKinds.push({
          object: `${describe(m)} (${o.source})`,
          reason: "would make the API server call a service that does not run under kwok",
        });
        continue;
      }
      const r = await applyOne(kube, m);
      if (!r.ok) {
        result.rejected.push({ object: `${describe(m)} (${o.source})`, message: r.message });
        continue;
      }
      applied.push(o);
      result.applied++;
      for (const w of r.warnings) result.warnings.push(`${describe(m)} (${o.source}): ${w}`);
      if (m.kind === "ConstraintTemplate") {
        const crd = constraintCrd(m);
        const c = await kube.apply(crd);
        if (c.status >= 300) result.errors.push(`constraint CRD for ${m.metadata.name}: ${messageOf(c)}`);
        else if (!(await waitEstablished(kube, crd.metadata.name!)))
          result.errors.push(`constraint CRD ${crd.metadata.name} not established`);
        else standIns.push(crd);
        await kube.discover();
      }
    }
  }

  // Workloads become ready (or complete) as the controllers, the scheduler and kwok advance them.
  const workloads = applied.filter((o) => WORKLOADS.has(o.manifest.kind));
  const pending = new Map(workloads.map((o) => [objectKey(o.manifest), o]));
  const reasons = new Map<string, string>();
  await waitFor(WAIT_READY_S, async () => {
    for (const [k, o] of pending) {
      const m = o.manifest;
      const live = await kube.get(m.apiVersion, m.kind, m.metadata.namespace, m.metadata.name!);
      const why = live ? notReadyReason(live) : "not found";
      if (why === undefined) pending.delete(k);
      else reasons.set(k, why);
    }
    return pending.size === 0 ? true : undefined;
  });
  result.ready = workloads.length - pending.size;
  for (const [k, o] of pending) {
    result.notReady.push({
      object: `${describe(o.manifest)} (${o.source})`,
      reason: `${reasons.get(k)}${await podHint(kube, o.manifest.metadata.namespace)}`,
    });
  }

  await admissionChecks(kube, applied, result);

  // Delete in reverse order; namespaces the kit created must terminate, and nothing may be left.
  // CustomResourceDefinitions go last, once the namespaces are gone: removing a served API while
  // namespaces terminate makes the namespace controller's discovery fail, and it backs off for
  // minutes (a real cluster behaves the same).
  const isCrd = (o: PlannedObject) => o.manifest.kind === "CustomResourceDefinition";
  const deleteAll = async (objects: PlannedObject[]) => {
    for (const o of [...objects].reverse()) {
      const r = await kube.delete(o.manifest);
      if (r.status >= 300 && r.status !== 404)
        result.errors.push(`delete ${describe(o.manifest)}: ${messageOf(r)}`);
    }
  };
  const stillThere = async (objects: PlannedObject[]) => {
    const left: string[] = [];
    for (const o of objects) {
      const m = o.manifest;
      const live = await kube.get(m.apiVersion, m.kind, m.metadata.namespace, m.metadata.name!);
      if (!live) continue;
      // What holds it: finalizers and the last condition's message (a stuck namespace says why).
      const held = [
        live.metadata?.deletionTimestamp
          ? `deleting since ${live.metadata.deletionTimestamp}`
          : "not deleted",
        ...(live.metadata?.finalizers?.length ? [`finalizers ${live.metadata.finalizers.join(", ")}`] : []),
        ...((live.status?.conditions ?? []) as { status: string; message?: string }[])
          .filter((c) => c.status === "True" && c.message)
          .slice(-2)
          .map((c) => c.message!),
      ];
      left.push(`${describe(m)} (${o.source}): ${held.join("; ")}`);
    }
    return left;
  };
  const deleteAndWait = async (objects: PlannedObject[]) => {
    await deleteAll(objects);
    const gone = await waitFor(WAIT_GONE_S, async () =>
      (await stillThere(objects)).length === 0 ? true : undefined,
    );
    if (!gone) result.left.push(...(await stillThere(objects)));
  };
  await deleteAndWait(applied.filter((o) => !isCrd(o)));
  const standInObjects = standIns.map((crd) => ({
    manifest: crd,
    source: "constraint CRD (Gatekeeper stand-in)",
  }));
  await deleteAndWait([...applied.filter(isCrd), ...standInObjects]);
  for (const n of nodes) await kube.delete(n);
  return result;
}

async function servedGroupVersions(kube: Kube): Promise<string[]> {
  const r = await kube.request("GET", "/apis");
  return (r.body.groups as { versions: { groupVersion: string }[] }[]).flatMap((g) =>
    g.versions.map((v) => v.groupVersion),
  );
}

/** `--inject`: proves the run goes red on a bad object (server rejection) or a duplicate. */
function injectFault(units: Unit[], what: string): void {
  const target = units.find((u) => u.objects.some((o) => o.manifest.kind === "ConfigMap"));
  if (!target) throw new Error("--inject needs a stack with a ConfigMap");
  const cm = target.objects.find((o) => o.manifest.kind === "ConfigMap")!;
  const copy = structuredClone(cm.manifest);
  if (what === "duplicate") {
    target.objects.push({ manifest: copy, source: `${cm.source} (injected duplicate)` });
  } else {
    copy.metadata.name = `${cm.manifest.metadata.name}-injected-invalid`;
    (copy as Record<string, unknown>).data = { "bad key/with slash": 42 };
    target.objects.push({ manifest: copy, source: "injected invalid object" });
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { stacks, inject, planOnly, report } = parseArgs(process.argv.slice(2));
  const needed = planOnly
    ? ["helm"]
    : ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "helm"];
  for (const t of needed) tool(t);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-e2e-plan-"));
  const mirror = prepareChartMirror(path.join(tmp, "charts"));
  log(
    `e2e: stacks ${stacks.join(", ")}; charts from the local mirror ${mirror.dir} (${mirror.charts.join(", ")})`,
  );
  if (planOnly) {
    // No server: what would be applied, in order, and what is not (for debugging the plan).
    const recordings = await recordStacks(stacks, tmp, chartMirrorOverride(mirror.dir));
    for (const stack of stacks) {
      const plan = planStack(recordings.get(stack)!, [], tmp);
      log(`\n== ${stack} (plan only)`);
      for (const u of plan.units) for (const o of u.objects) log(`  ${describe(o.manifest)}  <- ${o.source}`);
      for (const d of duplicates(plan.units.flatMap((u) => u.objects)))
        log(`  DUPLICATE ${d.key}: ${d.sources.join(" and ")}`);
      for (const n of plan.notApplied) log(`  not applied: ${n.release}`);
      for (const e of plan.errors) log(`  ERROR ${e}`);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    return;
  }
  const [recordings, cp] = await Promise.all([
    recordStacks(stacks, tmp, chartMirrorOverride(mirror.dir)),
    startControlPlane(log),
  ]);
  log(`e2e: control plane ready at ${cp.server} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const results: StackResult[] = [];
  try {
    await cp.kube.discover();
    for (const stack of stacks) {
      const t0 = Date.now();
      // CRDs that a rendered release of this stack ships come with it (and go with it).
      const apiVersions = await servedGroupVersions(cp.kube);
      const shipped = new Set(
        planStack(recordings.get(stack)!, apiVersions, tmp)
          .units.flatMap((u) => u.objects)
          .filter((o) => o.manifest.kind === "CustomResourceDefinition")
          .map((o) => o.manifest.metadata.name!),
      );
      const crds = await installCrds(cp.kube, shipped);
      const result = await runStack(cp, stack, recordings.get(stack)!, tmp, inject);
      result.errors.unshift(...crds.errors);
      results.push(result);
      log(
        `\n== ${stack} (${((Date.now() - t0) / 1000).toFixed(1)} s; ${crds.installed.length} operator CRDs installed)`,
      );
      printStack(result);
    }
  } finally {
    await cp.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(`\n${table(results)}`);
  const failed = results.filter((r) => failures(r).length > 0);
  log(`e2e: all stacks in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // The plain closing line (CI reads it); `--report` also writes it as JSON for scripts/test.sh.
  log(`e2e: ${results.length - failed.length} passed, ${failed.length} failed`);
  if (report)
    fs.writeFileSync(
      report,
      JSON.stringify({ passed: results.length - failed.length, failed: failed.length }),
    );
  if (failed.length > 0) process.exitCode = 1;
}

function printStack(r: StackResult): void {
  const section = (title: string, lines: string[]) => {
    if (lines.length === 0) return;
    log(`  ${title}:`);
    for (const l of lines) log(`    - ${l}`);
  };
  log(
    `  applied ${r.applied}, rejected ${r.rejected.length}, ready ${r.ready}, not ready ${r.notReady.length}, left after delete ${r.left.length}`,
  );
  section(
    "DUPLICATE objects (same group, kind, namespace and name)",
    r.duplicates.map((d) => `${d.key}: ${d.sources.join(" and ")}`),
  );
  section(
    "REJECTED by the API server",
    r.rejected.map((x) => `${x.object}: ${x.message}`),
  );
  section(
    "NOT READY",
    r.notReady.map((x) => `${x.object}: ${x.reason}`),
  );
  section("LEFT after delete", r.left);
  section(
    "admission",
    r.admission.map((a) => `${a.ok ? "ok" : "FAILED"} ${a.check}: ${a.detail}`),
  );
  section(
    "third-party releases NOT applied",
    r.notApplied.map((x) => `${x.release}: ${x.reason}`),
  );
  section(
    "objects not applied",
    r.skippedKinds.map((x) => `${x.object}: ${x.reason}`),
  );
  section("warnings from the server (Pod Security ones fail the stack)", r.warnings);
  section("ERRORS", r.errors);
  const f = failures(r);
  log(f.length === 0 ? "  result: ok" : `  result: FAILED (${f.length} problem${f.length > 1 ? "s" : ""})`);
}

main().catch(async (e: unknown) => {
  process.stderr.write(`e2e: ${e instanceof Error ? e.message : String(e)}\n`);
  await sleep(10);
  process.exit(1);
});
