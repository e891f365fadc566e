/**
 * Platform wiring: policy. OPA (the gateway's decision point) with the authorization Rego and the
 * data document from the config, and Gatekeeper admission control with the Rego of
 * `policies/admission`. The stack reads the policy files; components get their contents.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ADMISSION_FILES, Gatekeeper, type AdmissionRego } from "../../components/platform/gatekeeper";
import { Opa } from "../../components/platform/opa";
import { opaDataFromConfig, teamGroupName } from "../../components/platform/tenancy-plan";
import type { FlywheelProtectedNames } from "../../components/flywheel/plan";
import type * as pulumi from "@pulumi/pulumi";
import { teamNamespace } from "../../components/lib/naming";
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import { resolveSettings } from "../config/settings";
import type { StackContext } from "./context";

/** The repository's `policies/` folder. */
export const POLICIES_DIR = path.resolve(__dirname, "../../policies");

/** Every `.rego` file (tests excluded) under the given subfolders, by path relative to `root`. */
export function readRegoFiles(root: string, subdirs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const abs = path.join(root, rel);
    if (!fs.existsSync(abs)) return;
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      const r = path.posix.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith(".rego") && !e.name.endsWith("_test.rego"))
        out[r] = fs.readFileSync(path.join(root, r), "utf8");
    }
  };
  for (const d of subdirs) walk(d);
  return out;
}

/** The Rego sources of the Gatekeeper templates. */
export function readAdmissionRego(root = POLICIES_DIR): AdmissionRego {
  const read = (f: string) => fs.readFileSync(path.join(root, "admission", f), "utf8");
  return {
    allowedImages: read(ADMISSION_FILES.allowedImages),
    noHostAccess: read(ADMISSION_FILES.noHostAccess),
    gpuThroughQueue: read(ADMISSION_FILES.gpuThroughQueue),
    requiredTeamLabels: read(ADMISSION_FILES.requiredTeamLabels),
    flywheelIdentity: read(ADMISSION_FILES.flywheelIdentity),
  };
}

/** The OPA data document of a config. */
export function opaDataOf(config: StackConfig) {
  return opaDataFromConfig({
    teams: config.teams,
    models: config.models,
    guard: {
      model: config.policy.guardModel,
      family: config.policy.guardFamily,
      timeoutMs: config.policy.guardTimeoutMs,
      failClosed: resolveSettings(config).guard.failClosed,
    },
    redactPatterns: config.gateway.redactPatterns,
  });
}

/**
 * What the flywheel wiring hands admission: its identity in each team namespace, as created, by
 * team (in the order of `flywheelTeams`).
 */
export interface AdmissionInputs {
  flywheelProtected?: Readonly<Record<string, pulumi.Output<FlywheelProtectedNames>>>;
}

/** What OPA and Gatekeeper use of the substrate (the package's `Policy` part passes no more). */
export type PolicySubstrate = Pick<
  Substrate,
  "provider" | "ready" | "registryMirrors" | "chartMirror" | "apiServer"
>;

export function wirePolicy(
  config: StackConfig,
  _ctx: StackContext,
  substrate: PolicySubstrate,
  /** Filled by `wireTenancy` (the Flywheel component), which therefore runs first. */
  admission: AdmissionInputs = {},
): Record<string, unknown> {
  const s = resolveSettings(config);
  const opa = new Opa("opa", {
    substrate,
    policies: readRegoFiles(POLICIES_DIR, ["authz", "data"]),
    data: opaDataOf(config),
    flywheelNamespaces: config.teams.filter((t) => t.flywheel?.enabled).map((t) => teamNamespace(t.name)),
    replicas: s.opa.replicas,
    image: config.images.opa,
  });
  new Gatekeeper("gatekeeper", {
    substrate,
    rego: readAdmissionRego(),
    allowedRegistries: config.policy.allowedRegistries,
    teamNamespaces: config.teams.map((t) => teamNamespace(t.name)),
    teamGroups: config.teams.map((t) => teamGroupName(t)),
    flywheelProtected: Object.values(admission.flywheelProtected ?? {}),
    replicas: s.admission.replicas,
    failClosed: s.admission.failClosed,
  });
  return { opaUrl: opa.url };
}
