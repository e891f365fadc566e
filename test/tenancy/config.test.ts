import { describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { ConfigError } from "../../stacks/config/errors";
import { parseConfig, validateConfig } from "../../stacks/config/validate";

function raw(stack: string): Record<string, any> {
  return structuredClone(rawFromStackFile(stackFile(stack)).raw) as Record<string, any>;
}

describe("tenancy config errors", () => {
  it("GIVEN duplicate team names, a quota above the pool, a missing model and empty OIDC groups WHEN parsed THEN one ConfigError lists every problem", () => {
    const r = raw("aws-dev");
    const [research, support] = r.teams;
    r.teams.push({ ...structuredClone(support), oidcGroup: "support-copy" }); // teams[2]: name "support" again
    research.gpuQuota = { nominal: 8, borrowingLimit: 4 }; // training pool maxGpus is 8
    support.allowedModels = ["support-lora", "gpt-9"];
    r.teams.push({
      ...structuredClone(research),
      name: "blank",
      oidcGroup: "   ",
      gpuQuota: { nominal: 1, borrowingLimit: 0 },
    });
    let err: ConfigError | undefined;
    try {
      parseConfig(r);
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const byPath = err!.issues.map((i) => `${i.path}: ${i.message}`);
    expect(byPath).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^sovereign:teams\[2\]\.name: expected a unique team name, found "support" again/,
        ),
        expect.stringMatching(
          /^sovereign:teams\[0\]\.gpuQuota: expected nominal \+ borrowingLimit <= 8 .*found 12/,
        ),
        expect.stringMatching(
          /^sovereign:teams\[1\]\.allowedModels\[1\]: expected a configured model .*found "gpt-9"/,
        ),
        expect.stringMatching(
          /^sovereign:teams\[3\]\.oidcGroup: expected a non-empty OIDC group, found " {3}"/,
        ),
      ]),
    );
    expect(err!.message).toMatch(/the stack config has \d+ problems/);
    // An invalid required value is the schema's to report; the cross-field rules run on a parsed
    // config, so they report once it is fixed.
    support.oidcGroup = "";
    expect(validateConfig(r)).toEqual({
      ok: false,
      issues: [{ path: "sovereign:teams[1].oidcGroup", message: 'expected >= 1 characters, found ""' }],
    });
  });

  it("GIVEN two teams sharing one OIDC group WHEN validated THEN the second is reported with the first's index", () => {
    const r = raw("aws-prod");
    r.teams[2].oidcGroup = r.teams[0].oidcGroup;
    const v = validateConfig(r);
    expect(v.ok ? [] : v.issues).toEqual([
      {
        path: "sovereign:teams[2].oidcGroup",
        message:
          'expected an OIDC group no other team uses, found "legal-ai-users" again (first at teams[0])',
      },
    ]);
  });

  it("GIVEN the shipped stacks WHEN validated THEN the tenancy rules find nothing", () => {
    for (const s of ["local", "aws-dev", "aws-prod"]) {
      const v = validateConfig(raw(s));
      expect(v.ok ? [] : v.issues, s).toEqual([]);
    }
  });
});
