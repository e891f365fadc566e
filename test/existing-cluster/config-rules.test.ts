import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../stacks/config/errors";
import { parseConfig, validateConfig } from "../../stacks/config/validate";
import { rawConfig } from "./harness";

function issues(raw: unknown): { path: string; message: string }[] {
  const r = validateConfig(raw);
  return r.ok ? [] : [...r.issues];
}

function kubeconfig(contexts: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeconfig-"));
  const file = path.join(dir, "config");
  fs.writeFileSync(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      "contexts:",
      ...contexts.map((c) => `  - name: ${c}\n    context: { cluster: ${c}, user: ${c} }`),
      `current-context: ${contexts[0] ?? ""}`,
    ].join("\n"),
  );
  return file;
}

describe("existing-cluster substrate config rules", () => {
  it("GIVEN the shipped local stack WHEN validated THEN it has no problems and the storage class defaults to kind's", () => {
    const c = parseConfig(rawConfig("local"));
    expect(c.substrate.kind === "existing-cluster" && c.substrate.storageClass).toBe("standard");
  });

  it("GIVEN a bad storage class, zero instances and a non-DNS bucket prefix WHEN parsed THEN one ConfigError lists all three", () => {
    const raw = rawConfig("local", (r) => {
      r.substrate.storageClass = "Bad Class";
      r.database.instances = 0;
      r.storage.bucketPrefix = "Sovereign_Local";
    });
    let err: ConfigError | undefined;
    try {
      parseConfig(raw);
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const byPath = Object.fromEntries(err!.issues.map((i) => [i.path, i.message]));
    expect(byPath["sovereign:substrate.storageClass"]).toMatch(/found "Bad Class"/);
    expect(byPath["sovereign:database.instances"]).toMatch(/expected > 0, found number 0/);
    expect(byPath["sovereign:storage.bucketPrefix"]).toContain('found "Sovereign_Local"');
    expect(err!.message).toMatch(/3 problems/);
  });

  it("GIVEN a kubeconfig file without the context WHEN validated THEN the error names the file's contexts and the bad one", () => {
    const file = kubeconfig(["kind-other", "prod-admin"]);
    const found = issues(rawConfig("local", (r) => (r.substrate.kubeconfig = file)));
    expect(found).toContainEqual({
      path: "sovereign:substrate.context",
      message: `expected a context of ${file} [kind-other, prod-admin], found "kind-sovereign"`,
    });
    expect(
      issues(rawConfig("local", (r) => (r.substrate.kubeconfig = kubeconfig(["kind-sovereign"])))),
    ).toEqual([]);
  });

  it("GIVEN a missing required value WHEN parsed THEN it is reported first, and the cross-field rules report once it is there", () => {
    // The rules run on a parsed config; without a required value there is none to run them on.
    const raw = rawConfig("local", (r) => {
      delete r.substrate.context;
      r.storage.bucketPrefix = "Sovereign_Local";
    });
    expect(issues(raw).map((i) => i.path)).toEqual(["sovereign:substrate.context"]);
    raw.substrate.context = "kind-sovereign";
    expect(issues(raw).map((i) => i.path)).toEqual(["sovereign:storage.bucketPrefix"]);
  });

  it("GIVEN a kubeconfig path that does not exist WHEN validated THEN it is reported with the path", () => {
    const found = issues(rawConfig("local", (r) => (r.substrate.kubeconfig = "/nonexistent/kubeconfig")));
    expect(found).toContainEqual({
      path: "sovereign:substrate.kubeconfig",
      message: 'expected a readable kubeconfig file, found "/nonexistent/kubeconfig"',
    });
  });

  it("GIVEN on-prem prod settings that cannot work WHEN validated THEN each is reported at its path", () => {
    const found = issues(
      rawConfig("local", (r) => {
        r.profile = "prod";
        r.policy.guardFailOpen = false;
        r.database = { instances: 1, version: "19" };
        r.storage.objectLock = true;
        r.cluster = { adminRoleArns: ["arn:aws:iam::123456789012:role/Admins"] };
        r.substrate.context = " kind-sovereign";
        r.gpuPools = [{ name: "gpu", purpose: "serving", gpuType: "nvidia-l4", gpusPerNode: 1, maxGpus: 2 }];
      }),
    );
    const paths = found.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "sovereign:database.instances",
        "sovereign:database.version",
        "sovereign:storage.objectLock",
        "sovereign:eks.adminRoleArns",
        "sovereign:substrate.context",
        "sovereign:gpuPools[0].nodeSelector",
      ]),
    );
    expect(found.find((i) => i.path === "sovereign:database.version")!.message).toContain('found "19"');
    expect(found.find((i) => i.path === "sovereign:database.instances")!.message).toContain("found 1");
  });

  it("GIVEN a bad storage class name WHEN validated THEN the schema names it", () => {
    const found = issues(rawConfig("local", (r) => (r.substrate.storageClass = "Fast SSD")));
    expect(found.find((i) => i.path === "sovereign:substrate.storageClass")?.message).toContain(
      'found "Fast SSD"',
    );
  });
});
