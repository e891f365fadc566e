/**
 * The gateway's HTTPS listener, in its test world: a CA made for the test signs the serving
 * certificate; the official `openai` client (in a child process, the way a user runs it) trusts
 * the CA through `NODE_EXTRA_CA_CERTS` (docs/gateway-tls.md) and is refused without it; a
 * rotated certificate is served to new connections, and a half-written pair is not.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCa } from "../../test/helpers/pki";
import { ConfigError, loadConfig } from "../src/config";
import { Gateway } from "../src/server";
import { World } from "./helpers/world";
import { MINIMAL_GATEWAY_ENV } from "./helpers/env";

const world = new World();
const ca = new TestCa("sovereign gateway test CA");
const ROOT = path.resolve(__dirname, "../..");
let gw: Gateway;
let url = "";
let certFile = "";
let keyFile = "";
let firstSerial = "";

beforeAll(async () => {
  await world.start();
  const leaf = ca.issue("gateway", ["DNS:localhost", "IP:127.0.0.1"]);
  firstSerial = leaf.serial;
  // The files the Secret volume would hold; the test overwrites them to rotate.
  certFile = path.join(ca.dir, "tls.crt");
  keyFile = path.join(ca.dir, "tls.key");
  fs.copyFileSync(leaf.cert, certFile);
  fs.copyFileSync(leaf.key, keyFile);
  ({ gw, url } = await world.gateway({ tls: { certFile, keyFile, reloadMs: 3_600_000 } }));
});
afterAll(async () => {
  await world.stop();
  ca.destroy();
});

/**
 * Lists the models with the official `openai` client in a fresh Node process (asynchronously:
 * the gateway answers from this process's event loop).
 */
function openaiListModels(
  baseURL: string,
  token: string,
  env: Record<string, string>,
): Promise<{ status: number; stdout: string; stderr: string }> {
  const script = `
    const OpenAI = require("openai").default;
    new OpenAI({ apiKey: process.env.TOKEN, baseURL: process.env.BASE_URL, maxRetries: 0 })
      .models.list()
      .then((page) => console.log(JSON.stringify(page.data.map((m) => m.id))))
      .catch((e) => {
        for (let c = e; c; c = c.cause) console.error(c.code ?? "", c.message);
        process.exit(3);
      });`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["-e", script],
      {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 60_000,
        env: { PATH: process.env.PATH ?? "", BASE_URL: baseURL, TOKEN: token, ...env },
      },
      (err, stdout, stderr) => resolve({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The serial number of the certificate a fresh TLS connection is served. */
function servedSerial(): Promise<string> {
  const port = Number(new URL(url).port);
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      { host: "127.0.0.1", port, ca: fs.readFileSync(ca.cert), servername: "localhost" },
      () => {
        const serial = s.getPeerCertificate().serialNumber;
        s.end();
        resolve(serial.toLowerCase().replace(/^0+/, ""));
      },
    );
    s.once("error", reject);
  });
}

describe("GIVEN the gateway serving HTTPS with a certificate from the stack's CA", () => {
  it("WHEN the openai client trusts the CA (NODE_EXTRA_CA_CERTS) THEN it lists the models over TLS", async () => {
    expect(url).toMatch(/^https:/);
    const token = await world.idp.token({ sub: "alice" });
    const r = await openaiListModels(`${url}/v1`, token, { NODE_EXTRA_CA_CERTS: ca.cert });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toContain("tiny-chat");
  });

  it("WHEN the client does not trust the CA THEN the connection is refused (the certificate is verified)", async () => {
    const token = await world.idp.token({ sub: "alice" });
    const r = await openaiListModels(`${url}/v1`, token, {});
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|self.signed/i);
  });

  it("WHEN a client speaks plain HTTP to the port THEN no answer is served in cleartext", async () => {
    const plain = url.replace(/^https:/, "http:");
    const r = await fetch(`${plain}/healthz`).then(
      (x) => `status ${x.status}`,
      (e: Error) => `error ${e.message}`,
    );
    expect(r).not.toBe("status 200");
  });

  it("WHEN the certificate is rotated THEN new connections get the new one; a half-written pair is skipped", async () => {
    expect(await servedSerial()).toBe(firstSerial.replace(/^0+/, ""));
    const next = ca.issue("gateway-renewed", ["DNS:localhost", "IP:127.0.0.1"]);
    // The kubelet swaps both files; here the key lags behind: the pair does not match.
    fs.copyFileSync(next.cert, certFile);
    expect(gw.reloadCertificate()).toBe(false);
    expect(await servedSerial()).toBe(firstSerial.replace(/^0+/, ""));
    fs.copyFileSync(next.key, keyFile);
    expect(gw.reloadCertificate()).toBe(true);
    expect(await servedSerial()).toBe(next.serial.replace(/^0+/, ""));
    // Unchanged files: nothing to do.
    expect(gw.reloadCertificate()).toBe(false);
  });
});

describe("GIVEN the TLS settings in the gateway's environment", () => {
  const base = MINIMAL_GATEWAY_ENV;
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
      return [];
    } catch (e) {
      return (e as ConfigError).problems;
    }
  };

  it("WHEN both files are set THEN the listener is TLS with the default reload interval; neither: plain HTTP", () => {
    const c = loadConfig({
      ...base,
      GATEWAY_TLS_CERT_FILE: "/t/tls.crt",
      GATEWAY_TLS_KEY_FILE: "/t/tls.key",
    });
    expect(c.tls).toEqual({ certFile: "/t/tls.crt", keyFile: "/t/tls.key", reloadMs: 30_000 });
    expect(loadConfig(base).tls).toBeUndefined();
  });

  it("WHEN only one file is set, or the interval is bad THEN the problem names the variable", () => {
    expect(problems({ GATEWAY_TLS_CERT_FILE: "/t/tls.crt" })).toEqual([
      "GATEWAY_TLS_KEY_FILE: expected the private key of GATEWAY_TLS_CERT_FILE, found nothing",
    ]);
    expect(problems({ GATEWAY_TLS_KEY_FILE: "/t/tls.key" })).toEqual([
      "GATEWAY_TLS_CERT_FILE: expected the certificate of GATEWAY_TLS_KEY_FILE, found nothing",
    ]);
    expect(
      problems({ GATEWAY_TLS_CERT_FILE: "/a", GATEWAY_TLS_KEY_FILE: "/b", GATEWAY_TLS_RELOAD_MS: "0" }),
    ).toEqual(['GATEWAY_TLS_RELOAD_MS: expected an integer >= 1, found "0"']);
  });

  it("WHEN the certificate file is missing THEN the gateway does not start, naming the file", () => {
    const cfg = world.config({ tls: { certFile: "/nonexistent/tls.crt", keyFile: keyFile, reloadMs: 1000 } });
    expect(() => new Gateway({ config: cfg })).toThrow(/\/nonexistent\/tls\.crt/);
  });
});
