/**
 * The lora-sync sidecar's decisions one pass at a time (charts/model-server/files/lora_sync.py,
 * `sync_once`), with the real script run by the trainer venv's Python and botocore, against an
 * in-memory store and server (test/flywheel/lora-sync.test.ts runs it against the S3 test store
 * and the vLLM-compatible server): what it may unload, how it reads a missing desired state on
 * AWS, and that nothing it writes lands outside its root.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");
const SCRIPT = path.join(ROOT, "charts/model-server/files/lora_sync.py");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lora-sync-unit-"));
let PY = "";

/** Fake store and server, and one `sync_once` pass; prints {"complete", "status", "loaded", "files", "events"}. */
const HARNESS = String.raw`
import hashlib, importlib.util, io, json, os, sys
from botocore.exceptions import ClientError

spec = importlib.util.spec_from_file_location("lora_sync", sys.argv[1])
ls = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ls)
case = json.loads(sys.stdin.read())
events = []
gets = []
now = [0.0]  # the fake clock of a loop (seconds)
ls.log = lambda event, **f: events.append({"event": event, "t": now[0], **f})


class S3:
    """Objects in memory; a missing key answers like AWS without s3:ListBucket in the request's context."""

    def __init__(self, objects, missing_code, denied, listed_sizes):
        self.objects, self.missing_code, self.denied = objects, missing_code, denied
        self.listed_sizes = listed_sizes  # what a listing says, where it differs from the bytes

    def get_object(self, Bucket, Key):
        gets.append(Key)
        if Key in self.denied:
            raise ClientError({"Error": {"Code": "AccessDenied"}}, "GetObject")
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": self.missing_code}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key].encode())}

    def list_objects_v2(self, Bucket, Prefix, **kw):
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        sizes = {k: self.listed_sizes.get(k, len(self.objects[k].encode())) for k in keys}
        return {"Contents": [{"Key": k, "Size": sizes[k]} for k in keys], "KeyCount": len(keys)}

    def get_paginator(self, _):
        s3 = self

        class P:
            def paginate(self, Bucket, Prefix):
                yield s3.list_objects_v2(Bucket=Bucket, Prefix=Prefix)

        return P()


class Vllm:
    def __init__(self, loaded):
        self.loaded = dict(loaded)

    def adapters(self):
        if case.get("down"):
            raise ConnectionRefusedError("connection refused")
        return set(self.loaded)

    def load(self, name, path):
        self.loaded[name] = path
        return 200, ""

    def unload(self, name):
        self.loaded.pop(name, None)
        return 200, ""


def sha(files):
    lines = "".join(f"{rel} {hashlib.sha256(body.encode()).hexdigest()}\n" for rel, body in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


for rel, body in case.get("files", {}).items():
    os.makedirs(os.path.dirname(os.path.join(case["outside"], rel)), exist_ok=True)
    open(os.path.join(case["outside"], rel), "w").write(body)
objects = {}
for key, files in case.get("versions", {}).items():
    for rel, body in files.items():
        objects[key + rel] = body
def publish(s):
    for v in s.get("versions", []):
        if v.get("contentSha256") == "auto":
            v["contentSha256"] = sha(case["versions"][v["key"]])
    objects[case["prefix"] + "serving.json"] = json.dumps(s)


if case.get("serving") is not None:
    publish(case["serving"])
if case.get("raw") is not None:
    objects[case["prefix"] + "serving.json"] = case["raw"]
for key in case.get("denied", []):
    objects.setdefault(key, "{}")
s3 = S3(objects, case.get("missingCode", "NoSuchKey"), set(case.get("denied", [])), case.get("listedSizes", {}))
vllm = Vllm(case.get("loaded", {}))
plan = {"bucket": "models", "baseModel": "base", "adapters": case["adapters"]}
if case.get("loop"):
    # the sidecar's loop, case["loop"] passes, on a fake clock that its sleep advances; serving.json is
    # rewritten at the times case["changes"] say (as the controller would)
    changes = sorted(case.get("changes", []), key=lambda c: c["at"])

    def sleep(seconds):
        now[0] += seconds
        while changes and changes[0]["at"] <= now[0]:
            publish(changes.pop(0)["serving"])

    # a float, as main() parses LORA_SYNC_INTERVAL_SECONDS
    ls.run(s3, vllm, plan, case["root"], case.get("maxBytes"), float(case["interval"]), "", clock=lambda: now[0], sleep=sleep, passes=case["loop"])
    status = None
else:
    status = ls.sync_once(s3, vllm, plan, case["root"], case.get("maxBytes"))
files = []
for d, _, fs in os.walk(case["outside"]):
    files += [os.path.relpath(os.path.join(d, f), case["outside"]) for f in fs]
print(json.dumps({"complete": status == ls.COMPLETE, "status": status, "gets": gets, "loaded": sorted(vllm.loaded), "files": sorted(files), "events": events}))
`;

