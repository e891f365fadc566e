import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bucketActions,
  identityActions,
  scopeActions,
  workloadEnv,
} from "../../components/existing-cluster/credentials";
import { bucketNames } from "../../components/existing-cluster/substrate";
import { partitionKey } from "../../gateway/src/capture";
import {
  flywheelAdapterPrefix,
  modelServerPrefixes,
  workloadScopes,
  type BucketRole,
  type Scope,
  type WorkloadKind,
} from "../../components/lib/scopes";

/** A model server of `llama/` serving the adapter legal's flywheel trains on it. */
const MODEL_SERVER = modelServerPrefixes({
  source: "llama/",
  loraAdapters: [],
  flywheelAdapters: [{ team: "legal", adapter: "legal-assistant" }],
});

const buckets = bucketNames("acme");

/**
 * How SeaweedFS's S3 gateway decides a request (identity `canDo` in weed/s3api/auth_credentials.go):
 * an action without a colon applies everywhere; `Verb:bucket` applies to the whole bucket; a
 * trailing `*` is a prefix match on `Verb:bucket/key` (for List, the key is the list prefix).
 */
function canDo(
  actions: readonly string[],
  verb: "Read" | "Write" | "List",
  bucket: string,
  key: string,
): boolean {
  if (actions.includes("Admin") || actions.includes(verb)) return true;
  const target = `${verb}:${bucket}${key === "" ? "" : `/${key}`}`;
  return actions.some((a) =>
    a.endsWith("*")
      ? target.startsWith(a.slice(0, -1))
      : a === `${verb}:${bucket}` || a === `Admin:${bucket}`,
  );
}

/** Reads actions back into scopes: what the identity may do, expressed like `workloadScopes`. */
function scopesOf(actions: readonly string[]): Scope[] {
  const role = (name: string) =>
    (Object.entries(buckets) as [BucketRole, string][]).find(([, b]) => b === name)![0];
  const grants = new Map<string, { read: boolean; list: boolean; write: boolean }>();
  for (const a of actions) {
    const m = /^(Read|Write|List):([^/]+)(?:\/(.*)\*)?$/.exec(a);
    if (!m) throw new Error(`unexpected action ${a}`);
    const k = `${m[2]}|${m[3] ?? ""}`;
    const g = grants.get(k) ?? { read: false, list: false, write: false };
    if (m[1] === "Read") g.read = true;
    if (m[1] === "List") g.list = true;
    if (m[1] === "Write") g.write = true;
    grants.set(k, g);
  }
  return [...grants.entries()].map(([k, g]) => {
    const [bucket, prefix] = k.split("|");
    // Read always comes with List of the same prefix.
    expect(g.read).toBe(g.list);
    const access = g.read && g.write ? "read-write" : g.read ? "read" : "write";
    return { bucket: role(bucket), prefix, access };
  });
}

const sortScopes = (s: Scope[]) => [...s].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
const KINDS: WorkloadKind[] = ["model-server", "training", "gateway", "policy", "flywheel"];
const teamOf = (kind: WorkloadKind) => (kind === "training" || kind === "flywheel" ? "legal" : undefined);

/** Two teams and one whose name starts like the first (a prefix match would leak to it). */
const TWO_TEAMS_AND_A_LOOKALIKE = ["legal", "finance", "legal-2"];

/**
 * Every identity the platform creates, as `[who, actions]`: the shared ones and, per team, trainer
 * (`training:<team>`) and flywheel (`flywheel:<team>`).
 */
function everyIdentity(teams: readonly string[]): [string, string[]][] {
  return [
    ["model-server", identityActions(workloadScopes("model-server", undefined, MODEL_SERVER), buckets)],
    ["gateway", identityActions(workloadScopes("gateway"), buckets)],
    ["policy", identityActions(workloadScopes("policy"), buckets)],
    ...teams.flatMap((t): [string, string[]][] => [
      [`training:${t}`, identityActions(workloadScopes("training", t, ["base/"]), buckets)],
      [`flywheel:${t}`, identityActions(workloadScopes("flywheel", t, ["base/"]), buckets)],
    ]),
  ];
}

