/**
 * The manual run's Job name (`flywheel -- run --run-id`): every adapter name whose CronJob the
 * config accepts (its name is cut to 52 characters, and the names rule checks what is left) gets
 * a Job name that is a DNS label of at most 63 characters (the Job controller copies it into the
 * pods' `job-name` label) and holds the whole run id, so two manual runs never share a name.
 */
import { describe, expect, it } from "vitest";
import { renderFlywheelCronJob, renderFlywheelRunJob } from "../../components/flywheel/plan";
import { demoFlywheelTeam } from "../helpers/flywheel-stack";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const team = demoFlywheelTeam;

const id = {
  serviceAccountName: "sa",
  env: [],
  controller: {
    image: "gateway:test",
    postgres: {
      host: "db",
      port: 5432,
      database: "gateway",
      sslMode: "verify-full",
      secretName: "fw-demo-postgres",
      rootCert: { configMapName: "fw-demo-postgres-ca", key: "ca.crt" },
    },
  },
};

describe("GIVEN a flywheel adapter whose CronJob the config accepts", () => {
  const adapters = [
    "support",
    "a".repeat(43), // the CronJob's name just fits
    "customer-support-assistant-for-the-emea-region-v2", // 49: the CronJob's name is cut
    `${"b".repeat(50)}-${"c".repeat(20)}`, // a cut that would end on '-'
  ];
  for (const adapter of adapters)
    it(`WHEN two manual runs of "${adapter.slice(0, 20)}…" (${adapter.length} characters) are rendered THEN each Job name is a DNS label with its whole run id`, () => {
      const cron = renderFlywheelCronJob(team(adapter), id).metadata as { name: string };
      expect(cron.name).toMatch(DNS_LABEL); // the premise: the config accepts it
      const names = ["202612060440", "202612060450", "x-1"].map(
        (runId) =>
          [
            runId,
            (renderFlywheelRunJob(team(adapter), runId, id).metadata as { name: string }).name,
          ] as const,
      );
      for (const [runId, name] of names) {
        expect(name).toMatch(DNS_LABEL);
        expect(name.endsWith(`-${runId}`)).toBe(true);
        expect(name.startsWith("flywheel-")).toBe(true);
      }
      expect(new Set(names.map(([, n]) => n)).size).toBe(names.length);
    });
});
