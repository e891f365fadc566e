/**
 * What the gateway's in-process policy is made of, shared by the stack that compiles it
 * (stacks/wiring/policy-wasm.ts), the component that mounts it (components/platform/gateway.ts)
 * and the gateway that loads it (gateway/src/policy.ts).
 */

/** The gateway's entrypoint: the decision, or the guard call to make first. */
export const PLAN_ENTRYPOINT = "sovereign/authz/plan";
/** Entrypoints the Wasm build exports (`opa build -t wasm -e ...`). */
export const WASM_ENTRYPOINTS = [PLAN_ENTRYPOINT, "sovereign/authz/decision"] as const;
/** The compiled policy (gzipped `policy.wasm`) in the policy folder. */
export const WASM_POLICY_FILE = "policy.wasm.gz";
/** The data document (`data.sovereign`) in the policy folder. */
export const WASM_DATA_FILE = "data.json";
/** Where the gateway's pods mount the policy folder. */
export const GATEWAY_POLICY_DIR = "/etc/gateway/policy";
/** How often the gateway re-reads the folder for a changed policy or data, ms. */
export const GATEWAY_POLICY_POLL_MS = 5000;
