/**
 * A program under recording mocks whose `AwsTenancy` part gets the handle of an `AwsSubstrate`
 * created without one of its teams (the AWS twin of bad-handle-program.ts, which explains why it
 * runs in a process of its own). Prints every error and what was registered under the part once
 * its output has failed, then exits 1; exits 0 if the output resolves.
 */
import { AwsSubstrate, AwsTenancy } from "../../component-package/aws-parts";
import { installMocks } from "../helpers/mocks";
import { awsFacadeArgs } from "./facade-args";

const printed = new Set<unknown>();
const print = (e: unknown) => {
  if (printed.has(e)) return;
  printed.add(e);
  console.log(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
};
process.on("unhandledRejection", print);

const recorder = installMocks({ stack: "aws-dev" });
const args = awsFacadeArgs("aws-dev");
const substrate = new AwsSubstrate("substrate", args);
const ml = { ...args.teams[1], name: "ml", oidcGroup: "ml" };
const tenancy = new AwsTenancy("tenancy", { ...args, teams: [...args.teams, ml], handle: substrate.handle });
// The Output's own promise (internal to @pulumi/pulumi): it rejects where `apply` would not run.
(tenancy.teamNamespaces as unknown as { promise(): Promise<unknown> }).promise().then(
  () => process.exit(0),
  (e: unknown) => {
    print(e);
    const paths = (e as { errors?: { propertyPath: string }[] }).errors?.map((x) => x.propertyPath);
    console.log(`property paths: ${JSON.stringify(paths)}`);
    const under = recorder.resources.filter((r) => r.urn.includes("sovereign:index:AwsTenancy$"));
    console.log(`registered under the part: ${JSON.stringify(under.map((r) => r.type))}`);
    process.exit(1);
  },
);
