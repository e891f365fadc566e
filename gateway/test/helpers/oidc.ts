/**
 * A test identity provider: signing keys for RS256, ES256 and EdDSA, a JWKS endpoint and an
 * OIDC discovery document on loopback, key rotation, and helpers to mint good and bad tokens.
 */
import { createHmac } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as jose from "jose";

export type Alg = "RS256" | "ES256" | "EdDSA";

interface Key {
  readonly kid: string;
  readonly alg: Alg;
  readonly privateKey: jose.CryptoKey;
  readonly jwk: jose.JWK;
}

export class TestIdp {
  private keys: Key[] = [];
  private server?: http.Server;
  jwksFetches = 0;
  issuer = "";
  readonly audience = "sovereign-gateway";

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      if (req.url === "/.well-known/openid-configuration") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ issuer: this.issuer, jwks_uri: `${this.issuer}/jwks` }));
      } else if (req.url === "/jwks") {
        this.jwksFetches++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ keys: this.keys.map((k) => k.jwk) }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.issuer = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Adds a signing key (published in the JWKS) and returns its kid. */
  async addKey(alg: Alg, kid = `${alg.toLowerCase()}-${this.keys.length + 1}`): Promise<string> {
    const { privateKey, publicKey } = await jose.generateKeyPair(
      alg,
      alg === "EdDSA" ? { crv: "Ed25519" } : {},
    );
    const jwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: "sig" };
    this.keys.push({ kid, alg, privateKey, jwk });
    return kid;
  }

  /** Removes a key from the JWKS (it can still sign: tokens made with it must then fail). */
  removeKey(kid: string): Key {
    const k = this.keys.find((x) => x.kid === kid)!;
    this.keys = this.keys.filter((x) => x.kid !== kid);
    return k;
  }

  private key(kid?: string): Key {
    const k = kid ? this.keys.find((x) => x.kid === kid) : this.keys[0];
    if (!k) throw new Error(`no key ${kid}`);
    return k;
  }

  /** A valid token for `sub` in `groups`, signed with `kid` (default the first key). */
  async token(
    o: {
      sub?: string;
      groups?: string[];
      kid?: string;
      key?: Key;
      aud?: string;
      iss?: string;
      /** Seconds from now. */
      exp?: number;
      nbf?: number;
      extra?: Record<string, unknown>;
    } = {},
  ): Promise<string> {
    const k = o.key ?? this.key(o.kid);
    const now = Math.floor(Date.now() / 1000);
    const jwt = new jose.SignJWT({ groups: o.groups ?? ["sovereign-demo"], ...o.extra })
      .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: "JWT" })
      .setSubject(o.sub ?? "alice")
      .setIssuer(o.iss ?? this.issuer)
      .setAudience(o.aud ?? this.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + (o.exp ?? 300));
    if (o.nbf !== undefined) jwt.setNotBefore(now + o.nbf);
    return jwt.sign(k.privateKey);
  }

  /** An unsigned `alg: none` token with otherwise valid claims. */
  noneToken(): string {
    const now = Math.floor(Date.now() / 1000);
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    return `${enc({ alg: "none", typ: "JWT" })}.${enc({ sub: "mallory", iss: this.issuer, aud: this.audience, exp: now + 300, groups: ["sovereign-demo"] })}.`;
  }

  /** An HS256 token whose HMAC secret is the public JWK of the first key (the classic confusion attack). */
  hmacToken(): string {
    const now = Math.floor(Date.now() / 1000);
    const k = this.keys[0];
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const head = enc({ alg: "HS256", typ: "JWT", kid: k.kid });
    const body = enc({
      sub: "mallory",
      iss: this.issuer,
      aud: this.audience,
      exp: now + 300,
      groups: ["sovereign-demo"],
    });
    const sig = createHmac("sha256", JSON.stringify(k.jwk)).update(`${head}.${body}`).digest("base64url");
    return `${head}.${body}.${sig}`;
  }
}
