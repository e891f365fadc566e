/**
 * A local S3-compatible test server (there is no real S3 here): path-style `PUT` and `GET` of
 * objects, `HEAD` (exists or 404) and a one-page `ListObjectsV2`, kept in memory. Every request's Signature Version 4 is verified by this file's own
 * implementation (written separately from the gateway's signer): a wrong key, a tampered body
 * or a bad canonical form is answered 403 `SignatureDoesNotMatch`, like S3 does. It can be
 * taken down (`stop`) and brought back on the same port (`start`).
 */
import * as crypto from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export class TestS3 {
  readonly objects = new Map<string, Buffer>();
  rejected = 0;
  puts = 0;
  url = "";
  private server?: http.Server;
  private port = 0;

  constructor(
    readonly accessKeyId = "AKIDTESTGATEWAY",
    readonly secretAccessKey = "test-secret-key-for-the-gateway",
    readonly region = "us-east-1",
  ) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(this.port, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
    this.server = undefined;
  }

  /** Objects under a bucket and key prefix, parsed as JSONL. */
  records(bucket: string, prefix = ""): { key: string; lines: Record<string, unknown>[] }[] {
    const out: { key: string; lines: Record<string, unknown>[] }[] = [];
    for (const [k, v] of this.objects) {
      if (!k.startsWith(`${bucket}/${prefix}`)) continue;
      const lines = v
        .toString("utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      out.push({ key: k.slice(bucket.length + 1), lines });
    }
    return out;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const problem = this.verify(req, body);
      if (problem) {
        this.rejected++;
        res.writeHead(403, { "content-type": "application/xml" });
        res.end(`<Error><Code>SignatureDoesNotMatch</Code><Message>${problem}</Message></Error>`);
        return;
      }
      const [rawPath, rawQuery = ""] = (req.url ?? "/").split("?");
      const key = decodeURIComponent(rawPath.slice(1));
      const query = new URLSearchParams(rawQuery);
      if (req.method === "GET" && query.get("list-type") === "2" && !key.replace(/\/$/, "").includes("/")) {
        // ListObjectsV2, one page: the keys of a bucket under `prefix`.
        const bucket = key.replace(/\/$/, "");
        const prefix = query.get("prefix") ?? "";
        const esc = (x: string) => x.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
        const items = [...this.objects.entries()]
          .filter(([k]) => k.startsWith(`${bucket}/${prefix}`))
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(
            ([k, v]) =>
              `<Contents><Key>${esc(k.slice(bucket.length + 1))}</Key><Size>${v.length}</Size></Contents>`,
          );
        res.writeHead(200, { "content-type": "application/xml" });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>${esc(bucket)}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${items.length}</KeyCount><IsTruncated>false</IsTruncated>${items.join("")}</ListBucketResult>`,
        );
        return;
      }
      if (req.method === "PUT") {
        this.puts++;
        this.objects.set(key, body);
        res.writeHead(200, { etag: `"${crypto.createHash("md5").update(body).digest("hex")}"` }).end();
      } else if (req.method === "GET" && this.objects.has(key)) {
        res.writeHead(200).end(this.objects.get(key));
      } else if (req.method === "HEAD" && this.objects.has(key)) {
        res.writeHead(200, { "content-length": this.objects.get(key)!.length }).end();
      } else {
        res.writeHead(404).end("<Error><Code>NoSuchKey</Code></Error>");
      }
    });
  }

  /** Returns why the signature is wrong, or undefined when it is right. */
  private verify(req: http.IncomingMessage, body: Buffer): string | undefined {
    const auth = req.headers.authorization ?? "";
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    if (!m) return "malformed Authorization header";
    const [, akid, day, region, signed, signature] = m;
    if (akid !== this.accessKeyId) return "unknown access key";
    if (region !== this.region) return "wrong region";
    const amzDate = String(req.headers["x-amz-date"] ?? "");
    if (!amzDate.startsWith(day)) return "x-amz-date does not match the credential scope";
    const skew = Math.abs(
      Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z")) -
        Date.now(),
    );
    if (!(skew < 15 * 60_000)) return "request time too skewed";
    const declared = String(req.headers["x-amz-content-sha256"] ?? "");
    const actual = crypto.createHash("sha256").update(body).digest("hex");
    if (declared !== actual) return "x-amz-content-sha256 does not match the body";
    const names = signed.split(";");
    if (!names.includes("host") || !names.includes("x-amz-date")) return "host and x-amz-date must be signed";
    const [rawPath, rawQuery = ""] = (req.url ?? "/").split("?");
    // Canonical URI: the path as sent, each byte outside the unreserved set percent-encoded once.
    const canonicalUri = rawPath
      .split("/")
      .map((seg) => encodeRfc3986(decodeURIComponent(seg)))
      .join("/");
    const canonicalQuery = rawQuery
      ? rawQuery
          .split("&")
          .map((p) => p.split("=").map((x) => encodeRfc3986(decodeURIComponent(x ?? ""))))
          .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
          .map(([k, v]) => `${k}=${v ?? ""}`)
          .join("&")
      : "";
    const headerLines = names
      .map(
        (n) =>
          `${n}:${String(req.headers[n] ?? "")
            .trim()
            .replace(/ +/g, " ")}`,
      )
      .join("\n");
    const canonical = `${req.method}\n${canonicalUri}\n${canonicalQuery}\n${headerLines}\n\n${signed}\n${declared}`;
    const sts = `AWS4-HMAC-SHA256\n${amzDate}\n${day}/${region}/s3/aws4_request\n${crypto.createHash("sha256").update(canonical).digest("hex")}`;
    let k: Buffer = crypto
      .createHmac("sha256", "AWS4" + this.secretAccessKey)
      .update(day)
      .digest();
    for (const part of [region, "s3", "aws4_request"])
      k = crypto.createHmac("sha256", k).update(part).digest();
    const expected = crypto.createHmac("sha256", k).update(sts).digest("hex");
    return expected === signature ? undefined : "signature does not match";
  }
}

function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}
