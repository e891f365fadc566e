/**
 * Where an export lives: a directory or an `s3://bucket/prefix` URL (S3 or any S3-compatible
 * store; SigV4 signing from the gateway's own signer). Also the small S3 client export and
 * import use to read and write the stack's buckets.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { amzDate, type Credentials, signV4, uriEncode } from "../../gateway/src/s3";

const sha256hex = (d: Buffer | string) => createHash("sha256").update(d).digest("hex");

export interface S3Access {
  /** e.g. `https://s3.eu-central-1.amazonaws.com` or `http://127.0.0.1:8333`; path-style is used. */
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: Credentials;
}

export class S3 {
  constructor(private readonly a: S3Access) {}

  private url(bucket: string, key: string, query: Record<string, string> = {}): URL {
    const base = new URL(this.a.endpoint);
    const u = new URL(`${base.protocol}//${base.host}/${bucket}${key ? `/${uriEncode(key, true)}` : ""}`);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  }

  private async send(method: string, url: URL, body?: Buffer): Promise<Buffer> {
    const payload = body ?? Buffer.alloc(0);
    const headers = signV4({
      method,
      url,
      headers: body ? { "content-length": String(body.length) } : {},
      payloadHash: sha256hex(payload),
      region: this.a.region,
      service: "s3",
      credentials: this.a.credentials,
      amzDate: amzDate(new Date()),
    });
    delete headers.host;
    const r = await fetch(url, { method, headers, body: body ? new Uint8Array(body) : undefined });
    const out = Buffer.from(await r.arrayBuffer());
    if (!r.ok)
      throw new Error(
        `S3 ${method} ${url.pathname} answered ${r.status}: ${out.toString("utf8").slice(0, 200)}`,
      );
    return out;
  }

  /** Every key of a bucket under a prefix (follows continuation tokens). */
  async list(bucket: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const q: Record<string, string> = { "list-type": "2", prefix };
      if (token) q["continuation-token"] = token;
      const xml = (await this.send("GET", this.url(bucket, "", q))).toString("utf8");
      for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(unescapeXml(m[1]));
      token = /<IsTruncated>true<\/IsTruncated>/.test(xml)
        ? unescapeXml(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1] ?? "")
        : undefined;
    } while (token);
    return keys;
  }

  get(bucket: string, key: string): Promise<Buffer> {
    return this.send("GET", this.url(bucket, key));
  }

  async put(bucket: string, key: string, body: Buffer): Promise<void> {
    await this.send("PUT", this.url(bucket, key), body);
  }
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

/** An export's files: a directory, or a prefix in a bucket. */
export interface Store {
  readonly where: string;
  write(file: string, body: Buffer): Promise<void>;
  read(file: string): Promise<Buffer>;
  exists(file: string): Promise<boolean>;
}

export function dirStore(dir: string): Store {
  return {
    where: dir,
    async write(file, body) {
      const p = path.join(dir, file);
      await fs.promises.mkdir(path.dirname(p), { recursive: true });
      await fs.promises.writeFile(p, body);
    },
    read: (file) => fs.promises.readFile(path.join(dir, file)),
    exists: async (file) => fs.existsSync(path.join(dir, file)),
  };
}

export function s3Store(s3: S3, url: string): Store {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`expected s3://bucket[/prefix], found "${url}"`);
  const bucket = m[1];
  const prefix = (m[2] ?? "").replace(/\/?$/, "/").replace(/^\/$/, "");
  return {
    where: url,
    write: (file, body) => s3.put(bucket, prefix + file, body),
    read: (file) => s3.get(bucket, prefix + file),
    exists: async (file) => (await s3.list(bucket, prefix + file)).includes(prefix + file),
  };
}
