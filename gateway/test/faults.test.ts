/**
 * Fault tests against real components: OPA and upstream failures, client disconnects, graceful
 * shutdown, PostgreSQL and the object store going away under load, and a gateway killed while
 * records wait on its disk.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closedPort } from "../../test/policies/opa";
import { BUCKET, World } from "./helpers/world";
import { FakeUpstream } from "./helpers/upstream";

const world = new World();
const REPO = path.resolve(__dirname, "../..");

beforeAll(() => world.start());
afterAll(() => world.stop());

async function call(url: string, token: string, body: Record<string, unknown>, signal?: AbortSignal) {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "tiny-chat",
  messages: [{ role: "user", content }],
  ...extra,
});

describe("GIVEN OPA or the model server failing", () => {
  it("WHEN OPA is down THEN the gateway fails closed with 503 and audits the error", async () => {
    const { url } = await world.gateway({ opaUrl: `http://127.0.0.1:${await closedPort()}` });
    const r = await call(url, await world.idp.token(), chat("hi"));
    expect(r.status).toBe(503);
    const b = (await r.json()) as { error: { code: string; type: string } };
    expect(b.error).toEqual(
      expect.objectContaining({ code: "authorization_unavailable", type: "api_error" }),
    );
    const id = r.headers.get("x-request-id")!;
    const row = await world.until(
      async () => (await world.query("SELECT * FROM gateway_audit WHERE request_id = $1", [id]))[0],
      "audit row",
    );
    expect(row).toMatchObject({ decision: "error", status: 503 });
  });

  it("WHEN OPA does not answer within the deadline THEN 503, not a hang", async () => {
    const hang = http.createServer(() => undefined);
    await new Promise<void>((r) => hang.listen(0, "127.0.0.1", r));
    const { url } = await world.gateway({
      opaUrl: `http://127.0.0.1:${(hang.address() as AddressInfo).port}`,
      opaTimeoutMs: 150,
    });
    const r = await call(url, await world.idp.token(), chat("hi"));
    expect(r.status).toBe(503);
    hang.closeAllConnections();
    hang.close();
  });

  it("WHEN the model server is unreachable THEN 502; when it answers 503 THEN 503 is relayed", async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const cat = world.catalog();
    const { url } = await world.gateway({
      catalog: { ...cat, routes: { ...cat.routes, "tiny-chat": dead } },
    });
    const r = await call(url, await world.idp.token(), chat("hi"));
    expect(r.status).toBe(502);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("upstream_error");

    const busy = http.createServer((_q, s) =>
      s
        .writeHead(503, { "content-type": "application/json" })
        .end('{"error":{"message":"overloaded","type":"api_error","param":null,"code":null}}'),
    );
    await new Promise<void>((res) => busy.listen(0, "127.0.0.1", res));
    const { url: url2 } = await world.gateway({
      catalog: {
        ...cat,
        routes: { ...cat.routes, "tiny-chat": `http://127.0.0.1:${(busy.address() as AddressInfo).port}` },
      },
    });
    const r2 = await call(url2, await world.idp.token(), chat("hi"));
    expect(r2.status).toBe(503);
    await r2.arrayBuffer();
    busy.close();
  });
});

describe("GIVEN a slow streaming model server", () => {
  const slow = new FakeUpstream({ chunks: 40, chunkDelayMs: 50 });
  beforeAll(() => slow.start());
  afterAll(() => slow.stop());
  const slowCatalog = () => {
    const cat = world.catalog();
    return { ...cat, routes: { ...cat.routes, "tiny-chat": slow.url } };
  };

  it("WHEN the client disconnects mid-stream THEN the upstream request is aborted", async () => {
    const { url } = await world.gateway({ catalog: slowCatalog() });
    const ac = new AbortController();
    const r = await call(url, await world.idp.token(), chat("go", { stream: true }), ac.signal);
    const reader = r.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain("data: ");
    const before = slow.aborted;
    ac.abort();
    await world.until(() => slow.aborted > before, "the upstream abort");
    expect(slow.completedStreams).toBe(0);
  });

  it("WHEN the gateway shuts down during a stream THEN the stream finishes, new requests are refused and the audit row is written", async () => {
    const { gw, url } = await world.gateway({ catalog: slowCatalog() });
    const r = await call(url, await world.idp.token({ sub: "drain" }), chat("go", { stream: true }));
    const reader = r.body!.getReader();
    await reader.read();
    const stopped = gw.stop();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await stopped;
    expect(text).toContain("data: [DONE]");
    expect(text).toContain("word39");
    await expect(call(url, await world.idp.token(), chat("late"))).rejects.toThrow();
    const rows = await world.query("SELECT status, streamed FROM gateway_audit WHERE subject = 'drain'");
    expect(rows).toEqual([{ status: 200, streamed: true }]);
  });
});

describe("GIVEN load while PostgreSQL and the object store go away", () => {
  it("WHEN both stop and come back under load THEN every request has its audit row and its captured record", async () => {
    // This test is about the audit and capture sinks; a generous OPA deadline keeps a busy
    // CI machine from turning it into a test of OPA's latency (that has its own tests).
    const { url, metricsUrl } = await world.gateway({ opaTimeoutMs: 5000 });
    const token = await world.idp.token({ sub: "load" });
    const ids: string[] = [];
    const statuses: number[] = [];
    const TOTAL = 240;
    let sent = 0;
    let spilledDuringOutage = [0, 0];
    const worker = async () => {
      while (sent < TOTAL) {
        const n = sent++;
        if (n === 60) {
          world.pg.stop();
          await world.s3.stop();
        }
        if (n === 180) {
          // Both sinks have been down for 120 requests: records must be waiting, not lost.
          const m = await (await fetch(`${metricsUrl}/metrics`)).text();
          spilledDuringOutage = [
            Number(/sovereign_gateway_audit_spill_records (\d+)/.exec(m)?.[1]),
            Number(/sovereign_gateway_capture_spill_records (\d+)/.exec(m)?.[1]) +
              Number(/sovereign_gateway_capture_queue_depth (\d+)/.exec(m)?.[1]),
          ];
          world.pg.start();
          await world.s3.start();
        }
        const r = await call(url, token, chat(`load ${n}`));
        statuses.push(r.status);
        ids.push(r.headers.get("x-request-id")!);
        await r.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(spilledDuringOutage[0]).toBeGreaterThan(50);
    expect(spilledDuringOutage[1]).toBeGreaterThan(50);
    const count = await world.until(
      async () => {
        const rows = await world.query<{ n: string }>(
          "SELECT count(*) AS n FROM gateway_audit WHERE request_id = ANY($1)",
          [ids],
        );
        return Number(rows[0].n) === TOTAL && rows;
      },
      "all audit rows",
      300,
      100,
    );
    expect(Number(count[0].n)).toBe(TOTAL);
    const captured = await world.until(
      () => {
        const got = new Set(
          world.s3.records(BUCKET).flatMap((o) => o.lines.map((l) => l.requestId as string)),
        );
        return ids.every((i) => got.has(i)) && got;
      },
      "all captured records",
      300,
      100,
    );
    expect(ids.filter((i) => !captured.has(i))).toEqual([]);
  });
});

function startChild(
  env: Record<string, string>,
): Promise<{ proc: ChildProcess; url: string; metricsUrl: string }> {
  const proc = spawn(process.execPath, ["--import", "tsx", "gateway/src/main.ts"], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`gateway did not start: ${out}`)), 30_000);
    proc.stdout.on("data", (c) => {
      out += String(c);
      const m = /"msg":"gateway listening","port":(\d+),"metricsPort":(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ proc, url: `http://127.0.0.1:${m[1]}`, metricsUrl: `http://127.0.0.1:${m[2]}` });
      }
    });
    proc.on("exit", (code) => reject(new Error(`gateway exited ${code}: ${out}`)));
  });
}

describe("GIVEN a gateway process killed while records wait on its disk", () => {
  it("WHEN it is restarted THEN the spilled audit rows and captures are delivered", async () => {
    const spill = fs.mkdtempSync(path.join(world.tmp, "kill-"));
    const env = world.env(spill);
    const first = await startChild(env);
    const token = await world.idp.token({ sub: "killed" });
    await world.until(async () => (await fetch(`${first.url}/readyz`)).status === 200, "readiness");
    world.pg.stop();
    await world.s3.stop();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await call(first.url, token, chat(`spill ${i} to bob@example.org`));
      expect(r.status).toBe(200);
      ids.push(r.headers.get("x-request-id")!);
      await r.arrayBuffer();
    }
    await world.until(async () => {
      const m = await (await fetch(`${first.metricsUrl}/metrics`)).text();
      return (
        /sovereign_gateway_capture_spill_records 20\b/.test(m) &&
        /sovereign_gateway_audit_spill_records 20\b/.test(m)
      );
    }, "20 records spilled to disk");
    const exited = new Promise((r) => first.proc.once("exit", r));
    first.proc.kill("SIGKILL");
    await exited;
    const files = fs.readdirSync(path.join(spill, "capture"));
    expect(files.some((f) => f.endsWith(".jsonl"))).toBe(true);
    // Nothing unredacted ever reached the disk.
    for (const f of files)
      expect(fs.readFileSync(path.join(spill, "capture", f), "utf8")).not.toContain("bob@example.org");

    world.pg.start();
    await world.s3.start();
    const second = await startChild(env);
    try {
      const got = await world.until(
        () => {
          const s = new Set(
            world.s3.records(BUCKET).flatMap((o) => o.lines.map((l) => l.requestId as string)),
          );
          return ids.every((i) => s.has(i)) && s;
        },
        "captures delivered after restart",
        200,
        100,
      );
      expect(ids.filter((i) => !got.has(i))).toEqual([]);
      const rows = await world.until(
        async () => {
          const r = await world.query<{ n: string }>(
            "SELECT count(*) AS n FROM gateway_audit WHERE request_id = ANY($1)",
            [ids],
          );
          return Number(r[0].n) === ids.length && r;
        },
        "audit rows delivered after restart",
        200,
        100,
      );
      expect(Number(rows[0].n)).toBe(20);
      await world.until(
        () => fs.readdirSync(path.join(spill, "capture")).length === 0,
        "spill directory emptied",
      );
    } finally {
      const done = new Promise((r) => second.proc.once("exit", r));
      second.proc.kill("SIGTERM");
      await done;
    }
  });
});

describe("GIVEN GATEWAY_AUDIT_SYNC (prod's default) and a gateway killed right after answering", () => {
  it("WHEN it is SIGKILLed THEN every answered request's audit row, and every captured request's record (redacted), still reach PostgreSQL and the store after a restart", async () => {
    const spill = fs.mkdtempSync(path.join(world.tmp, "sync-"));
    // A flush interval far beyond the test: without the durable write the rows sit in memory.
    const env = world.env(spill, {
      GATEWAY_AUDIT_SYNC: "true",
      // About durability, not OPA's latency on a busy machine.
      GATEWAY_OPA_TIMEOUT_MS: "5000",
      GATEWAY_FLUSH_INTERVAL_MS: "600000",
      GATEWAY_RETRY_INTERVAL_MS: "600000",
    });
    const first = await startChild(env);
    await world.until(async () => (await fetch(`${first.url}/readyz`)).status === 200, "readiness");
    const token = await world.idp.token({ sub: "sigkill" });
    const ids: string[] = [];
    const rs = await Promise.all(
      // The first is large enough to be redacted on the worker thread, the others on the event loop.
      Array.from({ length: 10 }, (_, i) =>
        call(first.url, token, chat(`durable ${i} ${i ? "" : "word ".repeat(1000)}to bob@example.org`)),
      ),
    );
    for (const r of rs) {
      expect(r.status).toBe(200);
      ids.push(r.headers.get("x-request-id")!);
      await r.arrayBuffer();
    }
    // The 10 answered chats are captured (team demo allows it); the denied request is not.
    const captured = [...ids];
    const denied = await call(first.url, token, { model: "tiny-embed", messages: [] });
    expect(denied.status).toBe(403);
    ids.push(denied.headers.get("x-request-id")!);
    const exited = new Promise((r) => first.proc.once("exit", r));
    first.proc.kill("SIGKILL");
    await exited;
    const second = await startChild(world.env(spill));
    try {
      const rows = await world.until(
        async () => {
          const r = await world.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM gateway_audit WHERE request_id = ANY($1)",
            [ids],
          );
          return r[0].n === ids.length && r;
        },
        "every answered request's audit row",
        100,
        100,
      );
      expect(rows[0].n).toBe(11);
      const records = await world.until(
        () => {
          const got = world.s3
            .records(BUCKET)
            .flatMap((o) => o.lines)
            .filter((l) => captured.includes(l.requestId as string));
          return new Set(got.map((l) => l.requestId)).size === captured.length && got;
        },
        "every answered request's capture record",
        100,
        100,
      );
      expect(new Set(records.map((l) => l.requestId)).size).toBe(10);
      expect(JSON.stringify(records)).not.toContain("bob@example.org");
      expect(JSON.stringify(records)).toContain("[REDACTED]");
    } finally {
      const done = new Promise((r) => second.proc.once("exit", r));
      second.proc.kill("SIGTERM");
      await done;
    }
  });
});
