/**
 * Contracts between the gateway, the Rego policies and the platform layer. The gateway sends
 * an {@link AuthzInput} to OPA at `POST /v1/data/sovereign/authz/decision` and receives an
 * {@link AuthzDecision}. The data document ({@link OpaData}) is generated from the stack config.
 */
import type { Classification } from "./classification";

/** `data.sovereign` as loaded into OPA. */
export interface OpaData {
  readonly teams: Readonly<
    Record<
      string,
      {
        readonly oidcGroup: string;
        readonly clearance: Classification;
        readonly allowedModels: readonly string[];
        readonly budgets: { readonly tokensPerDay: number; readonly requestsPerMinute: number };
        readonly allowCapture: boolean;
        /** Dataset classifications the team may train on (at most its clearance). */
        readonly trainableClassifications: readonly Classification[];
      }
    >
  >;
  readonly models: Readonly<
    Record<
      string,
      {
        readonly role: "chat" | "embedding" | "guard";
        readonly dataClassification: Classification;
        /** For a LoRA adapter: the base model whose server hosts it. */
        readonly baseModel?: string;
      }
    >
  >;
  readonly guard: {
    readonly enabled: boolean;
    /** OpenAI-compatible chat completions URL of the guard model server. */
    readonly url: string;
    readonly model: string;
    readonly timeoutMs: number;
    /** Deny when the guard cannot be reached (always true in prod). */
    readonly failClosed: boolean;
  };
  /** Regexes the gateway redacts from captured traffic. */
  readonly redactPatterns: readonly string[];
}

export interface AuthzInput {
  readonly subject: {
    readonly sub: string;
    readonly groups: readonly string[];
    readonly team: string;
    readonly clearance?: Classification;
  };
  readonly request: {
    readonly model: string;
    readonly endpoint: "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings" | "/v1/models";
    readonly prompt?: string;
    readonly messages?: readonly { readonly role: string; readonly content: string }[];
    readonly estimatedTokens: number;
  };
  readonly context: {
    readonly time: string;
    readonly clientAddress: string;
    /** Usage so far in the current windows, as the gateway counts it. */
    readonly usage: { readonly tokensToday: number; readonly requestsThisMinute: number };
  };
}

export interface AuthzDecision {
  readonly allow: boolean;
  /** Machine-readable reason ids, e.g. `model_not_allowed`, `clearance_insufficient`, `guard_flagged`. */
  readonly reasons: readonly string[];
  readonly obligations: {
    /** Prompt and completion may be captured for training. */
    readonly capture: boolean;
    /** Regexes to redact from anything captured. */
    readonly redact: readonly string[];
  };
}
