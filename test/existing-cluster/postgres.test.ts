/**
 * The CloudNativePG custom resources have no offline schema, so they are held to the documented
 * expectations of the upstream API reference (postgresql.cnpg.io/v1, operator 1.30):
 * - Cluster.spec.instances >= 1; imageName a pinned operand image; storage.size a quantity;
 *   managed.roles[] of RoleConfiguration {name, ensure: present|absent, login, passwordSecret
 *   {name}} where the Secret is of type kubernetes.io/basic-auth with `username` and
 *   `password` in the Cluster's namespace; bootstrap.initdb {database, owner, secret{name}};
 *   enablePDB (default true); postgresql.pg_hba lines appended after the operator's own;
 *   backup.retentionPolicy matches ^[1-9][0-9]*[dwm]$; barmanObjectStore {destinationPath
 *   s3://..., endpointURL, s3Credentials {accessKeyId, secretAccessKey: SecretKeySelector}}.
 * - Database.spec {name, owner, cluster{name}, ensure, databaseReclaimPolicy: retain|delete}.
 * - ScheduledBackup.spec.schedule is a six-field cron expression (seconds first);
 *   backupOwnerReference none|self|cluster; method barmanObjectStore|volumeSnapshot|plugin.
 */
import { describe, expect, it } from "vitest";
import {
  BACKUP_ACCESS_KEY,
  BACKUP_SECRET_KEY,
  backupSecretName,
  clusterObject,
  databaseObject,
  loginSecretName,
  operatorValues,
  PG_HBA,
  scheduledBackupObject,
} from "../../components/existing-cluster/postgres";
import { postgresImage } from "../../components/existing-cluster/substrate";
import { SUBSTRATE_IMAGES } from "../../components/lib/versions";

const base = {
  name: "postgres",
  namespace: "sovereign-data",
  image: postgresImage("16"),
  storageGiB: 2,
  storageClass: "standard",
};

