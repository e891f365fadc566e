/**
 * A program under recording mocks whose `Tenancy` part gets the handle of a substrate created
 * without one of its teams. test/package/components.test.ts runs it in a process of its own: the
 * handle's problem also fails the inputs of the part's resources, which Node reports as unhandled
 * rejections (the Pulumi runtime's handler prints `err.stack || err.message`, as this one does).
 * Prints every error and what was registered under the part once its output has failed, then
 * exits 1; exits 0 if the output resolves.
 */
import { ClusterSubstrate, Tenancy } from "../../component-package/components";
import { installMocks } from "../helpers/mocks";
import { oneModelOneTeam } from "./facade-args";

const printed = new Set<unknown>();
const print = (e: unknown) => {
  if (printed.has(e)) return;
  printed.add(e);
  console.log(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
};
process.on("unhandledRejection", print);

const recorder = installMocks({ stack: "local" });
const args = oneModelOneTeam();
const substrate = new ClusterSubstrate("substrate", args);
const ml = { ...args.teams[0], name: "ml", oidcGroup: "sovereign-ml" };
const tenancy = new Tenancy("tenancy", { ...args, teams: [...args.teams, ml], handle: substrate.handle });
// The Output's own promise (internal to @pulumi/pulumi): it rejects where `apply` would not run.
(tenancy.teamNamespaces as unknown as { promise(): Promise<unknown> }).promise().then(
  () => process.exit(0),
  (e: unknown) => {
    print(e);
    const paths = (e as { errors?: { propertyPath: string }[] }).errors?.map((x) => x.propertyPath);
    console.log(`property paths: ${JSON.stringify(paths)}`);
    const under = recorder.resources.filter((r) => r.urn.includes("sovereign:index:Tenancy$"));
    console.log(`registered under the part: ${JSON.stringify(under.map((r) => r.type))}`);
    process.exit(1);
  },
);
