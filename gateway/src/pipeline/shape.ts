/**
 * OpenAI request shapes, checked strictly (types and ranges of the fields the gateway knows),
 * and the text the guard must screen: everything the model will read. A shape the guard
 * cannot screen (token-id prompts, image parts, template overrides) is refused with a 400
 * naming the field, never passed on unscreened.
 */
import { errors } from "../errors";
import type { InferenceEndpoint } from "./context";

/** The text the policy sees (and the token estimate is based on). */
export interface ScreenText {
  readonly messages?: { role: string; content: string }[];
  readonly prompt?: string;
  readonly chars: number;
}

/** Throws a 400 naming the field. */
function bad(param: string, msg: string): never {
  throw errors.badRequest(`${param}: ${msg}`, param);
}

export const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Deepest nesting of arrays and objects in `v`, counted without recursion; stops past `limit`. */
export function nestingDepth(v: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (typeof x !== "object" || x === null) continue;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const c of Array.isArray(x) ? x : Object.values(x)) {
      if (typeof c === "object" && c !== null) stack.push([c, d + 1]);
    }
  }
  return max;
}

/**
 * The largest token count accepted: a signed 32-bit integer, what model servers take.
 */
export const MAX_INT = 2_147_483_647;

type Check = (v: unknown, param: string) => void;
const boolean: Check = (v, p) => {
  if (typeof v !== "boolean") bad(p, `expected true or false, found ${show(v)}`);
};
const str: Check = (v, p) => {
  if (typeof v !== "string") bad(p, `expected a string, found ${show(v)}`);
};
const int =
  (min: number, max: number): Check =>
  (v, p) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
      bad(p, `expected an integer from ${min} to ${max}, found ${show(v)}`);
  };
const num =
  (min: number, max: number): Check =>
  (v, p) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max)
      bad(p, `expected a number from ${min} to ${max}, found ${show(v)}`);
  };
const obj: Check = (v, p) => {
  if (!isObj(v)) bad(p, `expected an object, found ${show(v)}`);
};
const stop: Check = (v, p) => {
  if (typeof v === "string") return;
  if (!Array.isArray(v) || v.length > 4) bad(p, `expected a string or up to 4 strings, found ${show(v)}`);
  v.forEach((x, i) => str(x, `${p}[${i}]`));
};

/** Fields every generating endpoint shares. */
const GENERATION: Readonly<Record<string, Check>> = {
  stream: boolean,
  stream_options: (v, p) => {
    obj(v, p);
    const o = v as Record<string, unknown>;
    if (o.include_usage !== undefined) boolean(o.include_usage, `${p}.include_usage`);
  },
  n: int(1, 128),
  max_tokens: int(1, MAX_INT),
  max_completion_tokens: int(1, MAX_INT),
  temperature: num(0, 2),
  top_p: num(0, 1),
  presence_penalty: num(-2, 2),
  frequency_penalty: num(-2, 2),
  seed: int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  stop,
  user: str,
  logit_bias: obj,
};

const CHAT: Readonly<Record<string, Check>> = {
  ...GENERATION,
  logprobs: boolean,
  top_logprobs: int(0, 20),
  // Checked, and turned into text, by toolsText.
  tools: (v, p) => {
    if (!Array.isArray(v)) bad(p, `expected an array, found ${show(v)}`);
  },
  functions: (v, p) => {
    if (!Array.isArray(v)) bad(p, `expected an array, found ${show(v)}`);
  },
  response_format: obj,
};

const COMPLETIONS: Readonly<Record<string, Check>> = {
  ...GENERATION,
  echo: boolean,
  best_of: int(1, 128),
  logprobs: int(0, 5),
  suffix: str,
};

const EMBEDDINGS: Readonly<Record<string, Check>> = {
  encoding_format: (v, p) => {
    if (v !== "float" && v !== "base64") bad(p, `expected "float" or "base64", found ${show(v)}`);
  },
  dimensions: int(1, 65_536),
  user: str,
};

/**
 * Model-server extensions that put text before the model which the guard would not see
 * (vLLM's chat template overrides, documents, prompt embeddings): refused.
 */
const UNSCREENABLE_FIELDS = ["chat_template", "chat_template_kwargs", "documents", "prompt_embeds"];

const ROLES = new Set(["system", "developer", "user", "assistant", "tool", "function"]);

/** A shortened rendering of a bad value for an error message. */
function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Checks a body against OpenAI's request shape for `endpoint` (unknown fields pass, except
 * those that would reach the model unscreened) and returns the text the guard must screen.
 */
export function checkShape(endpoint: InferenceEndpoint, body: Record<string, unknown>): ScreenText {
  const rules =
    endpoint === "/v1/chat/completions" ? CHAT : endpoint === "/v1/completions" ? COMPLETIONS : EMBEDDINGS;
  for (const [k, check] of Object.entries(rules)) if (body[k] !== undefined) check(body[k], k);
  for (const k of UNSCREENABLE_FIELDS)
    if (body[k] !== undefined) bad(k, "not accepted by the gateway: the guard cannot screen it");
  if (endpoint === "/v1/chat/completions") {
    const t = chatText(body.messages);
    const tools = toolsText(body);
    if (!tools) return t;
    // The chat template renders tool definitions into the prompt: the guard reads them as the
    // system turn they become.
    return { messages: [{ role: "system", content: tools }, ...t.messages!], chars: t.chars + tools.length };
  }
  if (endpoint === "/v1/completions") {
    const parts = texts(body.prompt, "prompt", false);
    if (typeof body.suffix === "string" && body.suffix) parts.push(body.suffix);
    const prompt = parts.join("\n");
    return { prompt, chars: prompt.length };
  }
  const prompt = texts(body.input, "input", true).join("\n");
  return { prompt, chars: prompt.length };
}

