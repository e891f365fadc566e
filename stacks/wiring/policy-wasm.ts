/**
 * The gateway's in-process policy: `policies/authz` and `policies/data` compiled to WebAssembly
 * by the pinned OPA (`opa build -t wasm`), at deploy time, from the same files OPA's bundle is
 * made of. The result is the gzipped `policy.wasm` the gateway loads (gateway/src/policy.ts).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import { WASM_ENTRYPOINTS } from "../../components/lib/gateway-policy";

const REPO = path.resolve(__dirname, "../..");
/** The policy folders the gateway's decision is built from (the same as OPA's bundle). */
export const GATEWAY_POLICY_DIRS = ["policies/authz", "policies/data"] as const;

/** The pinned OPA of `scripts/tools.sh`, else `opa` on the PATH. */
export function opaBinary(): string {
  const pinned = path.join(REPO, ".tools/bin/opa");
  return fs.existsSync(pinned) ? pinned : "opa";
}

const cache = new Map<string, Buffer>();

/**
 * Compiles the policy; the same sources give the same bytes (memoized per process). A missing
 * OPA or a policy that does not compile ends the run with a message that says so and no stack
 * trace (`pulumi.RunError`).
 */
export function compileGatewayPolicy(o: { root?: string; opa?: string } = {}): Buffer {
  const root = o.root ?? REPO;
  const opa = o.opa ?? opaBinary();
  const h = createHash("sha256").update(opa);
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".rego") && !e.name.endsWith("_test.rego"))
        h.update(p).update("\0").update(fs.readFileSync(p)).update("\0");
    }
  };
  for (const d of GATEWAY_POLICY_DIRS) walk(path.join(root, d));
  const key = h.digest("hex");
  const hit = cache.get(key);
  if (hit) return hit;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-wasm-"));
  try {
    const out = path.join(tmp, "bundle.tar.gz");
    const r = spawnSync(
      opa,
      [
        "build",
        "-t",
        "wasm",
        ...WASM_ENTRYPOINTS.flatMap((e) => ["-e", e]),
        "--ignore",
        "*_test.rego",
        "-o",
        out,
        ...GATEWAY_POLICY_DIRS,
      ],
      { cwd: root, encoding: "utf8" },
    );
    if (r.error)
      throw new pulumi.RunError(
        `policy: the gateway's policy is compiled with OPA at deploy time, and ${opa} could not run (${r.error.message}): run \`bash scripts/tools.sh\``,
      );
    if (r.status !== 0) throw new pulumi.RunError(`policy: opa build -t wasm failed:\n${r.stderr}`);
    const wasm = tarEntry(zlib.gunzipSync(fs.readFileSync(out)), "/policy.wasm");
    const gz = zlib.gzipSync(wasm, { level: 9 });
    cache.set(key, gz);
    return gz;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** One file of an (uncompressed) tar archive. */
export function tarEntry(tar: Buffer, name: string): Buffer {
  const want = name.replace(/^\/+/, "");
  for (let off = 0; off + 512 <= tar.length;) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (a: number, n: number) =>
      header
        .subarray(a, a + n)
        .toString("utf8")
        .replace(/\0.*$/s, "");
    const entry = (field(345, 155) ? `${field(345, 155)}/` : "") + field(0, 100);
    const size = parseInt(field(124, 12).trim() || "0", 8);
    if (entry.replace(/^\/+/, "") === want) return Buffer.from(tar.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`policy: the OPA bundle has no ${name}`);
}
