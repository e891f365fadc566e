/** What the pipeline's stages share: configuration and the long-lived clients the server owns. */
import type { GatewayConfig } from "../config";
import type { Authenticator } from "../auth";
import type { CaptureRecord } from "../capture";
import type { AuditRow } from "../db";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import type { GuardClient } from "../guard";
import type { OpaClient } from "../opa";
import type { PolicyEngine } from "../policy";
import type { QuotaTracker } from "../quota";
import type { SpillQueue } from "../spill-queue";
import type { AdapterView } from "../flywheel/classification";
import type { AccountDeps } from "./account";
import type { Redactor } from "./capture";
import type { UpstreamAgents } from "./proxy";
import type { Router } from "../routing/router";

export interface PipelineDeps {
  readonly cfg: GatewayConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly auth: Authenticator;
  /** OPA over HTTP (the engine behind `policy` when the policy mode is `opa`). */
  readonly opa: OpaClient;
  /** The decision engine (in process or OPA). */
  readonly policy: PolicyEngine;
  /** Asks the guard model when the policy names a guard call. */
  readonly guard: GuardClient;
  readonly quota: QuotaTracker;
  readonly audit: SpillQueue<AuditRow>;
  /** Absent when capture is off (no bucket configured). */
  readonly capture?: SpillQueue<CaptureRecord>;
  readonly agents: UpstreamAgents;
  /** The catalog's redaction patterns (the decision's obligations add to them). */
  readonly redactPatterns: readonly string[];
  /** Absent when capture is off. */
  readonly redactor?: Redactor;
  readonly accountDeps: AccountDeps;
  /**
   * The flywheel adapters' current versions (promoted and canary) and classifications, from the
   * registry (one snapshot, so a request is routed and decided on the same read). @default none
   */
  readonly adapters?: () => AdapterView;
  /** Picks a replica of a model server (routing/router.ts). @default none: the Service URL */
  readonly router?: Router;
}
