/**
 * Stage 6: account for a finished request, whatever its outcome: metrics, the team's token
 * count, one audit row (queued, never on the response path) and the access log line.
 */
import type { Catalog } from "../config";
import { cleanText, type AuditRow } from "../db";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import type { QuotaTracker } from "../quota";
import type { SpillQueue } from "../spill-queue";
import { now, type RequestContext } from "./context";

export interface AccountDeps {
  readonly metrics: Metrics;
  readonly quota: QuotaTracker;
  readonly audit: SpillQueue<AuditRow>;
  readonly log: Logger;
  readonly instanceId: string;
  readonly accessLog: boolean;
  readonly catalog: Catalog;
  /** Write the audit row durably before answering. */
  readonly auditSync: boolean;
}

/**
 * The `model` label of metrics and logs: a catalog name, or `other`, so a client cannot grow
 * label cardinality with made-up names.
 */
export function modelLabel(catalog: Catalog, model: string): string {
  if (model === "" || model === "*") return model;
  return Object.hasOwn(catalog.models, model) ? model : "other";
}

/** The audit row of a finished request. */
export function auditRow(ctx: RequestContext, instance: string, ms: number): AuditRow {
  return {
    requestId: ctx.id,
    ...(ctx.clientRequestId ? { clientRequestId: ctx.clientRequestId } : {}),
    ts: ctx.ts,
    subject: ctx.principal?.sub ?? "",
    authKind: ctx.principal?.kind ?? "none",
    team: ctx.principal?.team ?? "",
    model: cleanText(ctx.model),
    endpoint: ctx.endpoint,
    tokensIn: ctx.tokensIn,
    tokensOut: ctx.tokensOut,
    latencyMs: Math.round(ms * 1000) / 1000,
    decision: ctx.decision,
    reasons: ctx.reasons,
    ...(ctx.guard ? { guard: ctx.guard.verdict, guardCategories: ctx.guard.categories } : {}),
    ...(ctx.servedVersion
      ? { flywheelVersion: ctx.servedVersion.version, flywheelCanary: ctx.servedVersion.canary }
      : {}),
    status: ctx.status,
    streamed: ctx.streamed,
    captured: ctx.captured,
    instance,
  };
}

/**
 * Writes the audit row durably (fsynced spill file) before the answer goes out; `account`
 * then does not queue it again.
 */
export async function journal(d: AccountDeps, ctx: RequestContext): Promise<void> {
  if (!d.auditSync || ctx.journaled) return;
  ctx.journaled = true;
  await d.audit.pushDurable(auditRow(ctx, d.instanceId, now() - ctx.t0));
}

export function account(d: AccountDeps, ctx: RequestContext): void {
  const ms = now() - ctx.t0;
  const team = ctx.principal?.team ?? "";
  const m = d.metrics;
  const model = modelLabel(d.catalog, ctx.model);
  m.requests.inc({ team, model, endpoint: ctx.endpoint, status: String(ctx.status) });
  m.duration.observe({ endpoint: ctx.endpoint }, ms / 1000);
  m.added.observe({ endpoint: ctx.endpoint }, Math.max(0, ms - ctx.upstreamMs) / 1000);
  if (ctx.tokensIn || ctx.tokensOut) {
    m.tokens.inc({ team, model, direction: "in" }, ctx.tokensIn);
    m.tokens.inc({ team, model, direction: "out" }, ctx.tokensOut);
    if (team) d.quota.addTokens(team, ctx.tokensIn + ctx.tokensOut);
  }
  if (!ctx.journaled) d.audit.push(auditRow(ctx, d.instanceId, ms));
  if (d.accessLog) {
    d.log.info("request", {
      requestId: ctx.id,
      clientRequestId: ctx.clientRequestId,
      team,
      sub: ctx.principal?.sub,
      model,
      endpoint: ctx.endpoint,
      status: ctx.status,
      ms: Math.round(ms * 100) / 100,
      tokensIn: ctx.tokensIn,
      tokensOut: ctx.tokensOut,
      reasons: ctx.reasons.length ? ctx.reasons : undefined,
      // A flywheel adapter's request: the version that served it (the canary split).
      version: ctx.servedVersion?.version,
      canary: ctx.servedVersion?.canary,
    });
  }
}
