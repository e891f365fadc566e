/**
 * The flywheel controller's command line (controller.ts), what `sovereign-flywheel loop` runs
 * after its gate (FLYWHEEL_CONTROLLER, docs/flywheel.md). The loop's run record comes on stdin.
 *
 *   flywheel-controller incumbent ADAPTER
 *                                  prints the promoted version the candidate is compared with:
 *                                  {"version", "uri"} (both null: none yet, the base model)
 *   flywheel-controller register   registers dataset, candidate and gate report (and a passed
 *                                  candidate's `candidate` deployment row); prints {"registered"}
 *   flywheel-controller canary     loads the candidate into every replica, runs its canary to
 *                                  the end, unloads what no longer serves; prints the final state
 *
 * Environment: the registry's PostgreSQL (the gateway's database) as libpq's PGHOST, PGPORT,
 * PGUSER, PGPASSWORD, PGDATABASE; for `canary`: FLYWHEEL_REPLICAS (comma-separated model-server
 * pod URLs), FLYWHEEL_CANARY (JSON: the team's flywheel.canary block) and how versions reach
 * the replicas: without FLYWHEEL_LORA_ROOT (the deployed stacks) the controller writes the
 * adapter's desired state `serving.json` under CANDIDATES_URI (with the workload's S3
 * environment: AWS_ENDPOINT_URL_S3, AWS_REGION, S3_FORCE_PATH_STYLE, credentials) and waits up to
 * FLYWHEEL_LOAD_TIMEOUT_MS (default 600000) until every replica lists the version, which the
 * model servers' sync sidecars load from <their root>/<adapter>/<version>; with
 * FLYWHEEL_LORA_ROOT (a model server without the sidecar whose files are already in place) it
 * calls the load and unload endpoints itself with lora_path <root>/<adapter>/<version>;
 * FLYWHEEL_CANARY_EVERY_MS (default 10000), FLYWHEEL_CANARY_LAG_MS (default 5000),
 * FLYWHEEL_LOAD_POLL_MS (default 2000: how often /v1/models is read while waiting),
 * FLYWHEEL_UNLOAD_GRACE_MS (default 20000: twice the gateway's registry sync).
 *
 * Exit: 0 registered / promoted, 1 rolled back, 2 bad input (named), 3 another failure.
 */
import { Pool } from "pg";
import {
  parseLimits,
  parseRunRecord,
  promotedVersion,
  registerRun,
  runCanary,
  ControllerError,
  type CanaryOptions,
} from "./controller";
import { migrateFlywheel } from "./registry";
import { parseCandidatesUri, publishServingState, servingState } from "./serving-state";
import { credentialsProvider, S3Client } from "../s3";

function env(e: NodeJS.ProcessEnv, name: string): string {
  const v = e[name];
  if (!v) throw new ControllerError(`expected ${name} in the environment, found nothing`);
  return v;
}

