/**
 * Rules of the observability section (receiver secrets are checked in core.ts): the Grafana
 * login has its secret, the Prometheus volume is big enough for a retention size, and a prod
 * stack names an alert receiver.
 */
import type { ConfigIssue } from "../errors";
import { isRecord, issue, profileOf, section, str, type Rule } from "./helpers";

export const observabilitySecrets: Rule = (raw) => {
  const o = section(raw, "observability");
  const secrets = section(raw, "secrets");
  const out: ConfigIssue[] = [];
  const grafana = isRecord(o.grafana) ? o.grafana : {};
  if (isRecord(grafana.oidc) && secrets.grafanaOidcClientSecret === undefined)
    out.push(
      issue(
        "secrets.grafanaOidcClientSecret",
        "expected the Grafana OIDC client secret because observability.grafana.oidc is set, found none",
      ),
    );
  const size = str(o.storageSize);
  const m = size === undefined ? null : /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(size);
  if (m) {
    const unit: Record<string, number> = {
      Ki: 2 ** 10,
      Mi: 2 ** 20,
      Gi: 2 ** 30,
      Ti: 2 ** 40,
      k: 1e3,
      M: 1e6,
      G: 1e9,
      T: 1e12,
    };
    const bytes = Number(m[1]) * (m[2] ? unit[m[2]] : 1);
    if (bytes < 2 ** 30)
      out.push(
        issue(
          "observability.storageSize",
          `expected at least 1Gi for the Prometheus volume, found "${size}"`,
        ),
      );
  }
  return out;
};

/** Prod alerts must reach someone: a prod stack names a receiver (the default is `none`). */
export const prodAlertReceiver: Rule = (raw) => {
  if (profileOf(raw) !== "prod") return [];
  const am = section(section(raw, "observability"), "alertmanager");
  const receiver = am.receiver ?? "none";
  return receiver === "none"
    ? [
        issue(
          "observability.alertmanager.receiver",
          'expected a receiver ("webhook" or "email") in a prod stack, so alerts reach someone, found "none"',
        ),
      ]
    : [];
};

export const OBSERVABILITY_RULES: readonly Rule[] = [observabilitySecrets, prodAlertReceiver];
