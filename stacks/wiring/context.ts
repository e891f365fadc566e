export interface StackContext {
  /** Pulumi stack name (for tags and names). */
  readonly stack: string;
}