function ms(e: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = e[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new ControllerError(`expected ${name} to be whole milliseconds, found ${JSON.stringify(v)}`);
  return n;
}

function json(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ControllerError(`expected ${what} to be JSON (${(e as Error).message})`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Sidecar loading from the environment: publishes the adapter's `serving.json` under
 * CANDIDATES_URI with the workload's S3 settings and credentials, and waits for the replicas
 * (FLYWHEEL_LOAD_TIMEOUT_MS, FLYWHEEL_LOAD_POLL_MS). `s3` is to be closed by the caller.
 */
export function sidecarServing(
  e: NodeJS.ProcessEnv,
  pool: Pool,
  run: { readonly team: string; readonly adapter: string; readonly baseModel: string },
): { serving: NonNullable<CanaryOptions["serving"]>; s3: S3Client } {
  const loc = parseCandidatesUri(env(e, "CANDIDATES_URI"));
  const region = e.AWS_REGION ?? "us-east-1";
  const s3 = new S3Client({
    endpoint: e.AWS_ENDPOINT_URL_S3 || `https://s3.${region}.amazonaws.com`,
    region,
    bucket: loc.bucket,
    forcePathStyle: e.S3_FORCE_PATH_STYLE === "true",
    credentials: credentialsProvider(e),
  });
  return {
    s3,
    serving: {
      publish: async () =>
        publishServingState(
          (k, b, t) => s3.putObject(k, b, t),
          loc,
          await servingState(pool, { team: run.team, adapter: run.adapter, baseModel: run.baseModel }, loc),
        ),
      timeoutMs: ms(e, "FLYWHEEL_LOAD_TIMEOUT_MS", 600_000),
      everyMs: ms(e, "FLYWHEEL_LOAD_POLL_MS", 2_000),
    },
  };
}

export async function main(
  argv: readonly string[],
  e: NodeJS.ProcessEnv,
  input: () => Promise<string>,
  out: (s: string) => void,
): Promise<number> {
  const [command] = argv;
  let pool: Pool | undefined;
  let s3: S3Client | undefined;
  try {
    if (command === "incumbent") {
      const adapter = argv[1];
      if (!adapter || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(adapter))
        throw new ControllerError(
          `expected an adapter name after incumbent, found ${JSON.stringify(adapter ?? null)}`,
        );
      pool = new Pool({ max: 1 });
      await migrateFlywheel(pool);
      const version = (await promotedVersion(pool, adapter)) ?? null;
      const uri = version
        ? (
            await pool.query<{ uri: string }>("SELECT uri FROM flywheel.model_versions WHERE id = $1", [
              version,
            ])
          ).rows[0].uri
        : null;
      out(JSON.stringify({ version, uri }));
      return 0;
    }
    if (command !== "register" && command !== "canary")
      throw new ControllerError(
        `expected a command (incumbent, register or canary), found ${JSON.stringify(command ?? null)}`,
      );
    const raw = json(await input(), "the run record on stdin");
    const run = parseRunRecord(raw);
    pool = new Pool({ max: 2 });
    await migrateFlywheel(pool);
    if (command === "register") {
      await registerRun(pool, run, (raw as { gate: unknown }).gate);
      out(JSON.stringify({ registered: run.candidate.version, passed: run.gate.passed }));
      return 0;
    }
    if (!run.gate.passed)
      throw new ControllerError(
        `expected a candidate that passed the gate, found ${run.candidate.version} rejected`,
      );
    const replicas = env(e, "FLYWHEEL_REPLICAS")
      .split(",")
      .map((s) => s.trim().replace(/\/$/, ""))
      .filter(Boolean);
    for (const r of replicas)
      if (!/^https?:\/\/[^/]+$/.test(r))
        throw new ControllerError(
          `expected FLYWHEEL_REPLICAS to be http(s) URLs without a path, found ${JSON.stringify(r)}`,
        );
    const limits = parseLimits(json(env(e, "FLYWHEEL_CANARY"), "FLYWHEEL_CANARY"));
    const root = e.FLYWHEEL_LORA_ROOT?.replace(/\/$/, "");
    let loading: Pick<Parameters<typeof runCanary>[1], "loraPath" | "serving">;
    if (root) loading = { loraPath: `${root}/${run.adapter}/${run.candidate.version}` };
    else {
      const sidecar = sidecarServing(e, pool, run);
      s3 = sidecar.s3;
      loading = { serving: sidecar.serving };
    }
    const final = await runCanary(pool, {
      team: run.team,
      adapter: run.adapter,
      version: run.candidate.version,
      ...loading,
      replicas,
      limits,
      everyMs: ms(e, "FLYWHEEL_CANARY_EVERY_MS", 10_000),
      lagMs: ms(e, "FLYWHEEL_CANARY_LAG_MS", 5_000),
      unloadGraceMs: ms(e, "FLYWHEEL_UNLOAD_GRACE_MS", 20_000),
      log: (msg, f) => process.stderr.write(JSON.stringify({ msg, ...f }) + "\n"),
    });
    out(JSON.stringify(final));
    return final.phase === "promoted" ? 0 : 1;
  } catch (err) {
    process.stderr.write(`flywheel-controller ${command ?? ""}: ${(err as Error).message}\n`);
    return err instanceof ControllerError ? 2 : 3;
  } finally {
    s3?.close();
    await pool?.end();
  }
}

if (require.main === module)
  void main(process.argv.slice(2), process.env, readStdin, (s) => process.stdout.write(s + "\n")).then(
    (code) => process.exit(code),
  );
