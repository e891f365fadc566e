/** Data classification levels, ordered from least to most sensitive. */
export const CLASSIFICATIONS = ["public", "internal", "confidential", "restricted"] as const;
export type Classification = (typeof CLASSIFICATIONS)[number];

/** Numeric rank of a classification (public = 0). */
export function classificationRank(c: Classification): number {
  return CLASSIFICATIONS.indexOf(c);
}

/** A subject cleared for `clearance` may see data classified `data`. */
export function clearedFor(clearance: Classification, data: Classification): boolean {
  return classificationRank(clearance) >= classificationRank(data);
}