describe("the CloudNativePG Cluster", () => {
  it("GIVEN one instance WHEN rendered THEN it is a small TLS-only cluster without superuser access or PDB", () => {
    const c = clusterObject({ ...base, instances: 1, services: ["gateway"] });
    expect(c.apiVersion).toBe("postgresql.cnpg.io/v1");
    expect(c.kind).toBe("Cluster");
    const s = c.spec as Record<string, any>;
    expect(s.instances).toBe(1);
    expect(s.imageName).toBe("ghcr.io/cloudnative-pg/postgresql:16.15-standard-trixie");
    expect(s.enableSuperuserAccess).toBe(false);
    expect(s.enablePDB).toBe(false);
    expect(s.storage).toEqual({ size: "2Gi", storageClass: "standard" });
    expect(s.postgresql.pg_hba).toEqual([
      "hostnossl all all all reject",
      "hostssl all all all scram-sha-256",
    ]);
    expect(s.backup).toBeUndefined();
    expect(s.affinity).toBeUndefined();
    expect(s.resources.requests).toEqual({ cpu: "100m", memory: "256Mi" });
  });

  it("GIVEN three instances and backups WHEN rendered THEN PDBs, anti-affinity and a barman object store are set", () => {
    const c = clusterObject({
      ...base,
      instances: 3,
      services: ["gateway"],
      backup: {
        endpoint: "http://seaweedfs-s3.sovereign-data.svc.cluster.local:8333",
        bucket: "acme-pg-backups",
        retentionDays: 14,
      },
    });
    const s = c.spec as Record<string, any>;
    expect(s.instances).toBe(3);
    expect(s.enablePDB).toBe(true);
    expect(s.affinity).toEqual({
      enablePodAntiAffinity: true,
      podAntiAffinityType: "required",
      topologyKey: "kubernetes.io/hostname",
    });
    expect(s.backup.retentionPolicy).toMatch(/^[1-9][0-9]*[dwm]$/);
    expect(s.backup.retentionPolicy).toBe("14d");
    expect(s.backup.barmanObjectStore).toEqual({
      destinationPath: "s3://acme-pg-backups/",
      endpointURL: "http://seaweedfs-s3.sovereign-data.svc.cluster.local:8333",
      s3Credentials: {
        accessKeyId: { name: backupSecretName("postgres"), key: BACKUP_ACCESS_KEY },
        secretAccessKey: { name: backupSecretName("postgres"), key: BACKUP_SECRET_KEY },
      },
      wal: { compression: "gzip" },
      data: { compression: "gzip" },
    });
  });

  it("GIVEN services WHEN rendered THEN each is a least-privilege login role whose password comes from its own Secret", () => {
    const s = clusterObject({ ...base, instances: 1, services: ["gateway"] }).spec as Record<string, any>;
    expect(s.bootstrap.initdb).toEqual({
      database: "gateway",
      owner: "gateway",
      secret: { name: loginSecretName("postgres", "gateway") },
    });
    expect(s.managed.roles.map((r: any) => r.name)).toEqual(["gateway"]);
    for (const r of s.managed.roles) {
      expect(r).toMatchObject({
        ensure: "present",
        login: true,
        superuser: false,
        createdb: false,
        createrole: false,
      });
      expect(r.passwordSecret).toEqual({ name: `postgres-${r.name}-login` });
    }
  });

  it("GIVEN impossible input WHEN rendered THEN it is refused with the bad value", () => {
    expect(() => clusterObject({ ...base, instances: 0, services: ["gateway"] })).toThrow("found 0");
    expect(() => clusterObject({ ...base, instances: 1, services: [] })).toThrow("none");
  });

  it("GIVEN a pinned image per major THEN versions map to it and an unpinned major is refused", () => {
    expect(postgresImage("16.4")).toBe(SUBSTRATE_IMAGES.postgres["16"]);
    expect(postgresImage("18")).toBe("ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie");
    expect(() => postgresImage("19")).toThrow('"19"');
    for (const image of Object.values(SUBSTRATE_IMAGES.postgres)) expect(image).not.toMatch(/:latest$/);
  });

  it("GIVEN the client rules THEN plain-text connections are rejected before any password rule", () => {
    expect(PG_HBA[0]).toMatch(/^hostnossl\s.*\sreject$/);
    expect(PG_HBA.every((l) => !/\b(trust|md5|password)\b/.test(l))).toBe(true);
  });
});

describe("Database and ScheduledBackup", () => {
  it("GIVEN a service WHEN its Database is rendered THEN it names the cluster, the owner and the reclaim policy", () => {
    expect(databaseObject("postgres", "sovereign-data", "gateway", true)).toEqual({
      apiVersion: "postgresql.cnpg.io/v1",
      kind: "Database",
      metadata: expect.objectContaining({ name: "postgres-gateway", namespace: "sovereign-data" }),
      spec: {
        name: "gateway",
        owner: "gateway",
        cluster: { name: "postgres" },
        ensure: "present",
        databaseReclaimPolicy: "retain",
      },
    });
    expect(databaseObject("postgres", "ns", "gateway", false).spec.databaseReclaimPolicy).toBe("delete");
  });

  it("GIVEN a schedule WHEN rendered THEN it is a six-field cron owned by the backup, and five fields are refused", () => {
    const b = scheduledBackupObject("postgres", "sovereign-data", "0 0 2 * * *");
    expect(b.kind).toBe("ScheduledBackup");
    expect(b.spec).toEqual({
      schedule: "0 0 2 * * *",
      cluster: { name: "postgres" },
      backupOwnerReference: "self",
      method: "barmanObjectStore",
      immediate: true,
    });
    expect(() => scheduledBackupObject("postgres", "ns", "0 2 * * *")).toThrow('"0 2 * * *"');
  });

  it("GIVEN the operator chart values THEN CRDs come with the chart and requests are small", () => {
    const v = operatorValues() as Record<string, any>;
    expect(v.crds).toEqual({ create: true });
    expect(v.resources.requests).toEqual({ cpu: "50m", memory: "128Mi" });
  });
});
