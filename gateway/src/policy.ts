/**
 * The policy engines the gateway can decide with. Both evaluate the same entrypoint,
 * `data.sovereign.authz.plan`, of the same Rego (`policies/authz`, `policies/data`):
 *
 * - `wasm` (the default): the policy compiled to WebAssembly by the pinned OPA
 *   (`opa build -t wasm`), evaluated in process. The compiled policy and the data document are
 *   files in a folder (a ConfigMap volume in the cluster); the gateway re-reads them every
 *   `pollMs` and swaps in a changed policy or data document without a restart. A change that does
 *   not load keeps the previous policy (and is logged and counted).
 * - `opa`: the OPA server over HTTP (`POST /v1/data/sovereign/authz/plan`).
 *
 * A plan is the decision, or the guard call to make first (gateway/src/guard.ts); the caller then
 * evaluates again with the verdict as `input.guard`.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { loadPolicy, type LoadedPolicy } from "@open-policy-agent/opa-wasm";
import {
  PLAN_ENTRYPOINT,
  WASM_DATA_FILE,
  WASM_ENTRYPOINTS,
  WASM_POLICY_FILE,
} from "../../components/lib/gateway-policy";
import type { AuthzDecision, AuthzInput } from "../../components/lib/contracts";
import {
  OpaUnavailable,
  parsePlan,
  type ListedModels,
  type Listing,
  type Plan,
  type PolicyEngine,
  type PolicyInput,
} from "./opa";

export type { Listing, Plan, PolicyEngine, PolicyInput };

export { PLAN_ENTRYPOINT, WASM_DATA_FILE, WASM_ENTRYPOINTS, WASM_POLICY_FILE };

/** The engine the server decides with, set once it has started (before that: unavailable). */
export class DeferredPolicy implements PolicyEngine {
  private target?: PolicyEngine;
  use(e: PolicyEngine): void {
    this.target = e;
  }
  plan(input: PolicyInput, timeoutMs: number): Promise<Plan> {
    return this.target
      ? this.target.plan(input, timeoutMs)
      : Promise.reject(new OpaUnavailable("the policy is not loaded yet"));
  }
  listing(base: Omit<AuthzInput, "request">, models: ListedModels, timeoutMs?: number): Promise<Listing> {
    return this.target
      ? this.target.listing(base, models, timeoutMs)
      : Promise.reject(new OpaUnavailable("the policy is not loaded yet"));
  }
}

interface Loaded {
  readonly policy: LoadedPolicy;
  readonly digest: string;
}

export interface WasmPolicyOptions {
  /** Folder with {@link WASM_POLICY_FILE} and {@link WASM_DATA_FILE}. */
  readonly dir: string;
  /** How often the folder is re-read for changes, ms; 0 never. */
  readonly pollMs: number;
  readonly onReload?: (e: { digest: string; error?: string }) => void;
}

/** The policy in process: one Wasm instance, swapped whole when the policy or data changes. */
export class WasmPolicy implements PolicyEngine {
  private current?: Loaded;
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;

  private constructor(private readonly o: WasmPolicyOptions) {}

  /** Loads the folder; a missing or broken policy is an error naming the file. */
  static async open(o: WasmPolicyOptions): Promise<WasmPolicy> {
    const w = new WasmPolicy(o);
    w.current = await load(o.dir);
    if (o.pollMs > 0) {
      w.timer = setInterval(() => {
        w.polling ??= w.reload().then(
          () => void (w.polling = undefined),
          () => void (w.polling = undefined),
        );
      }, o.pollMs);
      w.timer.unref();
    }
    return w;
  }

  /** Digest of the loaded policy and data (logs, metrics, tests). */
  get digest(): string {
    return this.current!.digest;
  }

