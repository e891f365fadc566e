import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  bucketJob,
  bucketScript,
  identitiesChecksum,
  quantityMiB,
  renderS3Config,
  s3Certificate,
  SEAWEED_SECURITY,
  seaweedHosts,
  seaweedValues,
  volumeSizeLimitMB,
} from "../../components/existing-cluster/object-store";
import { DATA_CA_ISSUER } from "../../components/existing-cluster/tls";
import { validateObject } from "../helpers/k8s-schema";

const input = {
  volumeSize: "5Gi",
  storageClass: "standard",
  configSecretName: "seaweedfs-s3-config",
  image: "docker.io/chrislusf/seaweedfs:4.22",
  keepVolumes: false,
};

describe("SeaweedFS chart values", () => {
  it("GIVEN single mode WHEN rendered THEN one all-in-one pod serves S3 with auth from our Secret and a PVC of the configured size", () => {
    const v = seaweedValues({ ...input, mode: "single" }, "abc") as Record<string, any>;
    expect(v.image).toEqual({ tag: "4.22" });
    // The separate components are off; only the all-in-one deployment runs.
    expect([v.master.enabled, v.volume.enabled, v.filer.enabled, v.s3.enabled]).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(v.allInOne.enabled).toBe(true);
    expect(v.allInOne.s3).toEqual({
      enabled: true,
      enableAuth: true,
      existingConfigSecret: "seaweedfs-s3-config",
    });
    expect(v.allInOne.data).toMatchObject({
      type: "persistentVolumeClaim",
      size: "5Gi",
      storageClass: "standard",
    });
    expect(v.allInOne.data.annotations).toEqual({});
    expect(v.allInOne.podAnnotations).toEqual({ "sovereign.ai/s3-config-checksum": "abc" });
    expect(v.allInOne.resources.requests).toEqual({ cpu: "100m", memory: "256Mi" });
    // A 5Gi disk gets 128 MB volumes: several buckets fit.
    expect(v.master.volumeSizeLimitMB).toBe(128);
  });

  it("GIVEN distributed mode with kept volumes WHEN rendered THEN masters, volumes and filers are replicated and PVCs survive uninstall", () => {
    const v = seaweedValues(
      { ...input, mode: "distributed", volumeSize: "500Gi", keepVolumes: true },
      "abc",
    ) as Record<string, any>;
    expect(v.allInOne.enabled).toBe(false);
    expect(v.master).toMatchObject({
      enabled: true,
      replicas: 3,
      defaultReplication: "001",
      volumeSizeLimitMB: 1000,
    });
    expect(v.volume).toMatchObject({ enabled: true, replicas: 3 });
    expect(v.volume.dataDirs).toEqual([
      {
        name: "data",
        type: "persistentVolumeClaim",
        size: "500Gi",
        storageClass: "standard",
        annotations: { "helm.sh/resource-policy": "keep" },
        maxVolumes: 0,
      },
    ]);
    expect(v.filer).toMatchObject({ enabled: true, replicas: 2, defaultReplicaPlacement: "001" });
    expect(v.s3).toMatchObject({
      enabled: true,
      replicas: 2,
      enableAuth: true,
      existingConfigSecret: "seaweedfs-s3-config",
    });
    expect(v.master.data.annotations).toEqual({ "helm.sh/resource-policy": "keep" });
  });

  it("GIVEN quantities WHEN converted THEN binary and decimal units are honoured and junk is refused", () => {
    expect(quantityMiB("5Gi")).toBe(5120);
    expect(quantityMiB("1G")).toBeCloseTo(953.67, 1);
    expect(volumeSizeLimitMB("1Gi")).toBe(64);
    expect(volumeSizeLimitMB("2Ti")).toBe(1000);
    expect(() => quantityMiB("lots")).toThrow('"lots"');
  });

  it("GIVEN each mode THEN the S3 endpoint and shell addresses name the chart's services", () => {
    expect(seaweedHosts("single", "sovereign-data")).toEqual({
      s3: "https://seaweedfs-all-in-one.sovereign-data.svc.cluster.local:8443",
      s3Service: "seaweedfs-all-in-one",
      master: "seaweedfs-all-in-one.sovereign-data.svc.cluster.local:9333",
      filer: "seaweedfs-all-in-one.sovereign-data.svc.cluster.local:8888",
    });
    expect(seaweedHosts("distributed", "d").s3).toBe("https://seaweedfs-s3.d.svc.cluster.local:8443");
  });

  it.each(["single", "distributed"] as const)(
    "GIVEN %s mode THEN the chart serves HTTPS on the endpoint's port with the Secret the kit's Certificate writes for the endpoint's host, with mutual TLS inside and encryption at rest",
    (mode) => {
      const v = seaweedValues({ ...input, mode }, "x") as any;
      const endpoint = new URL(seaweedHosts(mode, "sovereign-data").s3);
      const cert = s3Certificate(mode, "sovereign-data", DATA_CA_ISSUER) as any;
      expect(endpoint.protocol).toBe("https:");
      // The chart's HTTPS listener needs enableSecurity, and reads port and Secret from `s3`.
      expect(v.global.seaweedfs.enableSecurity).toBe(true);
      expect(v.s3.httpsPort).toBe(Number(endpoint.port));
      expect(v.s3.tlsSecret).toBe(cert.spec.secretName);
      expect(cert.spec.dnsNames).toContain(endpoint.hostname);
      expect(cert.spec.issuerRef.name).toBe(DATA_CA_ISSUER.name);
      expect(v.filer.encryptVolumeData).toBe(true);
      // The image values are still there next to the security switch.
      expect(v.global.imageName).toMatch(/seaweedfs/);
    },
  );

  it("GIVEN the bucket Job THEN weed shell mounts the chart's security config, CA and client certificate where the chart's servers have theirs", () => {
    const job = bucketJob("sovereign-data", ["b"], seaweedHosts("single", "sovereign-data"), "img") as any;
    const pod = job.spec.template.spec;
    const mounts = Object.fromEntries(pod.containers[0].volumeMounts.map((m: any) => [m.name, m]));
    const vols = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    expect(mounts["security-config"]).toMatchObject({
      mountPath: "/etc/seaweedfs/security.toml",
      subPath: "security.toml",
    });
    expect(vols["security-config"].configMap.name).toBe(SEAWEED_SECURITY.configMap);
    expect(mounts["ca-cert"].mountPath).toBe("/usr/local/share/ca-certificates/ca/");
    expect(vols["ca-cert"].secret.secretName).toBe(SEAWEED_SECURITY.caSecret);
    expect(mounts["client-cert"].mountPath).toBe("/usr/local/share/ca-certificates/client/");
    expect(vols["client-cert"].secret.secretName).toBe(SEAWEED_SECURITY.clientSecret);
  });
});

