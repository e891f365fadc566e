/**
 * The classification of each flywheel adapter as the gateway's decision sees it
 * (docs/flywheel.md, docs/authorization.md). The catalog (OPA's data document) declares each
 * adapter's `dataClassification`; the registry knows what each serving version was trained on.
 * The gateway passes, for the requested model, the higher of the two as
 * `input.request.modelClassification`, and the policy ranks the model at the higher of that and
 * the data document's: the registry can raise an adapter's classification, never lower it.
 *
 * Fail safe: a registry read that fails keeps the last values read; before the first successful
 * read, each flywheel adapter of the catalog counts as `restricted` (the highest), so nothing the
 * registry might know is served to a caller cleared for less while the gateway cannot know it.
 */
import type { Catalog } from "../../../components/lib/contracts";
import {
  CLASSIFICATIONS,
  classificationRank,
  type Classification,
} from "../../../components/lib/classification";
import { opaModelEntries, type ServingRow } from "./registry";
import { routesFromServing, type AdapterRoute } from "./split";

/** What the gateway knows of the flywheel adapters: their routes and their classifications. */
export interface AdapterView {
  readonly routes: Readonly<Record<string, AdapterRoute>>;
  /** Per adapter name: the highest classification of its promoted and canary versions. */
  readonly classifications: Readonly<Record<string, Classification>>;
  /** False until the registry has been read once. */
  readonly read: boolean;
}

const HIGHEST: Classification = CLASSIFICATIONS[CLASSIFICATIONS.length - 1];

/** The higher of two classifications. */
export function maxClassification(a: Classification, b: Classification): Classification {
  return classificationRank(a) >= classificationRank(b) ? a : b;
}

/**
 * Before the first successful registry read: no adapter is split, and every flywheel adapter of
 * the catalog counts as the highest classification.
 */
export function initialView(catalog: Pick<Catalog, "teams">): AdapterView {
  const classifications: Record<string, Classification> = {};
  for (const t of Object.values(catalog.teams))
    if (t.flywheelAdapter) classifications[t.flywheelAdapter] = HIGHEST;
  return { routes: {}, classifications, read: false };
}

/** The view after a successful read of the registry's serving rows. */
export function viewFromServing(rows: readonly ServingRow[]): AdapterView {
  const classifications: Record<string, Classification> = {};
  for (const [name, e] of Object.entries(opaModelEntries(rows))) classifications[name] = e.dataClassification;
  return { routes: routesFromServing(rows), classifications, read: true };
}

/** Postgres: the relation or schema does not exist (no registry migrated yet). */
const NO_REGISTRY = new Set(["42P01", "3F000"]);

/**
 * One refresh: the registry's rows replace the view; no registry at all (the `flywheel` schema
 * does not exist, so no version exists) is an empty view; any other failure keeps `prev`, and
 * returns the error to log.
 */
export async function refreshView(
  prev: AdapterView,
  read: () => Promise<readonly ServingRow[]>,
): Promise<{ view: AdapterView; error?: Error }> {
  try {
    return { view: viewFromServing(await read()) };
  } catch (e) {
    if (NO_REGISTRY.has(String((e as { code?: unknown }).code))) return { view: viewFromServing([]) };
    return { view: prev, error: e as Error };
  }
}

/**
 * The classification to pass as `input.request.modelClassification` for `model`: the higher of
 * the catalog's and the registry's, or none when the registry knows nothing of the model (the
 * data document's classification then stands alone).
 */
export function modelClassificationOf(
  view: AdapterView,
  catalog: Pick<Catalog, "models">,
  model: string,
): Classification | undefined {
  const reg = Object.hasOwn(view.classifications, model) ? view.classifications[model] : undefined;
  if (reg === undefined) return undefined;
  const declared = Object.hasOwn(catalog.models, model)
    ? catalog.models[model].dataClassification
    : undefined;
  return declared ? maxClassification(declared, reg) : reg;
}
