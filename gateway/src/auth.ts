/**
 * Authentication: OIDC bearer JWTs verified against the issuer's JWKS (cached, refetched on an
 * unknown key id so rotation works), or API keys for service accounts, stored as SHA-256 hashes
 * in Postgres and bound to a team. Only RS256, ES256 and EdDSA are accepted: `alg: none` and
 * HMAC tokens are rejected before any key is looked up.
 */
import { createHash } from "node:crypto";
import * as jose from "jose";
import type { Classification } from "../../components/lib/classification";
import type { Catalog, OidcConfig } from "./config";
import { ApiError, errors } from "./errors";

export const ALLOWED_ALGORITHMS = ["RS256", "ES256", "EdDSA"] as const;
/**
 * Token claim that can lower the caller's clearance below its team's (never raise it: the
 * policy takes the lower of the two, and an unknown value is `clearance_invalid`).
 */
export const CLEARANCE_CLAIM = "clearance";
/**
 * Token claim that opts the caller's requests out of training (`false`); it wins over the team's
 * capture default. `true` changes nothing (it cannot opt a team in); any other value is refused.
 */
export const TRAINING_CONSENT_CLAIM = "training_consent";
export const API_KEY_PREFIX = "sk-sov-";

export interface Principal {
  readonly sub: string;
  readonly groups: readonly string[];
  readonly team: string;
  readonly clearance?: Classification;
  readonly kind: "oidc" | "apikey";
  /** False when the token's `training_consent` claim opts the caller out of training. */
  readonly trainingConsent?: false;
}

interface VerifiedToken {
  sub: string;
  groups: string[];
  /** The token's clearance claim, when it has one (unchecked: the policy decides). */
  clearance?: string;
  /** The token's training_consent claim is false. */
  optOut?: true;
}

export interface ApiKeyRecord {
  readonly id: string;
  readonly team: string;
  /** When the key stops working (ms since the epoch); absent when it never expires. */
  readonly expiresAt?: number;
}

/** Looks an API key up by its hash; undefined when unknown or revoked. */
export type ApiKeyLookup = (hash: string) => Promise<ApiKeyRecord | undefined>;

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

interface Cached<T> {
  readonly value: T;
  readonly until: number;
}

const CACHE_MAX = 10_000;

/** A small bounded TTL map (oldest entries are evicted first). */
class TtlCache<T> {
  private readonly m = new Map<string, Cached<T>>();
  get(k: string, now: number): T | undefined {
    const e = this.m.get(k);
    if (!e) return undefined;
    if (e.until <= now) {
      this.m.delete(k);
      return undefined;
    }
    return e.value;
  }
  set(k: string, value: T, until: number): void {
    if (this.m.size >= CACHE_MAX) this.m.delete(this.m.keys().next().value as string);
    this.m.set(k, { value, until });
  }
}

export interface AuthenticatorOptions {
  readonly oidc: OidcConfig;
  readonly catalog: Catalog;
  /** When absent, API keys are not accepted. */
  readonly apiKeys?: ApiKeyLookup;
  /** How long a verified token is remembered (never past its `exp`), ms. @default 60000 */
  readonly tokenCacheMs?: number;
  /**
   * How long a found API key is remembered (never past its expiry), ms: the longest a revoked
   * key keeps working on a gateway replica that has just seen it. @default 30000
   */
  readonly apiKeyCacheMs?: number;
}

export class Authenticator {
  private jwks?: ReturnType<typeof jose.createRemoteJWKSet>;
  private jwksPending?: Promise<ReturnType<typeof jose.createRemoteJWKSet>>;
  private readonly tokens = new TtlCache<VerifiedToken>();
  private readonly keys = new TtlCache<ApiKeyRecord | null>();
  private readonly groupToTeams = new Map<string, string[]>();

  constructor(private readonly opts: AuthenticatorOptions) {
    for (const [team, t] of Object.entries(opts.catalog.teams).sort(([a], [b]) => a.localeCompare(b))) {
      const l = this.groupToTeams.get(t.oidcGroup) ?? [];
      l.push(team);
      this.groupToTeams.set(t.oidcGroup, l);
    }
  }

  /** Authenticates an `Authorization` header; `teamHeader` picks one team of several. */
  async authenticate(authorization: string | undefined, teamHeader?: string): Promise<Principal> {
    if (!authorization) throw errors.unauthorized("missing bearer token");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw errors.unauthorized('expected an Authorization header of the form "Bearer <token>"');
    const token = m[1];
    if (token.startsWith(API_KEY_PREFIX)) return this.fromApiKey(token, teamHeader);
    const id = await this.verifyJwt(token);
    const base = this.principal(id.sub, id.groups, "oidc", teamHeader);
    const p: Principal = id.optOut ? { ...base, trainingConsent: false } : base;
    // A clearance claim replaces the team's clearance in the policy input; the policy uses the
    // lower of the two, so the claim can only lower it. A claim that is not a classification
    // name reaches the policy as it is and is denied there (clearance_invalid).
    return id.clearance === undefined ? p : { ...p, clearance: id.clearance as Classification };
  }

  private principal(
    sub: string,
    groups: readonly string[],
    kind: Principal["kind"],
    teamHeader?: string,
  ): Principal {
    const teams: string[] = [];
    for (const g of groups) for (const t of this.groupToTeams.get(g) ?? []) teams.push(t);
    teams.sort();
    let team: string | undefined;
    if (teamHeader) {
      if (!teams.includes(teamHeader)) throw errors.forbidden(["team_not_member"]);
      team = teamHeader;
    } else team = teams[0];
    if (!team) throw errors.forbidden(["no_team"]);
    return { sub, groups, team, clearance: this.opts.catalog.teams[team]?.clearance, kind };
  }