/**
 * A prompt or embeddings input: a string or an array of strings. Token ids (an array of
 * integers, or of such arrays) cannot be screened without the model's tokenizer: refused for
 * completions, accepted for embeddings (nothing is generated from them).
 */
function texts(v: unknown, p: string, tokensOk: boolean): string[] {
  if (typeof v === "string") return [v];
  if (!Array.isArray(v) || v.length === 0)
    bad(p, `expected a string or a non-empty array of strings, found ${show(v)}`);
  const out: string[] = [];
  v.forEach((x, i) => {
    if (typeof x === "string") {
      out.push(x);
      return;
    }
    const tokens = typeof x === "number" || (Array.isArray(x) && x.every((t) => typeof t === "number"));
    if (!tokens) bad(`${p}[${i}]`, `expected a string, found ${show(x)}`);
    if (!tokensOk)
      bad(p, "token-id prompts are not accepted: the guard screens text only, send the prompt as text");
    const ids: unknown[] = Array.isArray(x) ? x : [x];
    if (!ids.every((t) => Number.isInteger(t) && (t as number) >= 0 && (t as number) <= MAX_INT))
      bad(`${p}[${i}]`, "expected integer token ids");
  });
  return out;
}

/** Message content: a string, null, or text parts. Other parts (images, audio, files) cannot be screened. */
function contentText(v: unknown, p: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (!Array.isArray(v)) bad(p, `expected a string or an array of content parts, found ${show(v)}`);
  return v
    .map((part: unknown, j) => {
      const pp = `${p}[${j}]`;
      if (!isObj(part)) return bad(pp, `expected a content part object, found ${show(part)}`);
      if (part.type === "text") {
        str(part.text, `${pp}.text`);
        return part.text as string;
      }
      if (part.type === "refusal") {
        str(part.refusal, `${pp}.refusal`);
        return part.refusal as string;
      }
      return bad(
        `${pp}.type`,
        `only text parts are accepted (the guard screens text), found ${show(part.type)}`,
      );
    })
    .join("\n");
}

/** Chat messages as the guard sees them: content, tool-call names and arguments, tool results. */
function chatText(v: unknown): ScreenText {
  if (!Array.isArray(v)) bad("messages", `expected an array of messages, found ${show(v)}`);
  let chars = 0;
  const messages = v.map((m: unknown, i) => {
    const p = `messages[${i}]`;
    if (!isObj(m)) return bad(p, `expected a message object, found ${show(m)}`);
    if (typeof m.role !== "string" || !ROLES.has(m.role))
      bad(`${p}.role`, `expected one of ${[...ROLES].join(", ")}, found ${show(m.role)}`);
    const parts = [contentText(m.content, `${p}.content`)];
    if (m.name !== undefined) str(m.name, `${p}.name`);
    if (m.tool_call_id !== undefined) str(m.tool_call_id, `${p}.tool_call_id`);
    if (m.tool_calls !== undefined && !Array.isArray(m.tool_calls))
      bad(`${p}.tool_calls`, `expected an array, found ${show(m.tool_calls)}`);
    const calls: unknown[] = [...((m.tool_calls as unknown[] | undefined) ?? [])];
    if (m.function_call !== undefined) calls.push({ function: m.function_call });
    calls.forEach((c, j) => {
      const cp = `${p}.tool_calls[${j}]`;
      const f = isObj(c) ? c.function : undefined;
      if (!isObj(f)) return bad(`${cp}.function`, `expected an object, found ${show(f)}`);
      str(f.name, `${cp}.function.name`);
      str(f.arguments, `${cp}.function.arguments`);
      parts.push(`${f.name as string}(${f.arguments as string})`);
    });
    const content = parts.filter(Boolean).join("\n");
    chars += content.length;
    return { role: m.role, content };
  });
  return { messages, chars };
}

/**
 * The tool definitions of a chat request (`tools`, and the legacy `functions`) as the text the
 * model reads: per function its name, description and parameter schema (as JSON, so every
 * property name, description and enum value is in it). Empty when there are none.
 */
function toolsText(body: Record<string, unknown>): string {
  const out: string[] = [];
  const fn = (f: unknown, p: string) => {
    if (!isObj(f)) return bad(p, `expected an object, found ${show(f)}`);
    str(f.name, `${p}.name`);
    if (f.description !== undefined) str(f.description, `${p}.description`);
    if (f.parameters !== undefined) obj(f.parameters, `${p}.parameters`);
    const lines = [`tool ${f.name as string}`];
    if (f.description) lines.push(f.description as string);
    if (f.parameters !== undefined) lines.push(`parameters: ${JSON.stringify(f.parameters)}`);
    out.push(lines.join("\n"));
  };
  ((body.tools as unknown[] | undefined) ?? []).forEach((t, i) => {
    const p = `tools[${i}]`;
    if (!isObj(t)) return bad(p, `expected an object, found ${show(t)}`);
    if (t.type !== "function")
      bad(
        `${p}.type`,
        `only function tools are accepted (the guard screens their text), found ${show(t.type)}`,
      );
    fn(t.function, `${p}.function`);
  });
  ((body.functions as unknown[] | undefined) ?? []).forEach((f, i) => fn(f, `functions[${i}]`));
  return out.join("\n\n");
}

/** max_completion_tokens or max_tokens (0 when absent). */
export function maxTokens(body: Record<string, unknown>): number {
  const v = body.max_completion_tokens ?? body.max_tokens;
  return typeof v === "number" && v > 0 ? v : 0;
}
