/**
 * The pack as the Pulumi CLI runs it: compiled by the ts-node that @pulumi/pulumi uses (type
 * checked, with policy-pack/tsconfig.json), serving the analyzer gRPC API. The test asks for the
 * analyzer info and analyzes forbidden resources over gRPC, as the engine does during a preview.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POLICIES } from "../policies";

/* eslint-disable @typescript-eslint/no-require-imports */
const grpc = require("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
const analyzerRpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzerPb = require("@pulumi/pulumi/proto/analyzer_pb");
const emptyPb = require("google-protobuf/google/protobuf/empty_pb");
const structPb = require("google-protobuf/google/protobuf/struct_pb");
/* eslint-enable @typescript-eslint/no-require-imports */

const PACK_DIR = path.resolve(__dirname, "..");
const TAGS = { owner: "platform-team", "cost-center": "cc-1000", "data-classification": "confidential" };

/** What the nodejs policy runtime does: register ts-node (type-checking) and require the pack folder. */
const LOADER = `
const path = require("path");
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const tsutils = require(path.join(pulumiDir, "tsutils.js"));
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
require(tsnodeRequire).register({
  typeCheck: true,
  compiler: typescriptRequire,
  compilerOptions: tsutils.loadTypeScriptCompilerOptions("tsconfig.json"),
});
require(process.cwd());
`;

function call<T>(client: any, method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) =>
    client[method](req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
  );
}

function analyzeRequest(type: string, name: string, props: Record<string, unknown>, protect: boolean) {
  const req = new analyzerPb.AnalyzeRequest();
  req.setType(type);
  req.setName(name);
  req.setUrn(`urn:pulumi:aws-prod::sovereign::${type}::${name}`);
  req.setProperties(structPb.Struct.fromJavaScript(props));
  const opts = new analyzerPb.AnalyzerResourceOptions();
  opts.setProtect(protect);
  req.setOptions(opts);
  return req;
}

interface Diagnostic {
  policy: string;
  message: string;
  level: number;
}

describe("sovereign-baseline served as the Pulumi CLI runs it", () => {
  let proc: ChildProcess;
  let client: any;

  beforeAll(async () => {
    proc = spawn(process.execPath, ["-e", LOADER], { cwd: PACK_DIR, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    proc.stderr!.on("data", (c) => (stderr += String(c)));
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      proc.stdout!.on("data", (c) => {
        out += String(c);
        const m = /^(\d+)\s*$/m.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.on("exit", (code) => reject(new Error(`the pack exited (${code}) before serving: ${stderr}`)));
    });
    client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
  });

  it("GIVEN the served pack WHEN the engine asks for its info THEN it is sovereign-baseline with every rule mandatory and the suppression report advisory", async () => {
    const info = await call<any>(client, "getAnalyzerInfo", new emptyPb.Empty());
    expect(info.getName()).toBe("sovereign-baseline");
    const policies = info.getPoliciesList() as any[];
    expect(policies.map((p) => p.getName())).toEqual(POLICIES.map((p) => p.name));
    for (const p of policies)
      expect(p.getEnforcementlevel(), p.getName()).toBe(
        p.getName() === "suppressions"
          ? analyzerPb.EnforcementLevel.ADVISORY
          : analyzerPb.EnforcementLevel.MANDATORY,
      );
    expect(info.getSupportsconfig()).toBe(true);
  });

  it("GIVEN the prod config WHEN the engine analyzes a public bucket and an unprotected prod database THEN both fail, mandatory, with the rule id and a fix", async () => {
    const configure = new analyzerPb.ConfigureAnalyzerRequest();
    const prod = new analyzerPb.PolicyConfig();
    prod.setEnforcementlevel(analyzerPb.EnforcementLevel.MANDATORY);
    prod.setProperties(structPb.Struct.fromJavaScript({ profile: "prod" }));
    configure.getPolicyconfigMap().set("prod-data-protection", prod);
    await call(client, "configure", configure);

    const diagnostics = async (req: unknown): Promise<Diagnostic[]> => {
      const res = await call<any>(client, "analyze", req);
      return (res.getDiagnosticsList() as any[]).map((d) => ({
        policy: d.getPolicyname(),
        message: d.getMessage(),
        level: d.getEnforcementlevel(),
      }));
    };

    const bucket = await diagnostics(
      analyzeRequest(
        "aws:s3/bucket:Bucket",
        "models",
        { bucket: "acme-ai-prod-models", acl: "public-read", tags: TAGS },
        true,
      ),
    );
    expect(bucket.map((d) => d.policy)).toEqual(["no-public-buckets"]);
    expect(bucket[0].message).toContain('has the public canned ACL "public-read". Fix: remove the ACL');
    expect(bucket[0].level).toBe(analyzerPb.EnforcementLevel.MANDATORY);

    const db = {
      engine: "postgres",
      storageEncrypted: true,
      kmsKeyId: "arn:aws:kms:eu-central-1:123456789012:key/k",
      deletionProtection: true,
      skipFinalSnapshot: false,
      finalSnapshotIdentifier: "platform-db-final",
      tags: TAGS,
    };
    expect(await diagnostics(analyzeRequest("aws:rds/instance:Instance", "platform-db", db, true))).toEqual(
      [],
    );
    const unprotected = await diagnostics(
      analyzeRequest("aws:rds/instance:Instance", "platform-db", db, false),
    );
    expect(unprotected.map((d) => d.policy)).toEqual(["prod-data-protection"]);
    expect(unprotected[0].message).toContain(
      "without protect (opts.protect false). Fix: create it with { protect: true }",
    );
  });
});