  private async fromApiKey(key: string, teamHeader?: string): Promise<Principal> {
    const lookup = this.opts.apiKeys;
    if (!lookup) throw errors.unauthorized("API keys are not enabled");
    const hash = hashApiKey(key);
    const now = Date.now();
    let rec = this.keys.get(hash, now);
    if (rec === undefined) {
      try {
        rec = (await lookup(hash)) ?? null;
      } catch {
        throw errors.unavailable("cannot verify the API key right now", "auth_unavailable");
      }
      const keep = this.opts.apiKeyCacheMs ?? 30_000;
      // A found key is remembered at most until it expires; an unknown one briefly.
      this.keys.set(
        hash,
        rec,
        rec ? Math.min(now + keep, rec.expiresAt ?? Infinity) : now + Math.min(keep, 5_000),
      );
    }
    if (!rec || (rec.expiresAt !== undefined && rec.expiresAt <= now))
      throw errors.unauthorized("invalid API key");
    const team = this.opts.catalog.teams[rec.team];
    if (!team) throw errors.forbidden(["no_team"]);
    if (teamHeader && teamHeader !== rec.team) throw errors.forbidden(["team_not_member"]);
    return {
      sub: `apikey:${rec.id}`,
      groups: [team.oidcGroup],
      team: rec.team,
      clearance: team.clearance,
      kind: "apikey",
    };
  }

  private async keySet(): Promise<ReturnType<typeof jose.createRemoteJWKSet>> {
    if (this.jwks) return this.jwks;
    this.jwksPending ??= (async () => {
      let uri = this.opts.oidc.jwksUri;
      if (!uri) {
        const r = await fetch(
          `${this.opts.oidc.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`,
          {
            signal: AbortSignal.timeout(5000),
          },
        );
        if (!r.ok) throw new Error(`OIDC discovery answered ${r.status}`);
        uri = ((await r.json()) as { jwks_uri?: string }).jwks_uri;
        if (!uri) throw new Error("OIDC discovery document has no jwks_uri");
      }
      // Keys are cached; an unknown `kid` triggers a refetch (at most every 30 s): rotation.
      this.jwks = jose.createRemoteJWKSet(new URL(uri), {
        cacheMaxAge: 10 * 60_000,
        cooldownDuration: this.opts.oidc.jwksCooldownMs ?? 30_000,
        timeoutDuration: 5_000,
      });
      return this.jwks;
    })().finally(() => (this.jwksPending = undefined));
    return this.jwksPending;
  }

  private async verifyJwt(token: string): Promise<VerifiedToken> {
    const now = Date.now();
    const hit = this.tokens.get(token, now);
    if (hit) return hit;
    // Reject `none` and HMAC before touching keys.
    let alg: string | undefined;
    try {
      alg = jose.decodeProtectedHeader(token).alg;
    } catch {
      throw errors.unauthorized("invalid token");
    }
    if (!alg || !(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
      throw errors.unauthorized(`token algorithm "${alg}" is not allowed`);
    }
    let payload: jose.JWTPayload;
    try {
      const keys = await this.keySet();
      ({ payload } = await jose.jwtVerify(token, keys, {
        issuer: this.opts.oidc.issuer,
        audience: this.opts.oidc.audience,
        algorithms: [...ALLOWED_ALGORITHMS],
        clockTolerance: this.opts.oidc.clockToleranceSec,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (e) {
      throw jwtError(e);
    }
    const raw = payload[this.opts.oidc.groupsClaim];
    const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === "string") : [];
    const id: VerifiedToken = { sub: String(payload.sub), groups };
    if (CLEARANCE_CLAIM in payload) {
      const c = payload[CLEARANCE_CLAIM];
      // Present but not a name (null, a number, ""): still a claim, and it must deny, so it is
      // passed on as a string no classification has.
      id.clearance = typeof c === "string" && c !== "" ? c : `invalid:${JSON.stringify(c)}`;
    }
    if (TRAINING_CONSENT_CLAIM in payload) {
      const c = payload[TRAINING_CONSENT_CLAIM];
      if (typeof c !== "boolean")
        throw errors.unauthorized(
          `token claim "${TRAINING_CONSENT_CLAIM}" is not valid (expected true or false, found ${JSON.stringify(c)})`,
        );
      if (!c) id.optOut = true;
    }
    const ttl = Math.min((payload.exp as number) * 1000, now + (this.opts.tokenCacheMs ?? 60_000));
    this.tokens.set(token, id, ttl);
    return id;
  }
}

function jwtError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof jose.errors.JWTExpired) return errors.unauthorized("token expired");
  if (e instanceof jose.errors.JWTClaimValidationFailed) {
    return errors.unauthorized(`token claim "${e.claim}" is not valid (${e.reason})`);
  }
  if (e instanceof jose.errors.JOSEAlgNotAllowed)
    return errors.unauthorized("token algorithm is not allowed");
  if (e instanceof jose.errors.JWKSTimeout)
    return errors.unavailable("identity provider keys unavailable", "auth_unavailable");
  if (e instanceof jose.errors.JOSEError) return errors.unauthorized("invalid token");
  // Network failure fetching the keys: fail closed, but as unavailable rather than unauthorized.
  return errors.unavailable("identity provider keys unavailable", "auth_unavailable");
}
