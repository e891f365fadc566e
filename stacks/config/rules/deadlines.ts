/**
 * Deadlines of the gateway, OPA and the guard model agree (components/lib/deadlines.ts): the
 * longest decision the gateway may have to wait for (guard timeout, OPA's evaluation budget and
 * the text allowance at the largest body) stays within {@link MAX_OPA_DEADLINE_MS}.
 */
import { MAX_OPA_DEADLINE_MS, opaDeadlineMs } from "../../../components/lib/deadlines";
import { issue, type Rule } from "./helpers";

export const decisionDeadlineRule: Rule = ({ config }) => {
  const { policy, gateway } = config;
  const guarded = policy.guardModel !== undefined;
  const guardTimeout = guarded ? policy.guardTimeoutMs : undefined;
  const evaluationMs = gateway.opaTimeoutMs;
  const textBytes = gateway.maxBodyBytes;
  const longest = opaDeadlineMs(guardTimeout, { evaluationMs, textBytes });
  if (longest <= MAX_OPA_DEADLINE_MS) return [];
  const textMs = longest - evaluationMs - (guardTimeout ?? 0);
  // The terms of the sum, largest first: that is where the issue goes.
  const terms = [
    { path: "policy.guardTimeoutMs", ms: guardTimeout ?? 0 },
    { path: "gateway.opaTimeoutMs", ms: evaluationMs },
    { path: "gateway.maxBodyBytes", ms: textMs },
  ];
  const at = [...terms].sort((x, y) => y.ms - x.ms)[0];
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
