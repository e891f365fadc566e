/**
 * The Alertmanager configuration the kit renders is checked by the real, pinned amtool
 * (`amtool check-config`), for each receiver the config allows.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { alertmanagerConfig } from "../../components/platform/observability";
import { toolPath } from "../helpers/tools";

function checkConfig(config: unknown): { status: number | null; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sov-am-"));
  const file = path.join(dir, "alertmanager.yaml");
  fs.writeFileSync(file, stringify(config));
  const r = spawnSync(toolPath("amtool"), ["check-config", file], { encoding: "utf8" });
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe("Alertmanager configuration", () => {
  it("GIVEN a webhook receiver WHEN amtool checks the rendered config THEN it is valid with the platform receiver", () => {
    const r = checkConfig(
      alertmanagerConfig({ receiver: "webhook", url: "https://hooks.internal.example/alerts" }),
    );
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS/);
    expect(r.output).toMatch(/2 receivers/);
  });

  it("GIVEN an email receiver with a password WHEN amtool checks the rendered config THEN it is valid", () => {
    const r = checkConfig(
      alertmanagerConfig({
        receiver: "email",
        to: "oncall@acme.example",
        from: "alerts@acme.example",
        smarthost: "smtp.acme.example:587",
        password: "s3cret",
      }),
    );
    expect(r.status, r.output).toBe(0);
  });

  it("GIVEN a broken config WHEN amtool checks it THEN it fails (the check can fail)", () => {
    const bad = alertmanagerConfig({ receiver: "webhook", url: "https://hooks.internal.example/alerts" });
    (bad.route as Record<string, unknown>).receiver = "nobody";
    const r = checkConfig(bad);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/nobody/);
  });
});
