/**
 * Builds the AWS substrate for a shipped stack config under recording mocks, binds one
 * workload of every kind and connects both Postgres services, so tests can assert on the
 * real recorded inputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import type { StackConfig } from "../../stacks/config/schema";
import { parseConfig } from "../../stacks/config/validate";
import { awsSubstrate } from "../../stacks/wiring/aws";
import type { CreatedSubstrate } from "../../stacks/wiring/substrate";
import type { PostgresConnection, WorkloadAccess } from "../../components/substrate";
import { installMocks, settle, type RecordedResource, type ResourceRecorder } from "../helpers/mocks";

export interface Built {
  readonly config: StackConfig;
  readonly recorder: ResourceRecorder;
  readonly substrate: CreatedSubstrate;
  readonly access: Record<"model-server" | "training" | "gateway" | "policy", WorkloadAccess>;
  readonly postgres: PostgresConnection;
}

class Caller extends pulumi.ComponentResource {
  constructor(name: string) {
    super("test:aws:Caller", name, {}, {});
  }
}

export function shippedConfig(stack: string, mutate?: (raw: Record<string, any>) => void): StackConfig {
  const raw = rawFromStackFile(stackFile(stack)).raw as Record<string, any>;
  mutate?.(raw);
  return parseConfig(raw);
}

/** What the harness's model server reads (a base model and one team's flywheel adapter). */
export const MODEL_SERVER_READS = ["llama/", "flywheel/research/research-assistant/"];

export async function build(stack: string, mutate?: (raw: Record<string, any>) => void): Promise<Built> {
  const recorder = installMocks({ stack });
  const config = shippedConfig(stack, mutate);
  const substrate = awsSubstrate(config, { stack });
  const caller = new Caller("platform");
  const bind = (kind: "model-server" | "training" | "gateway" | "policy") =>
    substrate.bindWorkload(
      `platform-${kind}`,
      {
        kind,
        namespace: `ns-${kind}`,
        serviceAccountName: `${kind}-sa`,
        team: kind === "training" ? "research" : undefined,
        readModels: kind === "model-server" ? MODEL_SERVER_READS : undefined,
      },
      { parent: caller },
    );
  const access = {
    "model-server": bind("model-server"),
    training: bind("training"),
    gateway: bind("gateway"),
    policy: bind("policy"),
  };
  const postgres = substrate.connectPostgres(
    "platform-gateway-db",
    "gateway",
    "sovereign-gateway",
    { parent: caller },
    access.gateway,
  );
  await settle();
  return { config, recorder, substrate, access, postgres };
}

/** Parsed JSON of a policy input (string or object). */
export function json(v: unknown): any {
  return typeof v === "string" ? JSON.parse(v) : v;
}

/** Every statement of every IAM-style policy document the substrate recorded. */
export function allStatements(recorder: ResourceRecorder): { r: RecordedResource; s: any }[] {
  const docs: { r: RecordedResource; doc: any }[] = [];
  for (const r of recorder.resources) {
    for (const key of ["policy", "assumeRolePolicy"]) {
      if (typeof r.inputs[key] === "string" && r.inputs[key].includes("Statement"))
        docs.push({ r, doc: JSON.parse(r.inputs[key]) });
    }
  }
  return docs.flatMap(({ r, doc }) => [doc.Statement].flat().map((s: any) => ({ r, s })));
}

export const KEY_ARN = (purpose: string) =>
  `arn:aws:kms:eu-central-1:123456789012:key/substrate-keys-${purpose}`;

/** A recorded input value with any secret wrapper removed (the recorder keeps the wrapper of a whole-object secret). */
export function unsecret(v: any): any {
  return v && typeof v === "object" && "value" in v && Object.keys(v).some((k) => /^[0-9a-f]{32}$/.test(k))
    ? v.value
    : v;
}
