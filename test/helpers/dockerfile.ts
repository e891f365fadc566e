/**
 * A Dockerfile read as its stages, and those stages replayed on this machine without docker:
 * each stage's filesystem is a temp directory, COPY copies from the build context (or from an
 * earlier stage's directory), WORKDIR is a directory in it, RUN runs there with `sh -c`. What
 * cannot be replayed without a container is left out and named by the caller (`skip`); the rest
 * runs exactly as written, so the test exercises the image's own steps.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface Instruction {
  readonly op: string;
  /** The arguments as written (continuation lines joined). */
  readonly args: string;
}

export interface Stage {
  readonly name: string;
  readonly instructions: readonly Instruction[];
}

/** The stages of a Dockerfile, in order (ARGs before the first FROM are dropped). */
export function stagesOf(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const stages: { name: string; instructions: Instruction[] }[] = [];
  for (const line of lines) {
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (!op) throw new Error(`Dockerfile: cannot read the line ${JSON.stringify(line)}`);
    if (op.toUpperCase() === "FROM") {
      const name = /\bAS\s+(\S+)$/i.exec(args)?.[1] ?? String(stages.length);
      stages.push({ name, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

export interface Copy {
  readonly from?: string;
  readonly sources: readonly string[];
  readonly dest: string;
}

export function copyOf(args: string): Copy {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const paths = words.filter((w) => !w.startsWith("--"));
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
  return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] };
}

/** The build-context paths a Dockerfile copies (COPY without --from), as written. */
export function contextPaths(stages: readonly Stage[]): string[] {
  return stages.flatMap((s) =>
    s.instructions
      .filter((i) => i.op === "COPY")
      .flatMap((i) => (copyOf(i.args).from ? [] : copyOf(i.args).sources)),
  );
}

function copyInto(src: string, dest: string, destIsDir: boolean): void {
  if (fs.statSync(src).isDirectory()) {
    fs.mkdirSync(dest, { recursive: true });
    fs.cpSync(src, dest, { recursive: true });
  } else {
    const target = destIsDir ? path.join(dest, path.basename(src)) : dest;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(src, target);
  }
}

/**
 * The environment RUN steps see: this process's, less what an enclosing `npm run`/`npm test`
 * exports (npm_config_prefix and the like would steer a nested npm; a docker build has none).
 */
function buildEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

export interface Replay {
  /** Each stage's filesystem root. */
  readonly roots: ReadonlyMap<string, string>;
  /** The last stage's working directory, environment (ENV) and entry point. */
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly entrypoint: readonly string[];
}

/**
 * Replays `stages` into `into`, copying from `context`. `skip(stage, command)` says which RUN
 * commands (each `&&` part) are not replayed, for example those that change the machine itself.
 * A RUN command that fails throws with its output.
 */
export function replay(
  stages: readonly Stage[],
  context: string,
  into: string,
  skip: (stage: string, command: string) => boolean,
): Replay {
  const roots = new Map<string, string>();
  let workdir = "/";
  let env: Record<string, string> = {};
  let entrypoint: string[] = [];
  for (const stage of stages) {
    const root = path.join(into, stage.name);
    fs.mkdirSync(root, { recursive: true });
    roots.set(stage.name, root);
    workdir = "/";
    env = {};
    const inStage = (p: string) => path.join(root, path.posix.resolve(workdir, p));
    for (const { op, args } of stage.instructions) {
      if (op === "WORKDIR") {
        workdir = path.posix.resolve(workdir, args);
        fs.mkdirSync(inStage("."), { recursive: true });
      } else if (op === "COPY") {
        const c = copyOf(args);
        const base = c.from ? roots.get(c.from) : context;
        if (!base) throw new Error(`COPY --from=${c.from}: no such stage before ${stage.name}`);
        for (const s of c.sources) copyInto(path.join(base, s), inStage(c.dest), c.dest.endsWith("/"));
      } else if (op === "ENV") {
        for (const m of args.matchAll(/(\w+)=(\S+)/g)) env[m[1]] = m[2];
      } else if (op === "ENTRYPOINT") {
        entrypoint = JSON.parse(args) as string[];
      } else if (op === "RUN") {
        for (const command of args.split("&&").map((c) => c.trim())) {
          if (skip(stage.name, command)) continue;
          const r = spawnSync("sh", ["-c", command], {
            cwd: inStage("."),
            env: buildEnv(),
            encoding: "utf8",
          });
          if (r.status !== 0)
            throw new Error(`${stage.name}: RUN ${command} exited ${r.status}\n${r.stdout}${r.stderr}`);
        }
      }
    }
  }
  return { roots, workdir: path.join(into, stages[stages.length - 1].name, workdir), env, entrypoint };
}
