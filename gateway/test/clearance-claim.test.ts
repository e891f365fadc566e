/**
 * The clearance claim end to end (issue 15): a `clearance` claim in the caller's token, through
 * the running gateway and the real OPA with the real policy, lowers the team's clearance and
 * never raises it; a malformed claim is denied.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World } from "./helpers/world";

const world = new World();
let url = "";

beforeAll(async () => {
  await world.start();
  ({ url } = await world.gateway());
});
afterAll(() => world.stop());

async function chat(model: string, claim?: unknown) {
  const token = await world.idp.token({ extra: claim === undefined ? {} : { clearance: claim } });
  const c = new OpenAI({ apiKey: token, baseURL: `${url}/v1`, maxRetries: 0 });
  try {
    await c.chat.completions.create({ model, messages: [{ role: "user", content: "hello" }] });
    return { status: 200, reasons: [] as string[] };
  } catch (e) {
    const err = e as { status: number; error?: { reasons?: string[] } };
    return { status: err.status, reasons: err.error?.reasons ?? [] };
  }
}

describe("GIVEN team demo (clearance internal) behind the gateway", () => {
  it("WHEN the token has no claim or claims internal THEN an internal model answers", async () => {
    expect(world.data.teams.demo.clearance).toBe("internal");
    expect(world.data.models["tiny-chat"].dataClassification).toBe("internal");
    expect(await chat("tiny-chat")).toEqual({ status: 200, reasons: [] });
    expect(await chat("tiny-chat", "internal")).toEqual({ status: 200, reasons: [] });
  });

  it("WHEN the token claims public THEN the internal model is refused (the claim lowers clearance)", async () => {
    expect(await chat("tiny-chat", "public")).toEqual({ status: 403, reasons: ["clearance_insufficient"] });
  });

  it("WHEN the token claims restricted THEN a restricted model stays refused (the claim never raises)", async () => {
    expect(world.data.models["secret-chat"].dataClassification).toBe("restricted");
    expect(await chat("secret-chat")).toEqual({ status: 403, reasons: ["clearance_insufficient"] });
    expect(await chat("secret-chat", "restricted")).toEqual({
      status: 403,
      reasons: ["clearance_insufficient"],
    });
  });

  it("WHEN the claim is not a classification THEN 403 clearance_invalid", async () => {
    for (const claim of ["top-secret", "Internal", "", null, 1])
      expect(await chat("tiny-chat", claim), JSON.stringify(claim)).toEqual({
        status: 403,
        reasons: ["clearance_invalid"],
      });
  });
});
