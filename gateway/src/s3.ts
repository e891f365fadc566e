/**
 * A minimal S3 client: `PUT` object with AWS Signature Version 4, plus credentials from the
 * environment (static keys, as the in-cluster object store hands out) or from the container
 * credentials endpoint (EKS Pod Identity). No SDK: the gateway writes one kind of object; the
 * flywheel controller (flywheel/controller-cli.ts `from-store`) lists and reads run records.
 */
import { createHash, createHmac } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** Epoch ms when they expire (refreshed 5 minutes earlier). */
  readonly expiresAt?: number;
}

export interface SignInput {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the payload, or `UNSIGNED-PAYLOAD`. */
  readonly payloadHash: string;
  readonly region: string;
  readonly service: string;
  readonly credentials: Credentials;
  /** `YYYYMMDD'T'HHMMSS'Z'`. */
  readonly amzDate: string;
}

const sha256hex = (d: string | Buffer) => createHash("sha256").update(d).digest("hex");
const hmac = (k: string | Buffer, d: string) => createHmac("sha256", k).update(d).digest();

/** RFC 3986 encoding as SigV4 wants it (`/` kept in S3 object paths). */
export function uriEncode(s: string, keepSlash: boolean): string {
  let out = "";
  for (const ch of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(ch);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === "/")) out += c;
    else out += "%" + ch.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

export function amzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/**
 * Signs a request; returns the headers to send (the input headers plus `x-amz-date`,
 * `x-amz-content-sha256`, the session token and `authorization`). `url.pathname` must already
 * be URI-encoded the way it is sent.
 */
export function signV4(i: SignInput): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(i.headers)) headers[k.toLowerCase()] = v;
  headers.host ??= i.url.host;
  headers["x-amz-date"] = i.amzDate;
  headers["x-amz-content-sha256"] = i.payloadHash;
  if (i.credentials.sessionToken) headers["x-amz-security-token"] = i.credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n].trim().replace(/\s+/g, " ")}\n`).join("");
  const signedHeaders = names.join(";");
  const query = [...i.url.searchParams.entries()]
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonicalRequest = [
    i.method,
    i.url.pathname || "/",
    query,
    canonicalHeaders,
    signedHeaders,
    i.payloadHash,
  ].join("\n");
  const day = i.amzDate.slice(0, 8);
  const scope = `${day}/${i.region}/${i.service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", i.amzDate, scope, sha256hex(canonicalRequest)].join("\n");
  const kDate = hmac(`AWS4${i.credentials.secretAccessKey}`, day);
  const kSigning = hmac(hmac(hmac(kDate, i.region), i.service), "aws4_request");
  const signature = createHmac("sha256", kSigning).update(stringToSign).digest("hex");
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${i.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Credentials from the environment: static keys, or the container credentials endpoint (Pod Identity). */
export function credentialsProvider(env: Env): () => Promise<Credentials> {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    const c: Credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN || undefined,
    };
    return async () => c;
  }
  const uri = env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  if (uri) {
    let cached: Credentials | undefined;
    return async () => {
      if (cached && (cached.expiresAt ?? Infinity) - 300_000 > Date.now()) return cached;
      const tokenFile = env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
      const auth = tokenFile
        ? (await fs.promises.readFile(tokenFile, "utf8")).trim()
        : env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
      const r = await fetch(uri, {
        headers: auth ? { authorization: auth } : {},
        signal: AbortSignal.timeout(5000),
      });
      if (!r.ok) throw new Error(`container credentials endpoint answered ${r.status}`);
      const j = (await r.json()) as {
        AccessKeyId: string;
        SecretAccessKey: string;
        Token?: string;
        Expiration?: string;
      };
      cached = {
        accessKeyId: j.AccessKeyId,
        secretAccessKey: j.SecretAccessKey,
        sessionToken: j.Token,
        expiresAt: j.Expiration ? Date.parse(j.Expiration) : undefined,
      };
      return cached;
    };
  }
  return async () => {
    throw new Error("no S3 credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or use Pod Identity");
  };
}

export interface S3ClientOptions {
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly forcePathStyle: boolean;
  readonly credentials: () => Promise<Credentials>;
  readonly timeoutMs?: number;
}

export class S3Client {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8 });

  constructor(private readonly o: S3ClientOptions) {}

  /** The URL of an object (path-style or virtual-hosted). */
  objectUrl(key: string): URL {
    const base = new URL(this.o.endpoint);
    const encodedKey = uriEncode(key, true);
    if (this.o.forcePathStyle) {
      return new URL(`${base.protocol}//${base.host}/${this.o.bucket}/${encodedKey}`);
    }
    return new URL(`${base.protocol}//${this.o.bucket}.${base.host}/${encodedKey}`);
  }

  async putObject(key: string, body: Buffer, contentType: string): Promise<void> {
    const r = await this.send("PUT", this.objectUrl(key), {
      body,
      headers: { "content-type": contentType, "content-length": String(body.length) },
    });
    if (r.status < 200 || r.status >= 300)
      throw new Error(`S3 PUT ${key} answered ${r.status}: ${r.body.toString("utf8").slice(0, 200)}`);
  }

  /** Sends a signed request (a body only with PUT); resolves with the status and the whole answer. */
  private async send(
    method: "GET" | "HEAD" | "PUT",
    url: URL,
    put?: { readonly body: Buffer; readonly headers: Record<string, string> },
  ): Promise<{ status: number; body: Buffer }> {
    const headers = signV4({
      method,
      url,
      headers: put?.headers ?? {},
      payloadHash: sha256hex(put?.body ?? ""),
      region: this.o.region,
      service: "s3",
      credentials: await this.o.credentials(),
      amzDate: amzDate(new Date()),
    });
    const mod = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          headers,
          agent: url.protocol === "https:" ? this.httpsAgent : this.httpAgent,
          timeout: this.o.timeoutMs ?? 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`S3 ${method} timed out`)));
      req.on("error", reject);
      req.end(put?.body);
    });
  }

  /** An object's bytes, or undefined when there is none (404). */
  async getObject(key: string): Promise<Buffer | undefined> {
    const r = await this.send("GET", this.objectUrl(key));
    if (r.status === 404) return undefined;
    if (r.status < 200 || r.status >= 300)
      throw new Error(`S3 GET ${key} answered ${r.status}: ${r.body.toString("utf8").slice(0, 200)}`);
    return r.body;
  }

  /** Every key under `prefix` (ListObjectsV2, following continuation tokens). */
  async listKeys(prefix: string): Promise<string[]> {
    const base = this.objectUrl("");
    const keys: string[] = [];
    let token: string | undefined;
    for (;;) {
      const q = [
        ...(token ? [`continuation-token=${uriEncode(token, false)}`] : []),
        "list-type=2",
        `prefix=${uriEncode(prefix, false)}`,
      ].join("&");
      // The bucket's URL, path-style `/<bucket>` or the virtual host's `/`.
      const url = new URL(`${base.protocol}//${base.host}${base.pathname.replace(/\/$/, "")}?${q}`);
      const r = await this.send("GET", url);
      const text = r.body.toString("utf8");
      if (r.status !== 200) throw new Error(`S3 list ${prefix} answered ${r.status}: ${text.slice(0, 200)}`);
      for (const m of text.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(xmlText(m[1]));
      const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(text);
      if (!/<IsTruncated>true<\/IsTruncated>/.test(text) || !next) return keys;
      token = xmlText(next[1]);
    }
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** The text of an XML element (the five predefined entities and numeric references). */
function xmlText(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) =>
    e[0] === "#"
      ? String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
      : ({ amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" } as Record<string, string>)[e],
  );
}
