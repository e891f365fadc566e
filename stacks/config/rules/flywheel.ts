/**
 * Rules of the training flywheel (`teams[].flywheel`, docs/flywheel.md): an enabled loop needs
 * captures to learn from, a chat base model that serves adapters, a stable adapter name of its
 * own that the team may call, and a minimum canary sample it can reach.
 */
import type { ConfigIssue } from "../errors";
import { entries, isRecord, issue, str, strings, type Rule } from "./helpers";

function flywheels(raw: Parameters<Rule>[0]) {
  return entries(raw, "teams").flatMap(({ index, value }) =>
    isRecord(value.flywheel) ? [{ index, team: value, fw: value.flywheel }] : [],
  );
}

export const flywheelNeedsCapture: Rule = (raw) =>
  flywheels(raw).flatMap(({ index, team, fw }) =>
    fw.enabled === true && team.allowCapture !== true
      ? [
          issue(
            `teams[${index}].flywheel.enabled`,
            `expected teams[${index}].allowCapture: true for an enabled flywheel (it trains on the team's captures), found ${JSON.stringify(team.allowCapture ?? false)}`,
          ),
        ]
      : [],
  );

export const flywheelBaseModel: Rule = (raw) => {
  const models = new Map(entries(raw, "models").map(({ value }) => [str(value.name), value]));
  return flywheels(raw).flatMap(({ index, fw }) => {
    const name = str(fw.baseModel);
    if (name === undefined) return [];
    const m = models.get(name);
    const at = `teams[${index}].flywheel.baseModel`;
    if (!m) return [issue(at, `expected the name of a model in sovereign:models, found "${name}"`)];
    if (m.role !== undefined && m.role !== "chat")
      return [
        issue(
          at,
          `expected a chat model (adapters are trained on chat models), found "${name}" with role "${str(m.role)}"`,
        ),
      ];
    return [];
  });
};

export const flywheelAdapterName: Rule = (raw) => {
  const taken = new Set<string>();
  for (const { value } of entries(raw, "models")) {
    const n = str(value.name);
    if (n) taken.add(n);
    if (Array.isArray(value.loraAdapters))
      for (const a of value.loraAdapters) if (isRecord(a) && str(a.name)) taken.add(str(a.name)!);
  }
  const seen = new Map<string, number>();
  const out: ConfigIssue[] = [];
  for (const { index, team, fw } of flywheels(raw)) {
    const name = str(fw.adapter);
    if (name === undefined) continue;
    const at = `teams[${index}].flywheel.adapter`;
    if (taken.has(name))
      out.push(issue(at, `expected an adapter name no model or configured adapter uses, found "${name}"`));
    const first = seen.get(name);
    if (first !== undefined)
      out.push(
        issue(
          at,
          `expected an adapter name no other team's flywheel uses, found "${name}" again (first at teams[${first}])`,
        ),
      );
    else seen.set(name, index);
    if (fw.enabled === true && !strings(team.allowedModels).includes(name))
      out.push(
        issue(
          `teams[${index}].allowedModels`,
          `expected the flywheel's adapter "${name}" among the team's allowedModels (clients call it), found ${JSON.stringify(strings(team.allowedModels))}`,
        ),
      );
  }
  return out;
};

export const FLYWHEEL_RULES: Rule[] = [flywheelNeedsCapture, flywheelBaseModel, flywheelAdapterName];
