/**
 * A program under recording mocks whose `Gateway` and `Flywheel` parts get `Serving`'s keys
 * without the guard's (both call the guard, which runs vLLM on a GPU pool by these settings).
 * test/package/components.test.ts runs it in a process of its own: the missing key fails the
 * inputs of the parts' key Secrets, which Node reports as unhandled rejections (the Pulumi
 * runtime's handler prints `err.stack || err.message`, as this one does), and the parts'
 * outputs. Prints every error, whether each part's output failed, and the errors' property
 * paths; exits 1 where an error was reported, 0 otherwise.
 *
 * `argv[2]` picks the mistake: `no-guard` (the default: the guard's key left out), `whitespace`
 * (the guard's key with a space in it) or `swapped-namespaces` (Tenancy's teamNamespaces with the
 * flywheel team's namespace replaced by another namespace).
 */
import * as pulumi from "@pulumi/pulumi";
import { ClusterSubstrate, Flywheel, Gateway, Serving, Tenancy } from "../../component-package/components";
import { installMocks } from "../helpers/mocks";
import { withVllmModels } from "./facade-args";

const errors: unknown[] = [];
process.on("unhandledRejection", (e: unknown) => {
  if (errors.includes(e)) return;
  errors.push(e);
  console.log(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
});

installMocks({ stack: "local" });
const args = withVllmModels();
const handle = new ClusterSubstrate("substrate", args).handle;
const serving = new Serving("serving", { ...args, handle });
const guard = args.policy.guardModel!;
const mistake = process.argv[2] ?? "no-guard";
const modelApiKeys = serving.modelApiKeys.apply((k) => {
  const { [guard]: key, ...rest } = k;
  return mistake === "whitespace" ? { ...rest, [guard]: `${key} ${key}` } : mistake === "no-guard" ? rest : k;
});
const gateway = new Gateway("gateway", { ...args, handle, modelApiKeys });
const created = new Tenancy("tenancy", { ...args, handle }).teamNamespaces;
const teamNamespaces =
  mistake === "swapped-namespaces"
    ? created.apply((m) => ({ ...m, [args.teams[0].name]: "team-elsewhere" }))
    : created;
const flywheel = new Flywheel("flywheel", { ...args, handle, teamNamespaces, modelApiKeys });

// The Outputs' own promises (internal to @pulumi/pulumi): they reject where `apply` would not run.
const settled = (o: pulumi.Output<unknown>) =>
  (o as unknown as { promise(): Promise<unknown> }).promise().then(
    () => "resolved",
    (e: unknown) => {
      if (!errors.includes(e)) {
        errors.push(e);
        console.log(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      }
      return "failed";
    },
  );
void Promise.all([settled(gateway.gatewayUrl), settled(flywheel.cronJobs)]).then((outcomes) => {
  console.log(`outputs: ${JSON.stringify(outcomes)}`);
  const paths = errors.map((e) => (e as pulumi.InputPropertiesError).errors?.map((x) => x.propertyPath));
  console.log(`property paths: ${JSON.stringify(paths)}`);
  process.exit(errors.length ? 1 : 0);
});