interface Result {
  complete: boolean;
  /** complete | partial (the server was reached: the replica turns ready) | unreachable */
  status: string;
  /** the keys read (GetObject), in order */
  gets: string[];
  loaded: string[];
  files: string[];
  events: { event: string; [k: string]: unknown }[];
}

const PREFIX = "teams/research/flywheel/assist/";
const ADAPTERS = [{ team: "research", adapter: "assist", prefix: PREFIX }];
const V1 = { [`${PREFIX}v1/adapter/`]: { "adapter_config.json": "{}", "adapter_model.safetensors": "w" } };

let n = 0;
/** One pass in a fresh root (`<case>/root`, inside `<case>`, whose files are listed). */
function pass(c: Record<string, unknown>): Result {
  const outside = path.join(tmp, `case-${n++}`);
  const root = path.join(outside, "root");
  fs.mkdirSync(root, { recursive: true });
  const r = spawnSync(PY, ["-c", HARNESS, SCRIPT], {
    input: JSON.stringify({ adapters: ADAPTERS, prefix: PREFIX, root, outside, ...c }),
    encoding: "utf8",
    maxBuffer: 64 << 20, // a loop of days prints every read
  });
  if (r.status !== 0) throw new Error(`harness failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Result;
}

beforeAll(() => {
  const venv = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
  if (venv.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${venv.stderr}`);
  PY = path.join(venv.stdout.trim().split("\n").pop()!, "bin/python");
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("lora-sync, one pass", () => {
  it("GIVEN a statically configured adapter whose name starts with '<flywheel adapter>--' WHEN the sidecar syncs THEN it stays loaded (only versions the sidecar put under its root are unloaded)", () => {
    const r = pass({
      loaded: { "assist--legacy": "/adapters/assist--legacy" },
      versions: V1,
      serving: {
        adapter: "assist",
        baseModel: "base",
        versions: [{ version: "v1", phase: "promoted", key: `${PREFIX}v1/adapter/`, contentSha256: "auto" }],
      },
    });
    expect(r.loaded).toEqual(["assist--legacy", "assist--v1"]);
    expect(r.events.filter((e) => e.event === "unloaded")).toEqual([]);
  });

  it("GIVEN a flywheel adapter whose name holds '--' (the config allows it) WHEN serving.json no longer lists its old version THEN the sidecar unloads that version", () => {
    const prefix = "teams/research/flywheel/sup--port/";
    const r = pass({
      adapters: [{ team: "research", adapter: "sup--port", prefix }],
      prefix,
      // v0: loaded by this sidecar at an earlier pass, from its folder under the root
      files: { "root/sup--port/v0/adapter_config.json": "{}" },
      loaded: { "sup--port--v0": "root/sup--port/v0" },
      versions: {
        [`${prefix}v1/adapter/`]: { "adapter_config.json": "{}", "adapter_model.safetensors": "w" },
      },
      serving: {
        adapter: "sup--port",
        baseModel: "base",
        versions: [{ version: "v1", phase: "promoted", key: `${prefix}v1/adapter/`, contentSha256: "auto" }],
      },
    });
    expect(r.loaded).toEqual(["sup--port--v1"]);
  });

  it("GIVEN a loaded name '<adapter>--<path that climbs out of the root>' (loaded by another caller of the runtime endpoints) WHEN the sidecar syncs THEN no folder outside its root is removed", () => {
    const r = pass({
      loaded: { "assist--../../keep": "/elsewhere" },
      files: { "keep/data": "precious" },
      versions: V1,
      serving: {
        adapter: "assist",
        baseModel: "base",
        versions: [{ version: "v1", phase: "promoted", key: `${PREFIX}v1/adapter/`, contentSha256: "auto" }],
      },
    });
    expect(r.files).toContain("keep/data");
  });

  it("GIVEN no serving.json yet and a store that answers AccessDenied for a missing key (AWS: s3:ListBucket only under an s3:prefix condition) WHEN the sidecar syncs THEN the adapter has no versions and the pass is complete (the pod turns ready)", () => {
    const r = pass({ missingCode: "AccessDenied", serving: null });
    expect(r.events.filter((e) => e.event === "state_unreadable")).toEqual([]);
    expect(r.complete).toBe(true);
  });

  it("GIVEN serving.json denied while the prefix lists it (a real AccessDenied) WHEN the sidecar syncs THEN the adapter keeps what it has and the pass is not complete", () => {
    const r = pass({
      missingCode: "AccessDenied",
      loaded: { "assist--v0": "/x" },
      serving: null,
      denied: [`${PREFIX}serving.json`],
    });
    expect(r.complete).toBe(false);
    expect(r.status).toBe("partial"); // still ready: only this adapter's versions wait
    expect(r.loaded).toEqual(["assist--v0"]);
  });

  it("GIVEN a version whose objects' keys climb out of the version's folder WHEN the sidecar syncs THEN nothing is written outside its root and nothing is loaded", () => {
    const evil = `${PREFIX}v2/adapter/`;
    const r = pass({
      versions: { [evil]: { "../../../escaped": "x", "adapter_config.json": "{}" } },
      serving: {
        adapter: "assist",
        baseModel: "base",
        versions: [{ version: "v2", phase: "canary", key: evil, contentSha256: "auto" }],
      },
    });
    expect(r.files.filter((f) => !f.startsWith("root/"))).toEqual([]);
    expect(r.loaded).toEqual([]);
    expect(r.complete).toBe(false);
  });

  it.each([
    ["a version that is a path", { version: "..", key: `${PREFIX}v1/adapter/` }],
    ["a version id holding '--'", { version: "b--v1", key: `${PREFIX}v1/adapter/` }],
    ["a key under another prefix", { version: "v1", key: "teams/other/flywheel/x/v1/adapter/" }],
    ["a key that climbs out of the prefix", { version: "v1", key: `${PREFIX}../../other/v1/adapter/` }],
  ])(
    "GIVEN a serving.json with %s WHEN the sidecar syncs THEN the adapter's state is refused by name and nothing is fetched or loaded",
    (_, v) => {
      const r = pass({
        versions: { ...V1, [v.key]: V1[`${PREFIX}v1/adapter/`] },
        serving: {
          adapter: "assist",
          baseModel: "base",
          versions: [{ ...v, phase: "canary", contentSha256: "auto" }],
        },
      });
      expect(r.events.map((e) => e.event)).toEqual(["state_unreadable"]);
      expect(r.files.filter((f) => f !== "root")).toEqual([]);
      expect(r.loaded).toEqual([]);
    },
  );

  const serving = (versions: { version: string; key: string; contentSha256?: string }[]) => ({
    adapter: "assist",
    baseModel: "base",
    versions: versions.map((v) => ({ phase: "canary", contentSha256: "auto", ...v })),
  });
  const V2KEY = `${PREFIX}v2/adapter/`;
  const BIG = { [V2KEY]: { "adapter_config.json": "{}", "adapter_model.safetensors": "w".repeat(5000) } };

  it("GIVEN a version over the size cap by its listed sizes WHEN the sidecar syncs THEN it is refused by name before any byte is written, the version under the cap loads, and the pass still reaches the server (ready)", () => {
    const r = pass({
      maxBytes: 4096,
      versions: { ...V1, ...BIG },
      serving: serving([
        { version: "v1", key: `${PREFIX}v1/adapter/` },
        { version: "v2", key: V2KEY },
      ]),
    });
    const failed = r.events.filter((e) => e.event === "fetch_failed");
    expect(failed).toHaveLength(1);
    expect(failed[0].version).toBe("v2");
    expect(String(failed[0].error)).toContain(`s3://models/${V2KEY} holds 5002 bytes`);
    expect(String(failed[0].error)).toContain("over the cap of 4096 bytes");
    expect(r.files.filter((f) => f.includes("v2"))).toEqual([]);
    expect(r.gets.filter((k) => k.startsWith(V2KEY))).toEqual([]); // refused from the listing
    expect(r.loaded).toEqual(["assist--v1"]);
    expect(r.status).toBe("partial");
  });

  it("GIVEN a listing that understates a version's size WHEN its download passes the cap THEN it stops there, keeps nothing, and names the version", () => {
    const r = pass({
      maxBytes: 4096,
      versions: BIG,
      listedSizes: { [`${V2KEY}adapter_model.safetensors`]: 10 },
      serving: serving([{ version: "v2", key: V2KEY }]),
    });
    const failed = r.events.filter((e) => e.event === "fetch_failed");
    expect(failed.map((e) => e.version)).toEqual(["v2"]);
    expect(String(failed[0].error)).toContain(`s3://models/${V2KEY} holds`);
    expect(String(failed[0].error)).toContain("over the cap of 4096 bytes");
    expect(r.files.filter((f) => f !== "root")).toEqual([]);
    expect(r.loaded).toEqual([]);
  });

  it("GIVEN a version at or under the cap WHEN the sidecar syncs THEN it loads (the cap counts bytes, not objects)", () => {
    const r = pass({ maxBytes: 5002, versions: BIG, serving: serving([{ version: "v2", key: V2KEY }]) });
    expect(r.loaded).toEqual(["assist--v2"]);
    expect(r.status).toBe("complete");
  });

  it("GIVEN a malformed serving.json or a version whose hash does not match WHEN the sidecar syncs THEN the pass reached the server: the replica turns ready (status partial, not complete)", () => {
    const malformed = pass({ serving: null, raw: '{"adapter": "assist", "versions": [' });
    expect(malformed.status).toBe("partial");
    expect(malformed.events.map((e) => e.event)).toContain("state_unreadable");
    const wrong = pass({
      versions: V1,
      serving: serving([{ version: "v1", key: `${PREFIX}v1/adapter/`, contentSha256: "0".repeat(64) }]),
    });
    expect(wrong.status).toBe("partial");
    expect(wrong.loaded).toEqual([]);
  });

  /** When the sidecar's loop tried to download `version` (fake seconds), and what it said. */
  const attempts = (r: Result, version: string) =>
    r.events.filter((e) => (e.event === "fetch_failed" || e.event === "fetched") && e.version === version);

  it("GIVEN a version whose hash never matches WHEN the sidecar loops for 10 minutes (a pass every 15 s) THEN it downloads it again after 15, 30, 60, 120, 240 s, then every 300 s, not 40 times", () => {
    const r = pass({
      loop: 40,
      interval: 15,
      versions: V1,
      serving: serving([{ version: "v1", key: `${PREFIX}v1/adapter/`, contentSha256: "0".repeat(64) }]),
    });
    const tried = attempts(r, "v1");
    expect(tried.map((e) => e.t)).toEqual([0, 15, 45, 105, 225, 465]);
    expect(tried.map((e) => e.retry_in_seconds)).toEqual([15, 30, 60, 120, 240, 300]);
    expect(tried.every((e) => e.event === "fetch_failed" && String(e.error).includes("content hash"))).toBe(
      true,
    );
    // the objects were read only at those attempts
    expect(r.gets.filter((k) => k === `${PREFIX}v1/adapter/adapter_model.safetensors`)).toHaveLength(6);
    expect(r.loaded).toEqual([]);
  });

  it("GIVEN a failing version WHEN the sidecar loops for an hour THEN the wait stays at the 300 s cap", () => {
    const r = pass({
      loop: 240,
      interval: 15,
      versions: BIG,
      maxBytes: 1024, // over the size cap: refused from the listing, every attempt
      serving: serving([{ version: "v2", key: V2KEY }]),
    });
    const t = attempts(r, "v2").map((e) => e.t as number);
    const gaps = t.slice(1).map((x, i) => x - t[i]);
    expect(gaps.slice(0, 5)).toEqual([15, 30, 60, 120, 240]);
    expect(new Set(gaps.slice(5))).toEqual(new Set([300]));
    expect(t.length).toBe(5 + Math.floor((3600 - 465) / 300) + 1);
  });

  it("GIVEN a version that keeps failing for days (its 1025th failure after about 85 h) WHEN the sidecar loops THEN the wait stays at the 300 s cap, no pass fails, and a version published later still loads", () => {
    // 2 ** 1024 is past a float: the doubling must stop growing once the cap is reached
    const r = pass({
      loop: 20_500,
      interval: 15,
      versions: { ...V1, ...BIG },
      maxBytes: 1024, // v2 is over the size cap: refused at every attempt
      serving: serving([{ version: "v2", key: V2KEY }]),
      changes: [
        {
          at: 306_300,
          serving: serving([
            { version: "v1", key: `${PREFIX}v1/adapter/` },
            { version: "v2", key: V2KEY },
          ]),
        },
      ],
    });
    expect(r.events.filter((e) => e.event === "sync_failed")).toEqual([]);
    const t = attempts(r, "v2").map((e) => e.t as number);
    const gaps = t.slice(1).map((x, i) => x - t[i]);
    expect(t.length).toBeGreaterThan(1025);
    expect(new Set(gaps.slice(5))).toEqual(new Set([300]));
    expect(r.loaded).toEqual(["assist--v1"]);
  });

  it("GIVEN a version in backoff WHEN serving.json names a new hash for it THEN the next pass downloads it (and it loads), without waiting out the backoff", () => {
    const key = `${PREFIX}v1/adapter/`;
    const r = pass({
      loop: 8,
      interval: 15,
      versions: V1,
      serving: serving([{ version: "v1", key, contentSha256: "0".repeat(64) }]),
      // the controller rewrites the state with the right hash at 50 s
      changes: [{ at: 50, serving: serving([{ version: "v1", key, contentSha256: "auto" }]) }],
    });
    expect(attempts(r, "v1").map((e) => [e.t, e.event])).toEqual([
      [0, "fetch_failed"],
      [15, "fetch_failed"],
      [45, "fetch_failed"], // next try due at 105 s
      [60, "fetched"], // the pass after the change
    ]);
    expect(r.loaded).toEqual(["assist--v1"]);
  });

  it("GIVEN two versions, one failing WHEN the sidecar loops THEN the other is fetched and loaded at the first pass (backoff is per version)", () => {
    const r = pass({
      loop: 4,
      interval: 15,
      versions: { ...V1, ...BIG },
      serving: serving([
        { version: "v1", key: `${PREFIX}v1/adapter/` },
        { version: "v2", key: V2KEY, contentSha256: "0".repeat(64) },
      ]),
    });
    expect(attempts(r, "v1").map((e) => [e.t, e.event])).toEqual([[0, "fetched"]]);
    expect(attempts(r, "v2").map((e) => e.t)).toEqual([0, 15, 45]);
    expect(r.loaded).toEqual(["assist--v1"]);
  });

  it("GIVEN a server that does not answer WHEN the sidecar syncs THEN the pass is unreachable (the replica is not yet ready)", () => {
    const r = pass({
      versions: V1,
      serving: serving([{ version: "v1", key: `${PREFIX}v1/adapter/` }]),
      down: true,
    });
    expect(r.status).toBe("unreachable");
  });
});
