/**
 * Property-based tests of the subnet maths: for any valid VPC and AZ count, the subnets are
 * inside the VPC, pairwise disjoint, one of each role per AZ and of the documented sizes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_AZS, subnetLayout } from "../../components/aws/layout";
import { cidrSize, formatCidr, overlaps, parseCidr, subnets } from "../../components/lib/cidr";

const vpcArb = fc
  .record({
    a: fc.integer({ min: 0, max: 255 }),
    b: fc.integer({ min: 0, max: 255 }),
    c: fc.integer({ min: 0, max: 255 }),
    prefix: fc.integer({ min: 8, max: 24 }),
  })
  .map(({ a, b, c, prefix }) => {
    const raw = ((a << 24) | (b << 16) | (c << 8)) >>> 0;
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    return formatCidr({ base: (raw & mask) >>> 0, prefix });
  });
const azArb = fc.integer({ min: 1, max: MAX_AZS });

describe("subnet layout (property-based)", () => {
  it("GIVEN any VPC /8../24 and 1..6 AZs WHEN laid out THEN every subnet lies inside the VPC", () => {
    fc.assert(
      fc.property(vpcArb, azArb, (vpc, az) => {
        const v = parseCidr(vpc)!;
        const l = subnetLayout(vpc, az);
        for (const s of [...l.private, ...l.public, ...l.database]) {
          const c = parseCidr(s)!;
          expect(c).toBeDefined();
          expect(c.base).toBeGreaterThanOrEqual(v.base);
          expect(c.base + cidrSize(c)).toBeLessThanOrEqual(v.base + cidrSize(v));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("THEN no two subnets overlap", () => {
    fc.assert(
      fc.property(vpcArb, azArb, (vpc, az) => {
        const l = subnetLayout(vpc, az);
        const all = [...l.private, ...l.public, ...l.database].map((s) => parseCidr(s)!);
        for (let i = 0; i < all.length; i++)
          for (let j = i + 1; j < all.length; j++)
            expect(overlaps(all[i], all[j]), `${formatCidr(all[i])} vs ${formatCidr(all[j])}`).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("THEN there is exactly one subnet of each role per AZ, private ones an eighth of the VPC", () => {
    fc.assert(
      fc.property(vpcArb, azArb, (vpc, az) => {
        const v = parseCidr(vpc)!;
        const l = subnetLayout(vpc, az);
        expect([l.private.length, l.public.length, l.database.length]).toEqual([az, az, az]);
        for (const s of l.private) expect(parseCidr(s)!.prefix).toBe(v.prefix + 3);
        for (const s of [...l.public, ...l.database]) expect(parseCidr(s)!.prefix).toBe(v.prefix + 6);
      }),
      { numRuns: 300 },
    );
  });

  it("GIVEN an AZ count outside 1..6 or a malformed CIDR WHEN laid out THEN it throws quoting the value", () => {
    fc.assert(
      fc.property(
        vpcArb,
        fc.oneof(fc.integer({ min: -5, max: 0 }), fc.integer({ min: MAX_AZS + 1, max: 64 })),
        (vpc, az) => {
          expect(() => subnetLayout(vpc, az)).toThrow(String(az));
        },
      ),
    );
    expect(() => subnetLayout("10.0.0.1/16", 2)).toThrow('"10.0.0.1/16"');
    expect(() => subnetLayout("10.0.0.0/26", 2)).toThrow("/26");
  });
});

describe("lib/cidr subnets (property-based)", () => {
  it("GIVEN any parent and fitting count WHEN split THEN the parts are disjoint, contiguous and inside the parent", () => {
    fc.assert(
      fc.property(
        vpcArb,
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 63 }),
        (vpc, extra, countSeed) => {
          const parent = parseCidr(vpc)!;
          const newPrefix = Math.min(32, parent.prefix + extra);
          const available = 2 ** (newPrefix - parent.prefix);
          const count = 1 + (countSeed % available);
          const parts = subnets(parent, newPrefix, count);
          parts.forEach((p, i) => {
            expect(p.base).toBe(parent.base + i * cidrSize(p));
            expect(overlaps(p, parent)).toBe(true);
            if (i > 0) expect(overlaps(p, parts[i - 1])).toBe(false);
          });
          expect(() => subnets(parent, newPrefix, available + 1)).toThrow();
        },
      ),
      { numRuns: 300 },
    );
  });
});
