/**
 * Shared set-up for the existing-cluster substrate tests: configs from the shipped stacks (optionally
 * changed), a substrate built under recording mocks, and secret handling of recorded inputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import type { StackConfig } from "../../stacks/config/schema";
import { parseConfig } from "../../stacks/config/validate";
import type { CreatedSubstrate } from "../../stacks/wiring/substrate";
import { installMocks, ResourceRecorder, settle, type RecordedResource } from "../helpers/mocks";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const rpc = require("@pulumi/pulumi/runtime/rpc") as { specialSigKey: string; specialSecretSig: string };

/** Deterministic, recognisable values for generated passwords and keys. */
export function mockOutputs(r: { type: string; name: string }): Record<string, unknown> {
  if (
    r.type === "random:index/randomPassword:RandomPassword" ||
    r.type === "random:index/randomString:RandomString"
  ) {
    return { result: `generated-${r.name}-0123456789abcdef` };
  }
  return {};
}

/** The raw config of a shipped stack, changed by `edit`. */
export function rawConfig(
  stack: string,
  edit: (raw: Record<string, any>) => void = () => {},
): Record<string, any> {
  const raw = structuredClone(rawFromStackFile(stackFile(stack)).raw) as Record<string, any>;
  edit(raw);
  return raw;
}

export function config(stack: string, edit?: (raw: Record<string, any>) => void): StackConfig {
  return parseConfig(rawConfig(stack, edit));
}

/** An on-prem prod variant of the local stack with two GPU pools. */
export function onPremProd(): StackConfig {
  return config("local", (raw) => {
    raw.profile = "prod";
    raw.substrate = { kind: "existing-cluster", context: "onprem-admin", storageClass: "ceph-block" };
    raw.database = { instances: 3, storageGiB: 100, backupRetentionDays: 14 };
    raw.storage = { bucketPrefix: "acme-ai", volumeSize: "500Gi" };
    raw.policy.guardFailOpen = false;
    // Prod serves the gateway over TLS: the stack's private CA (local's plain HTTP is dev only).
    delete raw.gateway.tls;
    // Prod fetches the identity provider's keys over https only (local's in-cluster dex is http).
    raw.gateway.oidc = { ...raw.gateway.oidc, issuer: "https://sso.acme.example/dex" };
    // GPU nodes run NVIDIA's device plugin and DCGM exporter, from a Harbor proxy of nvcr.io.
    raw.registryMirrors = { "nvcr.io": "harbor.acme.example/nvcr" };
    raw.policy.allowedRegistries = [...raw.policy.allowedRegistries, "harbor.acme.example"];
    raw.training = { enabled: true };
    // Prod names an alert receiver (a relay that needs no login).
    raw.observability = {
      ...raw.observability,
      alertmanager: {
        receiver: "email",
        to: "oncall@acme.example",
        from: "alertmanager@acme.example",
        smarthost: "relay.acme.example:25",
        auth: false,
      },
    };
    raw.gpuPools = [
      {
        name: "serving-l40s",
        purpose: "serving",
        gpuType: "nvidia-l40s",
        gpusPerNode: 4,
        nodeSelector: { "node.acme.example/gpu": "l40s" },
        maxGpus: 8,
      },
      {
        name: "training-h100",
        purpose: "training",
        gpuType: "nvidia-h100",
        gpusPerNode: 8,
        nodeSelector: { "node.acme.example/gpu": "h100" },
        capacityType: "on-demand",
        maxGpus: 16,
      },
    ];
    raw.teams[0].gpuQuota = { nominal: 8, borrowingLimit: 0 };
  });
}

/** A component standing in for a platform component that binds workloads. */
export class FakePlatform extends pulumi.ComponentResource {
  constructor(name: string) {
    super("test:platform:Component", name, {}, {});
    this.registerOutputs({});
  }
}

export interface Built<T> {
  readonly recorder: ResourceRecorder;
  readonly substrate: CreatedSubstrate;
  readonly result: T;
}

/** Builds a substrate with a wiring function under fresh mocks, runs `use`, waits for registrations. */
export async function build<T>(
  wire: (c: StackConfig, ctx: { stack: string }) => CreatedSubstrate,
  cfg: StackConfig,
  use: (s: CreatedSubstrate) => T,
): Promise<Built<T>> {
  const recorder = installMocks({ stack: "test", outputs: mockOutputs });
  const substrate = wire(cfg, { stack: "test" });
  const result = use(substrate);
  await settle();
  return { recorder, substrate, result };
}

function isSecretSig(v: unknown): v is { value: unknown } {
  return (
    typeof v === "object" &&
    v !== null &&
    (v as Record<string, unknown>)[rpc.specialSigKey] === rpc.specialSecretSig
  );
}

/** Recorded inputs with secret wrappers replaced by their values. */
export function unwrapSecrets(v: unknown): unknown {
  if (isSecretSig(v)) return unwrapSecrets(v.value);
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

/** A recorder whose resources carry unwrapped inputs (for schema validation and assertions). */
export function unwrapped(recorder: ResourceRecorder): ResourceRecorder {
  const out = new ResourceRecorder();
  for (const r of recorder.resources)
    out.resources.push({ ...r, inputs: unwrapSecrets(r.inputs) as Record<string, any> });
  return out;
}

/** Whether a dotted input path is covered by a recorded secret path. */
export function isSecretPath(r: RecordedResource, path: string): boolean {
  return r.secretPaths.some((p) => p === "." || p === path || path.startsWith(`${p}.`));
}

/** Every string leaf of a value with its dotted path. */
export function leaves(v: unknown, prefix = ""): { path: string; value: string }[] {
  if (typeof v === "string") return [{ path: prefix, value: v }];
  if (Array.isArray(v)) return v.flatMap((x, i) => leaves(x, prefix ? `${prefix}.${i}` : String(i)));
  if (typeof v === "object" && v !== null) {
    return Object.entries(v).flatMap(([k, x]) => leaves(x, prefix ? `${prefix}.${k}` : k));
  }
  return [];
}

/** The unwrapped inputs of the one resource of `type` named `name`. */
export function inputsOf(recorder: ResourceRecorder, type: string, name: string): Record<string, any> {
  return unwrapSecrets(recorder.one(type, name).inputs) as Record<string, any>;
}
