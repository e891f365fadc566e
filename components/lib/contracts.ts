/**
 * Contracts between the gateway, the Rego policies and the platform layer. The gateway sends
 * an {@link AuthzInput} to OPA at `POST /v1/data/sovereign/authz/decision` and receives an
 * {@link AuthzDecision}. The data document ({@link OpaData}) is generated from the stack config,
 * and so is the gateway's {@link Catalog}. The gateway imports these from here; nothing in
 * `components/` imports the gateway.
 */
import type { Classification } from "./classification";

/**
 * Guard model families the authorization policy can ask and read (`policy.guardFamily`): each
 * has its own request and answer format (docs/authorization.md).
 */
export const GUARD_FAMILIES = ["llama-guard", "granite-guardian", "shieldgemma"] as const;
export type GuardFamily = (typeof GUARD_FAMILIES)[number];

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
    /** How the guard is asked and its answer read. Absent means `llama-guard`. */
    readonly family?: GuardFamily;
    readonly timeoutMs: number;
    /** Deny when the guard cannot be reached (always true in prod). */
    readonly failClosed: boolean;
    /** Seconds OPA reuses a guard verdict for the same text (http.send force_cache). @default 300 */
    readonly cacheSeconds?: number;
  };
  /** Regexes the gateway redacts from captured traffic. */
  readonly redactPatterns: readonly string[];
}

/** A chat message as the policy reads it: everything in it is shown to the guard. */
export interface AuthzMessage {
  readonly role: "system" | "developer" | "user" | "assistant" | "tool" | "function" | (string & {});
  readonly content?:
    | string
    | null
    | readonly (
        | { readonly type: "text"; readonly text: string }
        | { readonly type: "refusal"; readonly refusal: string }
      )[];
  readonly name?: string;
  readonly tool_calls?: readonly {
    readonly id?: string;
    readonly type: "function";
    readonly function: { readonly name: string; readonly arguments: string };
  }[];
  readonly tool_call_id?: string;
  readonly function_call?: { readonly name: string; readonly arguments: string };
  readonly refusal?: string;
}

