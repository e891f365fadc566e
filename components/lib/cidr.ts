/** IPv4 CIDR maths used by config validation and the network component. */

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  readonly base: number;
  readonly prefix: number;
}

/** Parses `a.b.c.d/n`; returns undefined for anything malformed. Host bits must be zero. */
export function parseCidr(s: string): Cidr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const base = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  if ((base & hostMask(prefix)) !== 0) return undefined;
  return { base, prefix };
}

export function hostMask(prefix: number): number {
  return prefix === 0 ? 0xffffffff : (2 ** (32 - prefix) - 1) >>> 0;
}

export function formatCidr(c: Cidr): string {
  const b = c.base;
  return `${b >>> 24}.${(b >>> 16) & 255}.${(b >>> 8) & 255}.${b & 255}/${c.prefix}`;
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const aEnd = a.base + cidrSize(a) - 1;
  const bEnd = b.base + cidrSize(b) - 1;
  return a.base <= bEnd && b.base <= aEnd;
}

/**
 * Splits `parent` into `count` equal subnets of `newPrefix`, starting at `offset` subnets in.
 * Throws when they do not fit.
 */
export function subnets(parent: Cidr, newPrefix: number, count: number, offset = 0): Cidr[] {
  if (newPrefix < parent.prefix || newPrefix > 32)
    throw new Error(`cannot carve /${newPrefix} from /${parent.prefix}`);
  const size = 2 ** (32 - newPrefix);
  const available = 2 ** (newPrefix - parent.prefix);
  if (offset + count > available)
    throw new Error(`${count} x /${newPrefix} at offset ${offset} do not fit in ${formatCidr(parent)}`);
  return Array.from({ length: count }, (_, i) => ({
    base: (parent.base + (offset + i) * size) >>> 0,
    prefix: newPrefix,
  }));
}
