/**
 * A program under recording mocks whose `Policy` and `Observability` parts get cross-part inputs
 * that do not fit their settings (argument `identities`: `Flywheel`'s identities with the team's
 * namespace changed; `handle`: a handle of another kind). test/package/policy-parts.test.ts runs
 * it in a process of its own: the problem fails the inputs of the parts' resources, which Node
 * reports as unhandled rejections (the Pulumi runtime's handler prints `err.stack || err.message`,
 * as this one does). Prints every error, how each part's output ended (and the error's property
 * paths), and what was registered; exits 1 where an error was reported, 0 otherwise.
 */
import type * as pulumi from "@pulumi/pulumi";
import { installMocks } from "../helpers/mocks";
import { buildAllParts, objectKey, under } from "./all-parts";
import { withVllmModels } from "./facade-args";

const errors: unknown[] = [];
const print = (e: unknown) => {
  if (errors.includes(e)) return;
  errors.push(e);
  console.log(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
};
process.on("unhandledRejection", print);

const mode = process.argv[2];
const recorder = installMocks({ stack: "local" });
const parts = buildAllParts(
  withVllmModels(),
  mode === "identities"
    ? {
        flywheelIdentities: (i) =>
          i.apply((m) => ({ ...m, demo: { ...m.demo, namespace: "team-elsewhere" } })),
      }
    : { handle: (h) => h.apply((v) => ({ ...v, kind: "aws" })) },
);

// The Outputs' own promises (internal to @pulumi/pulumi): they reject where `apply` would not run.
const settled = (what: string, o: pulumi.Output<unknown>) =>
  (o as unknown as { promise(): Promise<unknown> }).promise().then(
    () => console.log(`${what} output: resolved`),
    (e: unknown) => {
      print(e);
      const paths = (e as { errors?: { propertyPath: string }[] }).errors?.map((x) => x.propertyPath);
      console.log(`${what} output: failed at ${JSON.stringify(paths)}`);
    },
  );
void Promise.all([
  settled("Policy", parts.policy.opaUrl),
  settled("Observability", parts.observability.prometheusUrl),
]).then(() => {
  const keys = recorder.resources.map((r) => objectKey(r));
  console.log(
    `constraint registered: ${keys.includes("kubernetes:constraints.gatekeeper.sh/v1beta1:K8sFlywheelIdentity /flywheel-identity")}`,
  );
  console.log(
    `OPA Deployment registered: ${keys.includes("kubernetes:apps/v1:Deployment sovereign-policy/opa")}`,
  );
  const mine = recorder.resources.filter((r) =>
    under(recorder, r, /^sovereign:index:(Policy|Observability)$/),
  );
  console.log(`registered under Policy and Observability: ${JSON.stringify(mine.map((r) => r.type))}`);
  process.exit(errors.length ? 1 : 0);
});
