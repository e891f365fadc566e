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

/**
 * The S3 server's arguments as the pinned chart (SeaweedFS 4.22.0) renders them from values:
 * `templates/s3/s3-deployment.yaml` (`weed s3`) and `templates/all-in-one/all-in-one-deployment.yaml`
 * (`weed server -s3`, `allInOne.s3.*` falling back to `s3.*`). Only the listener flags: the port,
 * `-port.https` with the chart's certificate flags when `httpsPort` is set (and enableSecurity),
 * `-port.iceberg` when `icebergPort` is set, then `extraArgs`. The chart is not in the offline
 * tool cache (the Go module proxy does not serve that release), so this mirrors its templates;
 * it was checked once against `helm template` of the chart's source at tag 4.22.
 */
function renderedS3Args(v: any, mode: "single" | "distributed"): string[] {
  const single = mode === "single";
  const p = single ? "s3." : "";
  const s3 = single ? { ...v.s3, ...dropNullish(v.allInOne.s3) } : v.s3;
  const args = [`-${p}port=${s3.port ?? 8333}`];
  if (v.global.seaweedfs.enableSecurity && s3.httpsPort) {
    const dir = s3.tlsSecret ? "s3" : "client";
    args.push(
      `-${p}port.https=${s3.httpsPort}`,
      `-${p}cert.file=/usr/local/share/ca-certificates/${dir}/tls.crt`,
      `-${p}key.file=/usr/local/share/ca-certificates/${dir}/tls.key`,
    );
  }
  if (!single && s3.icebergPort) args.push(`-port.iceberg=${s3.icebergPort}`);
  return [...args, ...((single ? v.allInOne.extraArgs : v.s3.extraArgs) ?? [])];
}

function dropNullish(o: Record<string, unknown> = {}): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined && x !== null && x !== 0));
}

/**
 * The TCP listeners SeaweedFS 4.22's S3 server opens for those arguments (`weed/command/s3.go`,
 * `startS3Server`; the last value of a repeated flag wins): `-port` is TLS when a key file is
 * given and `-port.https` is not, plain HTTP otherwise; `-port.https` is TLS; the Iceberg REST
 * catalog listens on plain HTTP (default 8181) unless `-port.iceberg=0`.
 */
function s3Listeners(v: any, mode: "single" | "distributed"): { port: number; tls: boolean }[] {
  const p = mode === "single" ? "s3." : "";
  const flags = new Map<string, string>();
  for (const a of renderedS3Args(v, mode)) {
    const m = /^-([^=]+)=(.*)$/.exec(a);
    if (m) flags.set(m[1], m[2]);
  }
  const flag = (n: string, dflt: number | string) => flags.get(`${p}${n}`) ?? String(dflt);
  const port = Number(flag("port", 8333));
  const https = Number(flag("port.https", 0));
  const key = flag("key.file", "");
  const iceberg = Number(flag("port.iceberg", 8181));
  const out: { port: number; tls: boolean }[] = [];
  if (key !== "" && https > 0) out.push({ port: https, tls: true });
  out.push({ port, tls: key !== "" && https === 0 });
  if (iceberg > 0) out.push({ port: iceberg, tls: false });
  return out.sort((a, b) => a.port - b.port);
}

/** The S3 ports of the chart's Service that fronts S3 (`seaweedfs-s3` or `seaweedfs-all-in-one`). */
function s3ServicePorts(v: any, mode: "single" | "distributed"): number[] {
  if (mode === "single") {
    const s3 = { ...v.s3, ...dropNullish(v.allInOne.s3) };
    return [s3.port ?? 8333, ...(s3.httpsPort ? [s3.httpsPort] : [])];
  }
  return [
    v.s3.port ?? 8333,
    ...(v.s3.icebergPort ? [v.s3.icebergPort] : []),
    ...(v.s3.httpsPort ? [v.s3.httpsPort] : []),
  ];
}

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
      port: 8443,
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
      expect(s3Listeners(v, mode)).toEqual([{ port: Number(endpoint.port), tls: true }]);
      expect(v.s3.tlsSecret).toBe(cert.spec.secretName);
      expect(cert.spec.dnsNames).toContain(endpoint.hostname);
      expect(cert.spec.issuerRef.name).toBe(DATA_CA_ISSUER.name);
      expect(v.filer.encryptVolumeData).toBe(true);
      // The image values are still there next to the security switch.
      expect(v.global.imageName).toMatch(/seaweedfs/);
    },
  );

  it.each(["single", "distributed"] as const)(
    "GIVEN %s mode THEN no plain-HTTP S3 listener exists: the S3 server's only listener is TLS, and the S3 Service exposes only that port",
    (mode) => {
      const v = seaweedValues({ ...input, mode }, "x") as any;
      const port = Number(new URL(seaweedHosts(mode, "sovereign-data").s3).port);
      const args = renderedS3Args(v, mode);
      expect(s3Listeners(v, mode).filter((l) => !l.tls)).toEqual([]);
      expect(args.some((a) => /^-(s3\.)?port\.https=/.test(a))).toBe(false);
      // The chart mounts `s3.tlsSecret` where the key and certificate flags point.
      const prefix = mode === "single" ? "s3." : "";
      expect(args).toContain(`-${prefix}cert.file=/usr/local/share/ca-certificates/s3/tls.crt`);
      expect(args).toContain(`-${prefix}key.file=/usr/local/share/ca-certificates/s3/tls.key`);
      expect(s3ServicePorts(v, mode)).toEqual([port]);
      if (mode === "distributed") {
        // The probes call the S3 port, so they must speak TLS to it.
        expect(v.s3.readinessProbe.httpGet.scheme).toBe("HTTPS");
        expect(v.s3.livenessProbe.httpGet.scheme).toBe("HTTPS");
      }
    },
  );

  it.each(["single", "distributed"] as const)(
    "GIVEN %s mode THEN SeaweedFS gets no Kubernetes API access: no ClusterRole, every server pod runs as the chart's account, which mounts no token, and no resize hook",
    (mode) => {
      const v = seaweedValues({ ...input, mode }, "x") as any;
      const sw = v.global.seaweedfs;
      // Chart 4.22.0: templates/shared/cluster-role.yaml is rendered unless createClusterRole is
      // false; the account (serviceAccountName, default "seaweedfs") carries automountServiceAccountToken;
      // master, volume and filer pods use it, the all-in-one and S3 pods only when their
      // serviceAccountName names it (else the namespace's `default`, which mounts a token).
      expect(sw.createClusterRole).toBe(false);
      expect(sw.automountServiceAccountToken).toBe(false);
      const account = sw.serviceAccountName ?? "seaweedfs";
      const podAccounts =
        mode === "single"
          ? [v.allInOne.serviceAccountName ?? "default"]
          : [v.s3.serviceAccountName ?? "default", account, account, account];
      expect(new Set(podAccounts)).toEqual(new Set([account]));
      if (mode === "distributed") expect(v.volume.resizeHook).toEqual({ enabled: false });
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
