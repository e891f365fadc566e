/**
 * RDS IAM authentication tokens: a SigV4 presigned `connect` request for one database user,
 * sent as the Postgres password. A token is valid for 15 minutes and only for opening a
 * connection, so the pool asks for a fresh one for every new connection (`pg` calls a function
 * password each time it connects). Credentials come from EKS Pod Identity (`credentialsProvider`,
 * cached until 5 minutes before they expire). No SDK: the signing is the S3 client's SigV4.
 */
import { createHash, createHmac } from "node:crypto";
import { amzDate, uriEncode, type Credentials } from "./s3";

/** Seconds a token is valid for (the most RDS accepts). */
export const RDS_TOKEN_EXPIRES_SECONDS = 900;
/** The signing name of RDS IAM authentication. */
export const RDS_SIGNING_SERVICE = "rds-db";

export interface RdsTokenInput {
  /** The RDS endpoint the client connects to (the host name, as in `PGHOST`). */
  readonly host: string;
  readonly port: number;
  /** The database role (`PGUSER`); the IAM policy names it in its `dbuser` ARN. */
  readonly user: string;
  readonly region: string;
  readonly credentials: Credentials;
  readonly now: Date;
}

const sha256hex = (d: string) => createHash("sha256").update(d).digest("hex");
const hmac = (k: string | Buffer, d: string) => createHmac("sha256", k).update(d).digest();
/** SHA-256 of an empty payload: a presigned `connect` has no body. */
const EMPTY_PAYLOAD = sha256hex("");

/**
 * The query string of a SigV4 presigned GET of `/` on `host` (which includes a non-default
 * port): `params` plus the `X-Amz-*` parameters, the signature last.
 */
export function presignQuery(a: {
  readonly host: string;
  readonly params: Readonly<Record<string, string>>;
  readonly region: string;
  readonly service: string;
  readonly credentials: Credentials;
  readonly amzDate: string;
  readonly expiresSeconds: number;
  /** Hex SHA-256 of the payload, or `UNSIGNED-PAYLOAD` (S3). */
  readonly payloadHash: string;
  readonly path?: string;
}): string {
  const day = a.amzDate.slice(0, 8);
  const scope = `${day}/${a.region}/${a.service}/aws4_request`;
  const q: Record<string, string> = {
    ...a.params,
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": `${a.credentials.accessKeyId}/${scope}`,
    "X-Amz-Date": a.amzDate,
    "X-Amz-Expires": String(a.expiresSeconds),
    "X-Amz-SignedHeaders": "host",
    ...(a.credentials.sessionToken ? { "X-Amz-Security-Token": a.credentials.sessionToken } : {}),
  };
  const query = Object.entries(q)
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)])
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonicalRequest = ["GET", a.path ?? "/", query, `host:${a.host}\n`, "host", a.payloadHash].join(
    "\n",
  );
  const stringToSign = ["AWS4-HMAC-SHA256", a.amzDate, scope, sha256hex(canonicalRequest)].join("\n");
  const kDate = hmac(`AWS4${a.credentials.secretAccessKey}`, day);
  const kSigning = hmac(hmac(hmac(kDate, a.region), a.service), "aws4_request");
  const signature = createHmac("sha256", kSigning).update(stringToSign).digest("hex");
  return `${query}&X-Amz-Signature=${signature}`;
}

/** An RDS IAM authentication token (`host:port/?Action=connect&DBUser=...&X-Amz-Signature=...`). */
export function rdsAuthToken(i: RdsTokenInput): string {
  const host = `${i.host}:${i.port}`;
  const query = presignQuery({
    host,
    params: { Action: "connect", DBUser: i.user },
    region: i.region,
    service: RDS_SIGNING_SERVICE,
    credentials: i.credentials,
    amzDate: amzDate(i.now),
    expiresSeconds: RDS_TOKEN_EXPIRES_SECONDS,
    payloadHash: EMPTY_PAYLOAD,
  });
  return `${host}/?${query}`;
}

/**
 * The password function of a pool that logs in with IAM: a fresh token, from the current
 * credentials, every time it is called (once per new connection).
 */
export function rdsTokenPassword(o: {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly region: string;
  readonly credentials: () => Promise<Credentials>;
  readonly now?: () => Date;
}): () => Promise<string> {
  const now = o.now ?? (() => new Date());
  return async () =>
    rdsAuthToken({
      host: o.host,
      port: o.port,
      user: o.user,
      region: o.region,
      credentials: await o.credentials(),
      now: now(),
    });
}
