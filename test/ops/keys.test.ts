/**
 * `npm run -s keys`: the CLI against a real PostgreSQL, and the keys it creates against a real
 * gateway (in process, with real OPA and the official openai client): a created key
 * authenticates, a revoked or expired one is 401, and only hashes are stored.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import OpenAI from "openai";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../gateway/src/auth";
import { createApiKey } from "../../gateway/src/db";
import { World } from "../../gateway/test/helpers/world";
import { parseExpiry } from "../../scripts/keys";

const ROOT = path.resolve(__dirname, "../..");
const world = new World();
let url = "";

beforeAll(async () => {
  await world.start();
  ({ url } = await world.gateway());
}, 120_000);
afterAll(() => world.stop());

function keys(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/keys.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, SOVEREIGN_DATABASE_URL: world.pg.url },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function chat(key: string): Promise<number> {
  const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
  try {
    await client.chat.completions.create({ model: "tiny-chat", messages: [{ role: "user", content: "hi" }] });
    return 200;
  } catch (e) {
    return (e as { status?: number }).status ?? -1;
  }
}

describe("npm run -s keys", () => {
  it("GIVEN create with --expires WHEN the key is used THEN it authenticates as its team, and the table holds only its hash, its creator and expiry", async () => {
    const r = keys(
      "create",
      "--stack",
      "local",
      "--team",
      "demo",
      "--expires",
      "30d",
      "--created-by",
      "ops@test",
    );
    expect(r.stderr).toMatch(/^created key \S+ for team demo by ops@test, expires \d{4}-/);
    expect(r.status).toBe(0);
    const key = r.stdout.trim();
    expect(key).toMatch(/^sk-sov-[0-9a-f]{12}\.[0-9a-f]{48}$/);
    const rows = await world.query<{ id: string; key_hash: string; created_by: string; days: number }>(
      "SELECT id, key_hash, created_by, round(extract(epoch FROM expires_at - created_at) / 86400)::int AS days FROM gateway_api_keys WHERE key_hash = $1",
      [hashApiKey(key)],
    );
    expect(rows).toEqual([
      { id: key.slice(7, 19), key_hash: hashApiKey(key), created_by: "ops@test", days: 30 },
    ]);
    const all = JSON.stringify(await world.query("SELECT * FROM gateway_api_keys"));
    expect(all).not.toContain(key.split(".")[1]);
    expect(await chat(key)).toBe(200);
    await world.until(
      async () =>
        (await world.query("SELECT 1 FROM gateway_audit WHERE subject = $1", [`apikey:${rows[0].id}`]))
          .length,
      "audit row",
    );
    const audit = await world.query<{ subject: string; team: string }>(
      "SELECT subject, team FROM gateway_audit WHERE subject = $1",
      [`apikey:${rows[0].id}`],
    );
    expect(audit.length).toBeGreaterThan(0);
    expect(audit.every((a) => a.team === "demo")).toBe(true);
  });

  it("GIVEN a key revoked with the CLI WHEN used THEN 401, and list shows it revoked", async () => {
    const key = keys("create", "--stack", "local", "--team", "demo").stdout.trim();
    const id = key.slice(7, 19);
    const rv = keys("revoke", "--stack", "local", "--id", id);
    expect(rv.stderr).toContain(`revoked key ${id}`);
    expect(rv.status).toBe(0);
    expect(await chat(key)).toBe(401);
    const list = keys("list", "--stack", "local", "--team", "demo");
    expect(list.status).toBe(0);
    const line = list.stdout.split("\n").find((l) => l.startsWith(id));
    expect(line).toMatch(new RegExp(`^${id}\\s+demo\\s+revoked\\s`));
    expect(keys("revoke", "--stack", "local", "--id", id).stderr).toContain(`no active key "${id}"`);
  });

  it("GIVEN a key whose expiry has passed WHEN used THEN 401, and list shows it expired", async () => {
    const pool = new Pool({ connectionString: world.pg.url, max: 1 });
    try {
      const { id, key } = await createApiKey(
        pool,
        "demo",
        "expired",
        () => Math.random().toString(16).slice(2).padEnd(12, "0"),
        hashApiKey,
        { createdBy: "test", expiresAt: new Date(Date.now() - 1000) },
      );
      expect(await chat(key)).toBe(401);
      const line = keys("list", "--stack", "local")
        .stdout.split("\n")
        .find((l) => l.startsWith(id));
      expect(line).toMatch(/\sexpired\s/);
    } finally {
      await pool.end();
    }
  });

  it("GIVEN bad flags WHEN run THEN one clear line names the problem, exit 2, no stack trace", () => {
    const cases: [string[], RegExp][] = [
      [[], /a command is required/],
      [["rotate", "--stack", "local"], /unknown command "rotate"/],
      [["create", "--team", "demo"], /--stack is required/],
      [["create", "--stack", "nope", "--team", "demo"], /no stack "nope"/],
      [["create", "--stack", "local", "--team", "ghosts"], /stack has no team "ghosts" \(teams: demo\)/],
      [
        ["create", "--stack", "local", "--team", "demo", "--expires", "soon"],
        /--expires: expected a duration/,
      ],
      [["create", "--stack", "local", "--team", "demo", "--expires", "2001-01-01"], /not in the future/],
      [["create", "--stack", "local", "--team", "demo", "--colour", "red"], /unknown flag --colour/],
      [["revoke", "--stack", "local"], /--id is required/],
      [["list", "--stack", "local", "--expires", "3d"], /--expires applies to create only/],
      [
        ["create", "--stack", "local", "--team", "demo", "--description", "two\nlines"],
        /--description: control characters .* are not allowed/,
      ],
      [
        ["create", "--stack", "local", "--team", "demo", "--created-by", "me\u001b[2J"],
        /--created-by: control characters .* are not allowed/,
      ],
    ];
    for (const [args, msg] of cases) {
      const r = keys(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.split("\n")[0], args.join(" ")).toMatch(new RegExp(`^keys: .*${msg.source}`));
      expect(r.stderr, args.join(" ")).not.toMatch(/\n\s+at /);
    }
    const noDb = spawnSync(
      process.execPath,
      ["--import", "tsx", "scripts/keys.ts", "list", "--stack", "local"],
      {
        cwd: ROOT,
        encoding: "utf8",
        env: { ...process.env, SOVEREIGN_DATABASE_URL: "" },
      },
    );
    expect(noDb.status).toBe(2);
    expect(noDb.stderr).toMatch(/^keys: no database: pass --database-url/);
  });

  it("GIVEN a stored key whose description holds a newline and an escape WHEN listed THEN its row stays one line, the characters escaped", async () => {
    const pool = new Pool({ connectionString: world.pg.url, max: 1 });
    const { id } = await createApiKey(
      pool,
      "demo",
      "first\nsecond\u001b[31m",
      () => "fedcba9876543210",
      hashApiKey,
    );
    await pool.end();
    const list = keys("list", "--stack", "local");
    expect(list.status, list.stderr).toBe(0);
    const lines = list.stdout.trimEnd().split("\n");
    expect(lines.find((l) => l.startsWith(id))).toMatch(/ first\\nsecond\\u001b\[31m$/);
    expect(lines.filter((l) => /^(second|\[31m)/.test(l))).toEqual([]);
    expect(list.stdout).not.toContain("\u001b");
  });

  it("GIVEN durations and dates WHEN parsed THEN they are counted from now", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(parseExpiry("30d", now).toISOString()).toBe("2026-01-31T00:00:00.000Z");
    expect(parseExpiry("12h", now).toISOString()).toBe("2026-01-01T12:00:00.000Z");
    expect(parseExpiry("90m", now).toISOString()).toBe("2026-01-01T01:30:00.000Z");
    expect(parseExpiry("2026-03-01", now).toISOString()).toBe("2026-03-01T00:00:00.000Z");
  });

  it("GIVEN a duration beyond the last date a Date holds WHEN parsed THEN a usage error, not an invalid date that fails later", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(() => parseExpiry("99999999999d", now)).toThrow(
      /--expires: 99999999999d is too far in the future/,
    );
  });
});