describe("the identity config", () => {
  it("GIVEN identities WHEN rendered THEN the JSON has SeaweedFS's identities shape", () => {
    const json = JSON.parse(
      renderS3Config([
        { name: "gateway", accessKey: "AK", secretKey: "SK", actions: ["Write:b/captures/*"] },
      ]),
    );
    expect(json).toEqual({
      identities: [
        {
          name: "gateway",
          credentials: [{ accessKey: "AK", secretKey: "SK" }],
          actions: ["Write:b/captures/*"],
        },
      ],
    });
  });

  it("GIVEN a changed action WHEN checksummed THEN the checksum changes, and it never depends on keys", () => {
    const a = identitiesChecksum([{ name: "g", actions: ["Write:b/captures/*"] }]);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(identitiesChecksum([{ name: "g", actions: ["Write:b/decisions/*"] }])).not.toBe(a);
    expect(identitiesChecksum([{ name: "g", actions: ["Write:b/captures/*"] }])).toBe(a);
  });
});

describe("the bucket Job", () => {
  const hosts = seaweedHosts("single", "sovereign-data");

  it("GIVEN buckets WHEN the Job is rendered THEN it is a valid batch/v1 Job, hardened, named by its bucket list", async () => {
    const job = bucketJob(
      "sovereign-data",
      ["b-models", "a-datasets"],
      hosts,
      "docker.io/chrislusf/seaweedfs:4.22",
    );
    expect(await validateObject(job as any)).toEqual({ status: "valid" });
    const spec = job.spec as any;
    const c = spec.template.spec.containers[0];
    expect(c.env).toContainEqual({ name: "BUCKETS", value: "a-datasets b-models" });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    expect(spec.template.spec.automountServiceAccountToken).toBe(false);
    // PodSecurity `restricted` (the e2e's real API server warned on it before).
    expect(spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65534 });
    const other = bucketJob("sovereign-data", ["a-datasets", "b-models", "c-x"], hosts, "img:1");
    expect(other.metadata.name).not.toBe(job.metadata.name);
    expect(bucketJob("sovereign-data", ["b-models", "a-datasets"], hosts, "img:1").metadata.name).toBe(
      job.metadata.name,
    );
  });

  /** A stand-in for `weed shell` that keeps its buckets in a file. */
  function fakeWeed(dir: string, opts: { createFails?: boolean } = {}): string {
    const state = path.join(dir, "buckets");
    fs.writeFileSync(state, "");
    const bin = path.join(dir, "weed");
    fs.writeFileSync(
      bin,
      [
        "#!/bin/sh",
        `read cmd; echo "$cmd" >> ${dir}/calls`,
        'case "$cmd" in',
        `  "s3.bucket.list") while read b; do printf '  %s\\tsize:0\\n' "$b"; done < ${state};;`,
        opts.createFails
          ? '  s3.bucket.create*) echo "error: no free volumes"; exit 1;;'
          : `  s3.bucket.create*) echo "\${cmd##* }" >> ${state};;`,
        "esac",
      ].join("\n"),
      { mode: 0o755 },
    );
    return bin;
  }

  function runScript(weed: string, buckets: string) {
    return spawnSync(
      "/bin/sh",
      ["-ec", bucketScript().replace("sleep 5", "sleep 0").replace("-le 60", "-le 3")],
      {
        env: { PATH: process.env.PATH, WEED: weed, MASTER: "m:9333", FILER: "f:8888", BUCKETS: buckets },
        encoding: "utf8",
      },
    );
  }

  it("GIVEN an empty server WHEN the script runs twice THEN it creates each bucket once and then only checks", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "buckets-"));
    const weed = fakeWeed(dir);
    const first = runScript(weed, "acme-models acme-datasets");
    expect(first.status, first.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, "buckets"), "utf8").trim().split("\n").sort()).toEqual([
      "acme-datasets",
      "acme-models",
    ]);
    fs.writeFileSync(path.join(dir, "calls"), "");
    const second = runScript(weed, "acme-models acme-datasets");
    expect(second.status).toBe(0);
    expect(fs.readFileSync(path.join(dir, "calls"), "utf8").trim()).toBe("s3.bucket.list");
    // A bucket whose name is a prefix of an existing one is still created.
    expect(runScript(weed, "acme-model").status).toBe(0);
    expect(fs.readFileSync(path.join(dir, "buckets"), "utf8")).toContain("acme-model\n");
  });

  it("GIVEN a server that cannot create buckets WHEN the script gives up THEN it fails naming the missing buckets", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "buckets-"));
    const r = runScript(fakeWeed(dir, { createFails: true }), "acme-models");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("buckets were not created: acme-models");
  });
});