  /** Re-reads the folder; swaps in a changed policy. Resolves true when it changed. */
  async reload(): Promise<boolean> {
    let digest: string;
    try {
      digest = digestOf(this.o.dir);
    } catch (e) {
      this.o.onReload?.({ digest: this.digest, error: (e as Error).message });
      return false;
    }
    if (digest === this.digest) return false;
    try {
      this.current = await load(this.o.dir);
      this.o.onReload?.({ digest: this.current.digest });
      return true;
    } catch (e) {
      this.o.onReload?.({ digest: this.digest, error: (e as Error).message });
      return false;
    }
  }

  plan(input: PolicyInput): Promise<Plan> {
    try {
      return Promise.resolve(this.planSync(input));
    } catch (e) {
      return Promise.reject(e instanceof OpaUnavailable ? e : new OpaUnavailable(`policy: ${String(e)}`));
    }
  }

  planSync(input: PolicyInput): Plan {
    const rs = this.current!.policy.evaluate(input, PLAN_ENTRYPOINT) as { result?: unknown }[];
    return parsePlan(rs[0]?.result);
  }

  /**
   * The model listing in process: the same decisions as OPA's listing query
   * (`LISTING_QUERY`), one plan per model. Without a prompt the policy never asks for the guard;
   * if it did, the listing fails closed.
   */
  listing(base: Omit<AuthzInput, "request">, models: ListedModels): Promise<Listing> {
    try {
      const decide = (request: AuthzInput["request"]): AuthzDecision => {
        const p = this.planSync({ ...base, request });
        if (!("decision" in p)) throw new OpaUnavailable("the policy asked for the guard for a listing");
        return p.decision;
      };
      const listing = decide({ model: "", endpoint: "/v1/models", estimatedTokens: 0 });
      const allowed = models
        .filter(
          (m) =>
            decide({
              model: m.model,
              endpoint: m.endpoint,
              estimatedTokens: 0,
              ...(m.modelClassification ? { modelClassification: m.modelClassification } : {}),
            }).allow,
        )
        .map((m) => m.model);
      return Promise.resolve({ listing, allowed });
    } catch (e) {
      return Promise.reject(e instanceof OpaUnavailable ? e : new OpaUnavailable(`policy: ${String(e)}`));
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

function readBoth(dir: string): { wasm: Buffer; data: Buffer } {
  return {
    wasm: fs.readFileSync(path.join(dir, WASM_POLICY_FILE)),
    data: fs.readFileSync(path.join(dir, WASM_DATA_FILE)),
  };
}

function digestOf(dir: string): string {
  const { wasm, data } = readBoth(dir);
  return createHash("sha256").update(wasm).update("\0").update(data).digest("hex").slice(0, 16);
}

async function load(dir: string): Promise<Loaded> {
  const { wasm, data } = (() => {
    try {
      return readBoth(dir);
    } catch (e) {
      throw new Error(`policy: cannot read the compiled policy in ${dir}: ${(e as Error).message}`);
    }
  })();
  const digest = createHash("sha256").update(wasm).update("\0").update(data).digest("hex").slice(0, 16);
  let doc: unknown;
  try {
    doc = JSON.parse(data.toString("utf8"));
  } catch (e) {
    throw new Error(`policy: ${path.join(dir, WASM_DATA_FILE)}: expected JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    throw new Error(`policy: ${path.join(dir, WASM_DATA_FILE)}: expected the data.sovereign object`);
  let policy: LoadedPolicy;
  try {
    policy = await loadPolicy(zlib.gunzipSync(wasm), undefined, {
      // The gateway always passes the guard's verdict, so the policy never asks the guard itself.
      "http.send": () => {
        throw new Error("http.send is not available in process (the gateway asks the guard)");
      },
    });
  } catch (e) {
    throw new Error(`policy: ${path.join(dir, WASM_POLICY_FILE)}: not a compiled policy: ${String(e)}`);
  }
  for (const ep of WASM_ENTRYPOINTS)
    if (!(ep in policy.entrypoints))
      throw new Error(`policy: ${path.join(dir, WASM_POLICY_FILE)}: has no entrypoint ${ep}`);
  policy.setData({ sovereign: doc });
  return { policy, digest };
}