describe("object-store identity actions", () => {
  it("GIVEN each workload kind WHEN its actions are read back THEN they grant exactly workloadScopes()", () => {
    for (const kind of KINDS) {
      const scopes = workloadScopes(kind, teamOf(kind), kind === "model-server" ? MODEL_SERVER : []);
      expect(sortScopes(scopesOf(identityActions(scopes, buckets))), kind).toEqual(sortScopes(scopes));
    }
  });

  it("GIVEN a model server THEN it reads and lists its own prefixes of models (weights, its base model's flywheel adapters) but writes nothing and sees nothing else", () => {
    const a = identityActions(workloadScopes("model-server", undefined, MODEL_SERVER), buckets);
    expect(a).toEqual([
      "Read:acme-models/llama/*",
      "List:acme-models/llama/*",
      "Read:acme-models/flywheel/legal/legal-assistant/*",
      "List:acme-models/flywheel/legal/legal-assistant/*",
    ]);
    expect(canDo(a, "Read", buckets.models, "llama/weights.safetensors")).toBe(true);
    const legal = flywheelAdapterPrefix("legal", "legal-assistant");
    expect(canDo(a, "Read", buckets.models, `${legal}serving.json`)).toBe(true);
    expect(canDo(a, "Read", buckets.models, `${legal}v1/adapter/adapter_model.safetensors`)).toBe(true);
    // not the team's other models, not another adapter, not another model's weights
    expect(canDo(a, "Read", buckets.models, "teams/legal/adapter/w.safetensors")).toBe(false);
    expect(canDo(a, "Read", buckets.models, "flywheel/legal-2/legal-assistant/serving.json")).toBe(false);
    expect(canDo(a, "Read", buckets.models, "mistral/weights.safetensors")).toBe(false);
    expect(canDo(a, "Write", buckets.models, "llama/weights.safetensors")).toBe(false);
    expect(canDo(a, "Read", buckets.datasets, "teams/legal/x")).toBe(false);
    expect(canDo(a, "Read", buckets.inferenceLogs, "captures/x")).toBe(false);
  });

  it("GIVEN the gateway and OPA THEN each writes only its own prefix of the inference-log bucket and reads none", () => {
    const gw = identityActions(workloadScopes("gateway"), buckets);
    const opa = identityActions(workloadScopes("policy"), buckets);
    expect(gw).toEqual(["Write:acme-inference-logs/captures/*"]);
    expect(opa).toEqual(["Write:acme-inference-logs/decisions/*"]);
    expect(canDo(gw, "Write", buckets.inferenceLogs, "captures/2026/11/30/a.jsonl")).toBe(true);
    expect(canDo(gw, "Write", buckets.inferenceLogs, "decisions/a.json")).toBe(false);
    expect(canDo(gw, "Read", buckets.inferenceLogs, "captures/a.jsonl")).toBe(false);
    expect(canDo(opa, "Write", buckets.inferenceLogs, "decisions/a.json")).toBe(true);
    expect(canDo(opa, "Write", buckets.inferenceLogs, "captures/a.jsonl")).toBe(false);
  });

  it("GIVEN two teams and any keys WHEN training jobs act THEN each team reaches only its own prefixes", () => {
    // Keys at the bucket root (never under teams/, which the cases below build explicitly).
    const key = fc.stringMatching(/^[a-z0-9][a-z0-9/._-]{0,40}$/).filter((k) => !k.startsWith("teams/"));
    fc.assert(
      fc.property(key, (k) => {
        const legal = identityActions(workloadScopes("training", "legal", ["base/"]), buckets);
        // Own prefixes: read datasets, read-write checkpoints and models.
        expect(canDo(legal, "Read", buckets.datasets, `teams/legal/${k}`)).toBe(true);
        expect(canDo(legal, "Write", buckets.datasets, `teams/legal/${k}`)).toBe(false);
        expect(canDo(legal, "Write", buckets.checkpoints, `teams/legal/${k}`)).toBe(true);
        expect(canDo(legal, "Write", buckets.models, `teams/legal/${k}`)).toBe(true);
        expect(canDo(legal, "List", buckets.checkpoints, `teams/legal/${k}`)).toBe(true);
        // Another team's prefixes, a look-alike prefix, and the bucket roots are out of reach.
        for (const other of [`teams/finance/${k}`, `teams/legal-2/${k}`, k]) {
          expect(canDo(legal, "Read", buckets.datasets, other)).toBe(false);
          expect(canDo(legal, "Write", buckets.checkpoints, other)).toBe(false);
          expect(canDo(legal, "List", buckets.checkpoints, other)).toBe(false);
        }
        // Base models are readable under their prefixes only; other teams' adapters are not.
        expect(canDo(legal, "Read", buckets.models, `base/${k}`)).toBe(true);
        expect(canDo(legal, "Read", buckets.models, `teams/finance/${k}`)).toBe(false);
        if (!k.startsWith("base/")) expect(canDo(legal, "Read", buckets.models, k)).toBe(false);
        expect(canDo(legal, "Write", buckets.models, `teams/finance/${k}`)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it("GIVEN every identity of two teams (and a look-alike team) WHEN any key of captures/ is read THEN only the team's own flywheel reads its own team= partition", () => {
    const teams = TWO_TEAMS_AND_A_LOOKALIKE;
    const identities = everyIdentity(teams);
    const rest = fc.stringMatching(/^[a-z0-9=][a-z0-9=/._-]{0,40}$/);
    fc.assert(
      fc.property(fc.constantFrom(...teams), rest, (team, k) => {
        const key = `captures/team=${team}/${k}`;
        for (const [who, actions] of identities) {
          const own = who === `flywheel:${team}`;
          expect(canDo(actions, "Read", buckets.inferenceLogs, key), `${who} reads ${key}`).toBe(own);
          expect(canDo(actions, "List", buckets.inferenceLogs, key), `${who} lists ${key}`).toBe(own);
        }
        // The seam: the key the gateway really writes for the team is its flywheel's to read only.
        const written = partitionKey(
          "captures/",
          { ts: "2026-12-05T10:00:00.000Z", team, model: "m" },
          k.replace(/\//g, "_"),
        );
        for (const [who, actions] of identities)
          expect(canDo(actions, "Read", buckets.inferenceLogs, written), `${who} reads ${written}`).toBe(
            who === `flywheel:${team}`,
          );
        // Anything else under captures/ (another layout, the bare prefix) is nobody's to read.
        for (const [who, actions] of identities) {
          expect(canDo(actions, "Read", buckets.inferenceLogs, `captures/${k}`), who).toBe(
            who.startsWith("flywheel:") && `captures/${k}`.startsWith(`captures/team=${who.slice(9)}/`),
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it("GIVEN two teams' flywheels WHEN they act on models, datasets and checkpoints THEN each reaches only its own team's prefix and the base models", () => {
    const key = fc.stringMatching(/^[a-z0-9][a-z0-9/._-]{0,40}$/).filter((k) => !k.startsWith("teams/"));
    fc.assert(
      fc.property(key, (k) => {
        const legal = identityActions(workloadScopes("flywheel", "legal", ["base/"]), buckets);
        expect(canDo(legal, "Write", buckets.datasets, `teams/legal/flywheel/${k}`)).toBe(true);
        expect(canDo(legal, "Read", buckets.models, `teams/legal/${k}`)).toBe(true);
        expect(canDo(legal, "Read", buckets.models, `base/${k}`)).toBe(true);
        for (const other of [`teams/finance/${k}`, `teams/legal-2/${k}`]) {
          for (const b of [buckets.models, buckets.datasets, buckets.checkpoints]) {
            expect(canDo(legal, "Read", b, other)).toBe(false);
            expect(canDo(legal, "List", b, other)).toBe(false);
            expect(canDo(legal, "Write", b, other)).toBe(false);
          }
        }
        expect(canDo(legal, "Write", buckets.inferenceLogs, `captures/team=legal/${k}`)).toBe(false);
        expect(canDo(legal, "Read", buckets.inferenceLogs, `decisions/${k}`)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it("GIVEN every identity of two teams (and a look-alike team) WHEN any key of a team's flywheel adapter is written (versions, serving.json) THEN only that team's flywheel identity may (never its trainer)", () => {
    const teams = TWO_TEAMS_AND_A_LOOKALIKE;
    const ids = everyIdentity(teams);
    fc.assert(
      fc.property(
        fc.constantFrom(...teams),
        fc.constantFrom("serving.json", "v1/adapter/adapter_model.safetensors", "v2/run.json"),
        (team, rel) => {
          const key = `${flywheelAdapterPrefix(team, `${team}-assistant`)}${rel}`;
          for (const [who, a] of ids)
            expect(canDo(a, "Write", buckets.models, key), `${who} writes ${key}`).toBe(
              who === `flywheel:${team}`,
            );
        },
      ),
      { numRuns: 100 },
    );
  });

  it("GIVEN a prefix without a trailing slash WHEN turned into actions THEN it is refused with the bad value", () => {
    expect(() =>
      scopeActions({ bucket: "models", prefix: "teams/a", access: "read" }, "acme-models"),
    ).toThrow('"teams/a"');
  });

  it("GIVEN whole-bucket access WHEN rendered THEN no Admin right is granted", () => {
    const a = bucketActions(["b1", "b2"], "read-write");
    expect(a).toEqual(["Read:b1", "List:b1", "Write:b1", "Read:b2", "List:b2", "Write:b2"]);
    expect(a.some((x) => x.startsWith("Admin"))).toBe(false);
  });

  it("GIVEN a workload's env THEN keys come only from its Secret, never as plain values", () => {
    const env = workloadEnv("http://s3:8333", "us-east-1", "model-a-s3");
    expect(env.find((e) => e.name === "AWS_ENDPOINT_URL_S3")?.value).toBe("http://s3:8333");
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) {
      const e = env.find((x) => x.name === name)!;
      expect(e.value).toBeUndefined();
      expect(e.valueFrom).toEqual({ secretKeyRef: { name: "model-a-s3", key: name } });
    }
  });
});
