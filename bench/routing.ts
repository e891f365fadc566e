/**
 * `npm run bench:routing`: routing across replicas (docs/gateway.md, "Routing across replicas").
 *
 * Four replicas of a model server that models the KV prefix cache (bench/routing-sim.ts: a
 * prefix hit is faster to the first token; a bounded LRU of prefix blocks per replica), fresh
 * for each strategy. The gateway's own router (gateway/src/routing) picks the replica of every
 * request, with its prefix keys, outstanding-request counts and outlier state, under each
 * strategy: random, round-robin, least-load and prefix-affinity (the default).
 *
 * Workload: multi-turn conversations (each turn resends the conversation so far) that share a
 * few long system prompts; USERS concurrent users, each running CONVERSATIONS_PER_USER
 * conversations of TURNS turns, pausing THINK_MS on average before each question. Printed: time to first token p50/p99,
 * throughput and the prefix-cache hit rate (cached prompt tokens / prompt tokens, as the
 * replicas report them).
 *
 * Options: --users N (24), --conversations N per user (4), --turns N (6), --replicas N (4),
 * --think MS (100), --strategies a,b (all four).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";
import * as readline from "node:readline";
import { prefixKey, STRATEGIES, type Strategy } from "../gateway/src/routing/balance";
import { DEFAULT_ROUTING, Router } from "../gateway/src/routing/router";
import { SIM } from "./routing-sim";

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
};
const USERS = Number(arg("users", "24"));
const CONVERSATIONS_PER_USER = Number(arg("conversations", "4"));
const TURNS = Number(arg("turns", "6"));
const REPLICAS = Number(arg("replicas", "4"));
/** Mean pause of a user between an answer and the next question, ms (uniform in [0.5, 1.5] x). */
const THINK_MS = Number(arg("think", "100"));
const SYSTEM_PROMPTS = 8;
const SYSTEM_WORDS = 480;
const USER_WORDS = 40;
const strategies = arg("strategies", STRATEGIES.join(",")).split(",") as Strategy[];
for (const s of strategies)
  if (!(STRATEGIES as readonly string[]).includes(s))
    throw new Error(`--strategies: expected some of ${STRATEGIES.join(", ")}, found "${s}"`);

/** Deterministic PRNG (mulberry32): every strategy gets the same workload. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const words = (rnd: () => number, n: number) =>
  Array.from({ length: n }, () => `w${Math.floor(rnd() * 5000)}`).join(" ");

interface Msg {
  role: string;
  content: string;
}
interface Conversation {
  readonly system: Msg;
  readonly questions: readonly string[];
  /** Pause before each question, ms. */
  readonly think: readonly number[];
}

function workload(): Conversation[][] {
  const rnd = prng(17);
  const systems = Array.from({ length: SYSTEM_PROMPTS }, (_, i) => ({
    role: "system",
    content: `system prompt ${i}: ${words(rnd, SYSTEM_WORDS)}`,
  }));
  return Array.from({ length: USERS }, () =>
    Array.from({ length: CONVERSATIONS_PER_USER }, () => ({
      system: systems[Math.floor(rnd() * systems.length)],
      questions: Array.from({ length: TURNS }, () => words(rnd, USER_WORDS)),
      think: Array.from({ length: TURNS }, () => THINK_MS * (0.5 + rnd())),
    })),
  );
}

async function startReplicas(): Promise<{ urls: string[]; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(__dirname, "routing-sim.ts"), String(REPLICAS)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const urls: string[] = [];
  const rl = readline.createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (c) => reject(new Error(`the simulator exited (${c})`)));
    rl.on("line", (l) => {
      urls.push(l.trim());
      if (urls.length === REPLICAS) resolve();
    });
  });
  return { urls, child };
}

interface Outcome {
  ttftMs: number;
  promptTokens: number;
  cachedTokens: number;
  answer: string;
}

