/**
 * Flywheel adapter names the config accepts (`teams[].flywheel.adapter`: letters, digits, '.',
 * '_', '-') through the gateway's view of the registry: the canary split and the classification
 * of an adapter whose name is also a property of every JavaScript object (`constructor`,
 * `toString`, ...) are its own, like any other name's, and reading the registry changes nothing
 * outside the view.
 */
import { describe, expect, it } from "vitest";
import { viewFromServing } from "../../gateway/src/flywheel/classification";
import type { ServingRow } from "../../gateway/src/flywheel/registry";
import { routeModel, servedName } from "../../gateway/src/flywheel/split";
import { flywheelSchema } from "../../stacks/config/schema";

const NAMES = [
  "constructor",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "Support.v2",
  "a_b-c",
];

const row = (adapter: string, version: string, phase: ServingRow["phase"], share: number): ServingRow => ({
  team: "demo",
  adapter,
  version,
  phase,
  share,
  since: "2026-12-06T00:00:00.000Z",
  uri: `s3://models/flywheel/demo/${adapter}/${version}/adapter/`,
  classification: phase === "canary" ? "confidential" : "internal",
  baseModel: "tiny-chat",
});

describe("GIVEN a flywheel adapter name the config accepts", () => {
  for (const name of NAMES)
    it(`WHEN "${name}" has a promoted version and a canary THEN the gateway splits and classifies it as its own`, () => {
      expect(flywheelSchema.parse({ baseModel: "tiny-chat", adapter: name }).adapter).toBe(name);
      const view = viewFromServing([row(name, "v1", "promoted", 1), row(name, "v2", "canary", 0.25)]);
      expect(Object.hasOwn(view.routes, name)).toBe(true);
      expect(view.routes[name]).toEqual({ stable: "v1", canary: { version: "v2", share: 0.25 } });
      expect(view.classifications[name]).toBe("confidential");
      // a request outside the canary's share goes to the promoted version, never the stable name
      let stable = 0;
      for (let i = 0; i < 200; i++) {
        const r = routeModel(view.routes, name, `req-${i}`);
        expect([servedName(name, "v1"), servedName(name, "v2")]).toContain(r.model);
        if (!r.canary) stable++;
      }
      expect(stable).toBeGreaterThan(0);
      // nothing outside the view was written (Object, Function.prototype, ...)
      for (const o of [Object, Object.prototype, Function.prototype, Object.prototype.toString])
        expect([Object.hasOwn(o, "stable"), Object.hasOwn(o, "canary")]).toEqual([false, false]);
    });
});
