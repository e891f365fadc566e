/**
 * The training stages that follow a built dataset version (docs/flywheel.md), as the existing
 * training Job templates: a LoRA fine-tune of the team's base model on the version's
 * `train.jsonl`, and the evaluation of the candidate and of the incumbent on the SAME held-out
 * `eval.jsonl`. The controller that submits them in order is not written; this is what it will
 * submit. Pure.
 */
import { jobPrefix, renderTrainingJob } from "../platform/training-jobs";
import type { K8sObject } from "../platform/tenancy-plan";
import { flywheelDatasetPrefix } from "./plan";

export interface CandidateInput {
  readonly team: string;
  readonly costCenter: string;
  readonly adapter: string;
  /** Key prefix of the base model's weights in the models bucket (`models[].source`). */
  readonly baseModelSource: string;
  /** The dataset version the builder wrote (manifest `version`). */
  readonly datasetVersion: string;
  /** Short id of the candidate (a DNS label); the LoRA job and its outputs are named after it. */
  readonly candidate: string;
  /** Job name of the promoted adapter's LoRA job; absent: the incumbent is the base model. */
  readonly incumbentJob?: string;
  readonly image?: string;
}

/** Dataset keys of a version, relative to the team's prefix of the datasets bucket. */
export function datasetKeys(adapter: string, version: string): { train: string; eval: string } {
  const base = flywheelDatasetPrefix("x", adapter).slice("teams/x/".length) + `${version}/`;
  return { train: `${base}train.jsonl`, eval: `${base}eval.jsonl` };
}

export function candidateJobs(c: CandidateInput): {
  lora: K8sObject;
  evalCandidate: K8sObject;
  evalIncumbent: K8sObject;
} {
  const keys = datasetKeys(c.adapter, c.datasetVersion);
  const lora = `${c.adapter}-${c.candidate}`;
  const common = { team: c.team, costCenter: c.costCenter, image: c.image };
  return {
    lora: renderTrainingJob({
      ...common,
      kind: "lora",
      name: lora,
      modelPrefix: c.baseModelSource,
      dataset: keys.train,
    }),
    evalCandidate: renderTrainingJob({
      ...common,
      kind: "eval",
      name: `${lora}-eval`,
      modelPrefix: jobPrefix(c.team, lora),
      dataset: keys.eval,
    }),
    evalIncumbent: renderTrainingJob({
      ...common,
      kind: "eval",
      name: `${lora}-eval-incumbent`,
      modelPrefix: c.incumbentJob ? jobPrefix(c.team, c.incumbentJob) : c.baseModelSource,
      dataset: keys.eval,
    }),
  };
}
