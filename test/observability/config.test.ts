/** Config rules of the observability section: every receiver or login has its secret, sizes are sane. */
import { describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { validateConfig } from "../../stacks/config/validate";

function raw(stack: string, edit: (r: Record<string, any>) => void): Record<string, any> {
  const r = structuredClone(rawFromStackFile(stackFile(stack)).raw) as Record<string, any>;
  edit(r);
  return r;
}
const issues = (r: unknown, secret = false) => {
  const v = validateConfig(r, { secretKeys: secret ? ["secrets"] : [] });
  return v.ok ? [] : [...v.issues];
};

describe("observability config rules", () => {
  it("GIVEN a webhook receiver and Grafana OIDC without their secrets and a 512Mi volume WHEN validated THEN all three are reported with paths", () => {
    const r = raw("aws-prod", (c) => {
      c.observability.alertmanager = { receiver: "webhook" };
      c.observability.grafana = {
        oidc: { issuer: "https://login.acme.example/realms/ai", clientId: "grafana" },
      };
      c.observability.storageSize = "512Mi";
    });
    const found = issues(r);
    expect(found).toContainEqual(expect.objectContaining({ path: "sovereign:secrets.alertWebhookUrl" }));
    expect(found.filter((i) => i.path === "sovereign:secrets.alertWebhookUrl")).toHaveLength(1);
    expect(found).toContainEqual(
      expect.objectContaining({ path: "sovereign:secrets.grafanaOidcClientSecret" }),
    );
    expect(found).toContainEqual({
      path: "sovereign:observability.storageSize",
      message: 'expected at least 1Gi for the Prometheus volume, found "512Mi"',
    });
  });

  it("GIVEN the secrets are set WHEN validated THEN the config is valid", () => {
    const r = raw("aws-prod", (c) => {
      c.observability.alertmanager = { receiver: "webhook" };
      c.observability.grafana = {
        oidc: { issuer: "https://login.acme.example/realms/ai", clientId: "grafana" },
      };
      c.secrets = { alertWebhookUrl: "https://hooks.example/a", grafanaOidcClientSecret: "s" };
    });
    expect(issues(r, true)).toEqual([]);
  });

  it("GIVEN an email receiver without SMTP password WHEN validated THEN the missing secret is reported", () => {
    const r = raw("aws-dev", (c) => {
      c.observability.alertmanager = {
        receiver: "email",
        to: "oncall@acme.example",
        from: "alerts@acme.example",
        smarthost: "smtp.acme.example:25",
      };
    });
    expect(issues(r)).toContainEqual(expect.objectContaining({ path: "sovereign:secrets.smtpPassword" }));
  });

  it("GIVEN a prod stack with receiver none or no alertmanager section WHEN validated THEN the missing receiver is reported; dev may run without one", () => {
    const none = raw("aws-prod", (c) => {
      c.observability.alertmanager = { receiver: "none" };
    });
    const expected = {
      path: "sovereign:observability.alertmanager.receiver",
      message:
        'expected a receiver ("webhook" or "email") in a prod stack, so alerts reach someone, found "none"',
    };
    expect(issues(none)).toEqual([expected]);
    const absent = raw("aws-prod", (c) => {
      delete c.observability.alertmanager;
    });
    expect(issues(absent)).toEqual([expected]);
    const dev = raw("aws-dev", (c) => {
      c.observability = { ...c.observability, alertmanager: { receiver: "none" } };
    });
    expect(issues(dev)).toEqual([]);
  });

  it("GIVEN an email receiver with auth false WHEN validated THEN no SMTP password is needed, and none reaches Alertmanager", () => {
    const r = raw("aws-dev", (c) => {
      c.observability = {
        ...c.observability,
        alertmanager: {
          receiver: "email",
          to: "oncall@acme.example",
          from: "alerts@acme.example",
          smarthost: "relay.acme.example:25",
          auth: false,
        },
      };
    });
    expect(issues(r)).toEqual([]);
  });
});
