/**
 * The model servers' API keys as `pulumi up` records them for every shipped stack (the real
 * program under mocks; components/platform/model-keys.ts): every vLLM model server has its own
 * key in a Secret of the serving namespace, which its chart release reads; the gateway holds the
 * keys of the models it routes to, a team with the flywheel on holds its base model's and the
 * guard's, and no other namespace (OPA's and the monitoring namespace's included) holds any; no
 * key appears outside a Secret (no ConfigMap, no literal env value, no chart value).
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  GATEWAY_MODEL_KEYS_FILE,
  GATEWAY_MODEL_KEYS_SECRET,
  modelApiKeySecretName,
} from "../../components/lib/model-keys";
import { PLATFORM_NAMESPACES, teamNamespace } from "../../components/lib/naming";
import { requiresApiKey } from "../../components/platform/model-server";
import { rawFromStackFile, shippedStacks, stackFile } from "../../stacks/config/load";
import type { StackConfig } from "../../stacks/config/schema";
import { parseConfig } from "../../stacks/config/validate";
import type { RecordedResource } from "../helpers/mocks";
import { runShippedStack, type StackRun } from "../helpers/stack";

const SECRET = "kubernetes:core/v1:Secret";
const ns = (r: RecordedResource) => String(r.inputs.metadata?.namespace);
const podSpec = (r: RecordedResource) =>
  r.type === "kubernetes:batch/v1:CronJob"
    ? r.inputs.spec.jobTemplate.spec.template.spec
    : r.inputs.spec?.template?.spec;
const envOf = (r: RecordedResource, container = 0): any[] => podSpec(r)?.containers?.[container]?.env ?? [];

for (const stack of shippedStacks()) {
  describe(`model server keys of ${stack}`, () => {
    let run: StackRun;
    let config: StackConfig;
    /** The key of each vLLM model, from its Secret in the serving namespace. */
    const keys: Record<string, string> = {};
    let keyed: string[] = [];

    beforeAll(async () => {
      run = await runShippedStack(stack);
      expect(run.error).toBeUndefined();
      config = parseConfig(rawFromStackFile(stackFile(stack)).raw);
      keyed = config.models.filter(requiresApiKey).map((m) => m.name);
      for (const m of keyed) {
        const s = run.recorder
          .ofType(SECRET)
          .filter(
            (r) =>
              ns(r) === PLATFORM_NAMESPACES.serving && r.inputs.metadata.name === modelApiKeySecretName(m),
          );
        expect(s, `the key Secret of ${m}`).toHaveLength(1);
        keys[m] = s[0].inputs.stringData["api-key"];
        expect(s[0].secretPaths).toContain("stringData");
      }
    });

    it("GIVEN its models WHEN recorded THEN every vLLM server has a key of its own in a Secret its release reads, and a simulator none", () => {
      const values = run.recorder
        .ofType("kubernetes:helm.sh/v3:Release")
        .filter((r) => r.inputs.values?.engine !== undefined)
        .map((r) => r.inputs.values);
      expect(values.map((v) => v.model.name).sort()).toEqual(config.models.map((m) => m.name).sort());
      for (const v of values)
        expect(v.apiKey).toEqual({
          secretName: v.engine === "vllm" ? modelApiKeySecretName(v.model.name) : "",
          key: "api-key",
        });
      const vals = keyed.map((m) => keys[m]);
      expect(vals.every((k) => typeof k === "string" && k.length > 0)).toBe(true);
      expect(new Set(vals).size).toBe(vals.length); // one key per server
    });

    it("THEN each key is held by the serving namespace, the gateway, and the flywheel teams that call that model, and by no other namespace (OPA and monitoring hold none)", () => {
      const guard = config.policy.guardModel;
      for (const m of keyed) {
        const holders = new Set(
          run.recorder
            .ofType(SECRET)
            .filter((r) => JSON.stringify(r.inputs.stringData ?? {}).includes(keys[m]))
            .map(ns),
        );
        const teams = config.teams
          .filter((t) => t.flywheel?.enabled && (t.flywheel.baseModel === m || guard === m))
          .map((t) => teamNamespace(t.name));
        expect([...holders].sort(), m).toEqual(
          [PLATFORM_NAMESPACES.serving, PLATFORM_NAMESPACES.gateway, ...teams].sort(),
        );
        expect(holders.has(PLATFORM_NAMESPACES.policy)).toBe(false);
        expect(holders.has(PLATFORM_NAMESPACES.monitoring)).toBe(false);
      }
    });

    it("THEN no key appears anywhere but in a Secret (no ConfigMap, no literal env value, no chart value), and OPA reads none", () => {
      for (const r of run.recorder.resources) {
        if (r.type === SECRET || r.type.startsWith("random:")) continue;
        const text = JSON.stringify(r.inputs);
        for (const m of keyed)
          expect(text.includes(keys[m]), `${r.type} ${r.name} holds ${m}'s key`).toBe(false);
      }
      const opa = run.recorder
        .ofType("kubernetes:apps/v1:Deployment")
        .filter((r) => ns(r) === PLATFORM_NAMESPACES.policy);
      expect(opa.length).toBeGreaterThan(0);
      for (const d of opa) expect(envOf(d).filter((e) => e.valueFrom?.secretKeyRef)).toEqual([]);
    });

    it("THEN the gateway's key file holds exactly the keyed models it routes to, mounted where GATEWAY_MODEL_API_KEYS_FILE points", () => {
      const secrets = run.recorder
        .ofType(SECRET)
        .filter(
          (r) =>
            ns(r) === PLATFORM_NAMESPACES.gateway && r.inputs.metadata.name === GATEWAY_MODEL_KEYS_SECRET,
        );
      const gw = run.recorder
        .ofType("kubernetes:apps/v1:Deployment")
        .find((r) => ns(r) === PLATFORM_NAMESPACES.gateway && r.inputs.metadata.name === "gateway")!;
      const file = envOf(gw).find((e) => e.name === "GATEWAY_MODEL_API_KEYS_FILE")?.value;
      if (keyed.length === 0) {
        expect(secrets).toEqual([]);
        expect(file).toBeUndefined();
        return;
      }
      expect(secrets).toHaveLength(1);
      const routed = config.models.map((m) => m.name).filter((m) => keyed.includes(m));
      expect(JSON.parse(secrets[0].inputs.stringData[GATEWAY_MODEL_KEYS_FILE])).toEqual(
        Object.fromEntries(routed.map((m) => [m, keys[m]])),
      );
      const spec = podSpec(gw);
      const vol = spec.volumes.find((v: any) => v.secret?.secretName === GATEWAY_MODEL_KEYS_SECRET);
      const mount = spec.containers[0].volumeMounts.find((x: any) => x.name === vol.name);
      expect(file).toBe(`${mount.mountPath}/${GATEWAY_MODEL_KEYS_FILE}`);
    });

    it("THEN a flywheel team's controller reads its base model's key and its chain the guard's, from Secrets of its own namespace", () => {
      const guard = config.policy.guardModel;
      const cronJobs = run.recorder.ofType("kubernetes:batch/v1:CronJob");
      for (const t of config.teams.filter((x) => x.flywheel?.enabled)) {
        const mine = cronJobs.filter((c) => ns(c) === teamNamespace(t.name));
        const refs = (c: RecordedResource) =>
          envOf(c)
            .filter((e) => e.valueFrom?.secretKeyRef)
            .map((e) => `${e.name}=${e.valueFrom.secretKeyRef.name}`)
            .filter((x) => x.includes("-api-key"));
        const controller = mine.find((c) => c.name.endsWith("-controller"))!;
        const chain = mine.find((c) => c.name.endsWith("-cron"))!;
        const base = t.flywheel!.baseModel;
        expect(refs(controller)).toEqual(
          keyed.includes(base) ? [`FLYWHEEL_MODEL_API_KEY=${modelApiKeySecretName(base)}`] : [],
        );
        expect(refs(chain)).toEqual(
          guard && keyed.includes(guard) ? [`GUARD_API_KEY=${modelApiKeySecretName(guard)}`] : [],
        );
      }
    });
  });
}
