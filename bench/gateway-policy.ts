/**
 * How the benches' gateway decides: BENCH_POLICY=wasm (default, as deployed: the policy compiled
 * by the pinned OPA, evaluated in process, with the bench's data document) or BENCH_POLICY=opa
 * (every decision asked of the OPA server over HTTP, as before issue 17).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { OpaData } from "../components/lib/contracts";
import { WASM_DATA_FILE, WASM_POLICY_FILE } from "../components/lib/gateway-policy";
import { compileGatewayPolicy } from "../stacks/wiring/policy-wasm";

export function benchPolicyMode(): "wasm" | "opa" {
  const m = process.env.BENCH_POLICY ?? "wasm";
  if (m !== "wasm" && m !== "opa") throw new Error(`BENCH_POLICY: expected wasm or opa, found "${m}"`);
  return m;
}

/** The gateway's policy environment; for `wasm`, writes the compiled policy and data under `tmp`. */
export function benchPolicyEnv(tmp: string, data: OpaData): Record<string, string> {
  const mode = benchPolicyMode();
  if (mode === "opa") return { GATEWAY_POLICY: "opa" };
  const dir = path.join(tmp, "policy");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, WASM_POLICY_FILE), compileGatewayPolicy());
  fs.writeFileSync(path.join(dir, WASM_DATA_FILE), JSON.stringify(data));
  return { GATEWAY_POLICY: "wasm", GATEWAY_POLICY_DIR: dir };
}
