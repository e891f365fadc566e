/**
 * The whole program for one validated config: a substrate, then the platform on top of it.
 * This is the only place that picks a substrate; the platform layer sees the interface.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "./config/schema";

export interface StackContext {
  /** Pulumi stack name (for tags and names). */
  readonly stack: string;
}

export interface StackOutputs {
  readonly profile: string;
  readonly substrate: string;
  readonly models: string[];
  readonly teams: string[];
  readonly [key: string]: unknown;
}

export function buildStack(config: StackConfig, ctx: StackContext): StackOutputs {
  if (config.substrate.kind === "cluster") {
    new k8s.Provider(`${ctx.stack}-k8s`, {
      context: config.substrate.context,
      kubeconfig: config.substrate.kubeconfig,
      enableServerSideApply: true,
    });
  }
  return {
    profile: config.profile,
    substrate: config.substrate.kind,
    models: config.models.map((m) => m.name),
    teams: config.teams.map((t) => t.name),
    endpoint: pulumi.output("pending"),
  };
}