export interface AuthzInput {
  readonly subject: {
    readonly sub: string;
    readonly groups: readonly string[];
    readonly team: string;
    /** The token's `clearance` claim (lowers the team's clearance, never raises it). */
    readonly clearance?: Classification;
  };
  readonly request: {
    readonly model: string;
    readonly endpoint: "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings" | "/v1/models";
    /**
     * `/v1/completions` `prompt` or `/v1/embeddings` `input`, as the client sent it. Token ids are
     * `input_invalid` (the guard cannot read them).
     */
    readonly prompt?: string | readonly string[];
    /** `/v1/chat/completions` `messages`, as the client sent them (docs/authorization.md). */
    readonly messages?: readonly AuthzMessage[];
    readonly estimatedTokens: number;
    /**
     * Set by the gateway, never by the client: the requested model's classification as the
     * gateway knows it beyond the data document (a flywheel adapter's, the highest of its
     * serving versions' training data, from the registry). The policy ranks the model at the
     * higher of this and `data.sovereign.models[model].dataClassification`.
     */
    readonly modelClassification?: Classification;
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

/**
 * Training data access: the training submission tooling and admission send a
 * {@link DataAccessInput} to `POST /v1/data/sovereign/data_access/decision`.
 */
export interface DataAccessInput {
  /** The person submitting, when there is one (tooling); omitted for admission checks. */
  readonly subject?: { readonly sub: string; readonly groups: readonly string[] };
  /** The team whose queue and quota the job runs under. */
  readonly team: string;
  readonly action: "train" | "evaluate";
  readonly dataset: { readonly name: string; readonly classification: Classification };
}

export interface DataAccessDecision {
  readonly allow: boolean;
  /** Machine-readable reason ids, e.g. `clearance_insufficient`, `classification_not_trainable`. */
  readonly reasons: readonly string[];
  readonly obligations: {
    /** Classification the trained model or adapter must carry (null when denied). */
    readonly modelClassification: Classification | null;
  };
}

/** Every reason id the authorization decision can carry (docs/authorization.md). */
export const AUTHZ_REASONS = [
  "input_invalid",
  "team_unknown",
  "team_membership_missing",
  "clearance_invalid",
  "endpoint_not_allowed",
  "model_unknown",
  "model_not_allowed",
  "base_model_unknown",
  "endpoint_model_mismatch",
  "clearance_insufficient",
  "budget_tokens_exceeded",
  "budget_requests_exceeded",
  "guard_flagged",
  "guard_unavailable",
  "denied_by_default",
] as const;
export type AuthzReason = (typeof AUTHZ_REASONS)[number];

/** Every reason id the data-access decision can carry (docs/authorization.md). */
export const DATA_ACCESS_REASONS = [
  "input_invalid",
  "team_unknown",
  "team_membership_missing",
  "action_not_allowed",
  "classification_invalid",
  "clearance_insufficient",
  "classification_not_trainable",
  "denied_by_default",
] as const;
export type DataAccessReason = (typeof DATA_ACCESS_REASONS)[number];

/**
 * The gateway's catalog, built by the platform from the stack config (`stacks/wiring/gateway.ts`)
 * and read by the gateway from its ConfigMap (`gateway/src/config.ts`).
 */

/** One team as the gateway needs it: how callers map to it and its budgets. */
export interface CatalogTeam {
  readonly oidcGroup: string;
  readonly clearance?: Classification;
  readonly budgets: { readonly tokensPerDay: number; readonly requestsPerMinute: number };
  /**
   * The team's flywheel adapter (`teams[].flywheel.adapter`), where the team has the flywheel
   * on: the gateway grants the team's registry login ({@link flywheelRoleOf}) its rights and
   * records that the role writes this team's rows and this adapter only (row-level security,
   * docs/flywheel.md). @default none (no flywheel)
   */
  readonly flywheelAdapter?: string;
}

/** Prefix of the flywheel's per-team Postgres login roles. */
export const FLYWHEEL_ROLE_PREFIX = "fw-";

/**
 * The most connections a team's registry writer (`fw-<team>`) may hold at once (its login Job on
 * AWS, its CloudNativePG managed role in-cluster), so no team can take the database's connections
 * from the gateway. A team's flywheel holds at most five: the controller CronJob's pool (2, one
 * run at a time), the chain pod's incumbent init container (1) and a manual run's (2).
 */
export const FLYWHEEL_WRITER_CONNECTION_LIMIT = 8;

/**
 * The Postgres login role of one team's flywheel (its controller, the registry's writer for that
 * team): `fw-<team>`. Team names are DNS-1123 labels (lowercase letters, digits and '-', at most
 * 40 characters, stacks/config/schema.ts), so the name is one per team (a fixed prefix and the
 * whole team name, nothing cut or hashed), never another service's (`gateway`) nor the former
 * shared `flywheel` role, and at most 43 bytes: within Postgres' 63-byte identifier limit, and
 * the Kubernetes names built from it stay DNS-1123 labels too (the AWS login Job
 * `fw-<team>-postgres-login`, the in-cluster client Certificate `fw-<team>-postgres-client`,
 * both at most 59 characters; test/config/names-seam.test.ts runs the longest team name).
 */
export function flywheelRoleOf(team: string): `fw-${string}` {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(team) || team.length > 40)
    throw new Error(
      `expected a team name that is a DNS-1123 label of at most 40 characters, found ${JSON.stringify(team)}`,
    );
  return `${FLYWHEEL_ROLE_PREFIX}${team}`;
}

export interface CatalogModel {
  readonly role: "chat" | "embedding" | "guard";
  /** For a LoRA adapter: the base model whose server hosts it. */
  readonly baseModel?: string;
  /**
   * The model's data classification (an adapter: the higher of its own and its base model's),
   * written into every capture record so the flywheel's dataset builder asks the policy about
   * the right class. @default none (the builder falls back to its own model map)
   */
  readonly dataClassification?: Classification;
  /**
   * A team's flywheel adapter (`teams[].flywheel.adapter`): served only as its versions
   * (`<adapter>--<version>`), loaded at runtime. Before its first promotion nothing serves the
   * stable name, so the gateway sends the requests outside a canary's share to the base model,
   * the version the first candidate is gated against. @default false
   */
  readonly flywheel?: boolean;
}

/** Teams, models and where each base model is served. */
export interface Catalog {
  readonly teams: Readonly<Record<string, CatalogTeam>>;
  readonly models: Readonly<Record<string, CatalogModel>>;
  /** Base model name → OpenAI-compatible base URL of its server (without `/v1`). */
  readonly routes: Readonly<Record<string, string>>;
  /** Regexes always redacted from captured traffic (on top of the decision's obligations). */
  readonly redactPatterns: readonly string[];
}
