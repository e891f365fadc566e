import type { Substrate } from "../../components/substrate";

export interface StackContext {
  /** Pulumi stack name (for tags and names). */
  readonly stack: string;
}

/** A substrate as the program creates it (`aws.ts`, `cluster.ts`; picked in `substrate.ts`). */
export interface CreatedSubstrate extends Substrate {
  /** Stack outputs the substrate contributes (endpoints, bucket names; secrets stay secret). */
  readonly outputs: Record<string, unknown>;
}
