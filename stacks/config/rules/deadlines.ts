/**
 * Deadlines of the gateway, OPA and the guard model agree (components/lib/deadlines.ts): the
 * longest decision the gateway may have to wait for (guard timeout, OPA's evaluation budget and
 * the text allowance at the largest body) stays within {@link MAX_OPA_DEADLINE_MS}.
 */
import {
  GUARD_TIMEOUT_DEFAULT_MS,
  MAX_OPA_DEADLINE_MS,
  OPA_EVALUATION_BUDGET_MS,
  opaDeadlineMs,
} from "../../../components/lib/deadlines";
import { int, issue, section, str, type Rule } from "./helpers";

const DEFAULT_MAX_BODY_BYTES = 1_048_576;

export const decisionDeadlineRule: Rule = (raw) => {
  const policy = section(raw, "policy");
  const gateway = section(raw, "gateway");
  const guarded = str(policy.guardModel) !== undefined;
  const guardTimeout = guarded ? (int(policy.guardTimeoutMs) ?? GUARD_TIMEOUT_DEFAULT_MS) : undefined;
  const evaluationMs = int(gateway.opaTimeoutMs) ?? OPA_EVALUATION_BUDGET_MS;
  const textBytes = int(gateway.maxBodyBytes) ?? DEFAULT_MAX_BODY_BYTES;
  const longest = opaDeadlineMs(guardTimeout, { evaluationMs, textBytes });
  if (longest <= MAX_OPA_DEADLINE_MS) return [];
  const textMs = longest - evaluationMs - (guardTimeout ?? 0);
  // The terms of the sum, the one the config sets largest first: that is where the issue goes.
  const terms = [
    {
      path: "policy.guardTimeoutMs",
      ms: guardTimeout ?? 0,
      set: guarded && policy.guardTimeoutMs !== undefined,
    },
    { path: "gateway.opaTimeoutMs", ms: evaluationMs, set: gateway.opaTimeoutMs !== undefined },
    { path: "gateway.maxBodyBytes", ms: textMs, set: gateway.maxBodyBytes !== undefined },
  ];
  const at = [...terms].sort((x, y) => Number(y.set) - Number(x.set) || y.ms - x.ms)[0];
  const sum = [
    guardTimeout !== undefined ? `guard timeout ${guardTimeout} ms` : undefined,
    `OPA evaluation ${evaluationMs} ms`,
    `text allowance ${textMs} ms for ${textBytes} bytes`,
  ]
    .filter(Boolean)
    .join(" + ");
  return [
    issue(
      at.path,
      `expected a decision deadline of at most ${MAX_OPA_DEADLINE_MS} ms, found ${longest} ms (${sum}): ` +
        "the gateway would wait that long for OPA on every request whenever the guard is slow",
    ),
  ];
};

export const DEADLINE_RULES: readonly Rule[] = [decisionDeadlineRule];