/** One streamed chat completion to `base`; the time to its first event. */
function complete(agent: http.Agent, base: string, body: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const u = new URL(`${base}/v1/chat/completions`);
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let ttft = -1;
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          if (ttft < 0) ttft = performance.now() - t0;
          text += c;
        });
        res.on("error", reject);
        res.on("end", () => {
          let answer = "";
          let usage = { prompt_tokens: 0, prompt_tokens_details: { cached_tokens: 0 } };
          for (const ev of text.split("\n\n")) {
            const d = ev.replace(/^data: /, "");
            if (!d || d === "[DONE]") continue;
            const o = JSON.parse(d) as {
              choices: { delta?: { content?: string } }[];
              usage?: typeof usage;
            };
            answer += o.choices[0]?.delta?.content ?? "";
            if (o.usage) usage = o.usage;
          }
          resolve({
            ttftMs: ttft,
            promptTokens: usage.prompt_tokens,
            cachedTokens: usage.prompt_tokens_details.cached_tokens,
            answer: answer.trim(),
          });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

interface Row {
  strategy: Strategy;
  requests: number;
  p50: number;
  p99: number;
  rps: number;
  hitRate: number;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function run(strategy: Strategy, users: Conversation[][]): Promise<Row> {
  const { urls, child } = await startReplicas();
  const route = "http://model-sim.sovereign-serving.svc.cluster.local:8000";
  const router = new Router({
    settings: { ...DEFAULT_ROUTING, strategy, adapterPollMs: 0 },
    routes: [route],
    env: {},
  });
  router.setReplicas(route, urls);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const ttfts: number[] = [];
  let prompt = 0;
  let cached = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      users.map(async (convs) => {
        for (const c of convs) {
          const messages: Msg[] = [c.system];
          for (const [turn, q] of c.questions.entries()) {
            await new Promise((r) => setTimeout(r, c.think[turn]));
            messages.push({ role: "user", content: q });
            const body = { model: "sim", messages, stream: true };
            const lease = router.acquire(route, {
              key: prefixKey("/v1/chat/completions", body),
              model: "sim",
            })!;
            try {
              const o = await complete(agent, lease.url, JSON.stringify(body));
              lease.end(true);
              ttfts.push(o.ttftMs);
              prompt += o.promptTokens;
              cached += o.cachedTokens;
              messages.push({ role: "assistant", content: o.answer });
            } catch (e) {
              lease.end(false);
              throw e;
            }
          }
        }
      }),
    );
  } finally {
    agent.destroy();
    child.kill("SIGTERM");
  }
  const secs = (performance.now() - t0) / 1000;
  return {
    strategy,
    requests: ttfts.length,
    p50: pct(ttfts, 50),
    p99: pct(ttfts, 99),
    rps: ttfts.length / secs,
    hitRate: prompt ? cached / prompt : 0,
  };
}

async function main(): Promise<void> {
  const users = workload();
  console.log(
    `routing bench: ${REPLICAS} replicas (prefix cache ${SIM.CACHE_BLOCKS} blocks of ${SIM.BLOCK} tokens each; ` +
      `prefill ${SIM.PREFILL_BASE_MS} ms + ${SIM.PREFILL_MS_PER_TOKEN} ms per uncached token, one at a time; ` +
      `${SIM.OUT_TOKENS} tokens out, ${SIM.DECODE_MS} ms apart)`,
  );
  console.log(
    `workload: ${USERS} concurrent users x ${CONVERSATIONS_PER_USER} conversations x ${TURNS} turns ` +
      `(~${THINK_MS} ms pause before each question); ` +
      `${SYSTEM_PROMPTS} shared system prompts of ~${SYSTEM_WORDS} tokens, ${USER_WORDS}-token questions`,
  );
  const rows: Row[] = [];
  for (const s of strategies) rows.push(await run(s, users));
  const head = ["strategy", "requests", "TTFT p50 ms", "TTFT p99 ms", "req/s", "cache hit"];
  const cells = rows.map((r) => [
    r.strategy,
    String(r.requests),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    r.rps.toFixed(1),
    `${(r.hitRate * 100).toFixed(1)}%`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i])).join(" | ")} |`;
  console.log(line(head));
  console.log(`|${w.map((n) => "-".repeat(n + 2)).join("|")}|`);
  for (const c of cells) console.log(line(c));
  const rnd = rows.find((r) => r.strategy === "random");
  const aff = rows.find((r) => r.strategy === "prefix-affinity");
  if (rnd && aff) {
    const gain = 1 - aff.p50 / rnd.p50;
    console.log(
      `prefix-affinity vs random, TTFT p50: ${(gain * 100).toFixed(0)}% lower ` +
        `(target >= 30%: ${gain >= 0.3 ? "met" : "NOT met"})`,
    );
  }
}

void main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e.message);
    process.exit(1);
  },
);
