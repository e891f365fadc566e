/**
 * The AWS substrate under mocks for the shipped aws-dev and aws-prod configs: the recorded
 * inputs keep the kit's promises (customer keys everywhere, no public buckets, TLS only,
 * IMDSv2 with one hop, endpoint access and data protection per profile, GPU taints/labels).
 */
import { rdsCaBundle } from "../../components/aws/database";
import { loginScript } from "../../components/aws/postgres-login";
import { beforeAll, describe, expect, it } from "vitest";
import { GPU_POOL_LABEL, GPU_TAINT, GPU_TYPE_LABEL } from "../../components/lib/gpu-catalog";
import { BUCKET_ROLES, workloadScopes } from "../../components/lib/scopes";
import { KARPENTER } from "../../components/aws/versions";
import { objectOf, validateObject } from "../helpers/k8s-schema";
import { valueOf } from "../helpers/mocks";
import { allStatements, build, json, KEY_ARN, MODEL_SERVER_READS, unsecret, type Built } from "./harness";

const DATA_TYPES = ["aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:rds/instance:Instance"];

/** The shipped stacks, and aws-dev with the explicit password opt-out (the only password path). */
const VARIANTS: { label: string; stack: "aws-dev" | "aws-prod"; password: boolean }[] = [
  { label: "aws-dev", stack: "aws-dev", password: false },
  { label: "aws-prod", stack: "aws-prod", password: false },
  { label: "aws-dev with database.iamAuth: false", stack: "aws-dev", password: true },
];

for (const { label, stack, password } of VARIANTS) {
  describe(`AWS substrate: ${label}`, () => {
    let b: Built;
    beforeAll(async () => {
      b = await build(
        stack,
        password ? (raw) => void (raw.database = { ...raw.database, iamAuth: false }) : undefined,
      );
    });
    const prod = stack === "aws-prod";

    it("GIVEN the substrate WHEN built THEN five customer keys exist, each rotated, with a policy free of wildcard actions", () => {
      const keys = b.recorder.ofType("aws:kms/key:Key");
      expect(keys.map((k) => k.name).sort()).toEqual(
        ["ebs", "eks", "logs", "rds", "s3"].map((p) => `substrate-keys-${p}`),
      );
      for (const k of keys) {
        expect(k.inputs.enableKeyRotation).toBe(true);
        const actions = json(k.inputs.policy).Statement.flatMap((s: any) => [s.Action].flat());
        expect(actions.filter((a: string) => a.includes("*"))).toEqual([]);
      }
    });

    it("THEN only AWS services can create grants on a key: no statement allows kms:CreateGrant without kms:GrantIsForAWSResource", () => {
      for (const k of b.recorder.ofType("aws:kms/key:Key")) {
        const st = json(k.inputs.policy).Statement as any[];
        const granting = st.filter((s) => [s.Action].flat().includes("kms:CreateGrant"));
        expect(
          granting.map((s) => s.Sid),
          k.name,
        ).toEqual(
          k.name.endsWith("-ebs")
            ? ["GrantsForAwsResources", "AutoScalingGrants"]
            : ["GrantsForAwsResources"],
        );
        // the EKS key's grant is made by the cluster role itself (IAM scopes that key)
        for (const g of granting)
          expect(g.Condition.Bool).toEqual(
            k.name.endsWith("-eks") ? undefined : { "kms:GrantIsForAWSResource": true },
          );
        expect(granting[0].Condition.StringEquals["kms:CallerAccount"]).toBe("123456789012");
        // the administrators manage the key but cannot hand out its use
        const admin = st.find((s) => s.Sid === "KeyAdministration");
        expect(admin.Action).not.toContain("kms:CreateGrant");
        expect(admin.Action).not.toContain("kms:Decrypt");
      }
    });

    it("THEN every data bucket is SSE-KMS with the S3 customer key and bucket keys; the access-log bucket is SSE-S3", () => {
      const sse = b.recorder.ofType(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      );
      expect(sse).toHaveLength(5);
      for (const r of sse) {
        const rule = r.inputs.rules[0];
        if (r.name.includes("access-logs")) {
          expect(rule.applyServerSideEncryptionByDefault.sseAlgorithm).toBe("AES256");
        } else {
          expect(rule.applyServerSideEncryptionByDefault).toEqual({
            sseAlgorithm: "aws:kms",
            kmsMasterKeyId: KEY_ARN("s3"),
          });
          expect(rule.bucketKeyEnabled).toBe(true);
        }
      }
    });

    it("THEN the cluster, logs, volumes, database and secrets use the customer keys", () => {
      const eks = b.recorder.one("aws:eks/cluster:Cluster");
      expect(eks.inputs.encryptionConfig).toEqual({
        provider: { keyArn: KEY_ARN("eks") },
        resources: ["secrets"],
      });
      for (const lg of b.recorder.ofType("aws:cloudwatch/logGroup:LogGroup"))
        expect(lg.inputs.kmsKeyId).toBe(KEY_ARN("logs"));
      const lt = b.recorder.one("aws:ec2/launchTemplate:LaunchTemplate");
      expect(lt.inputs.blockDeviceMappings[0].ebs).toMatchObject({
        encrypted: "true",
        kmsKeyId: KEY_ARN("ebs"),
        volumeType: "gp3",
      });
      const db = b.recorder.one("aws:rds/instance:Instance");
      expect(db.inputs).toMatchObject({
        storageEncrypted: true,
        kmsKeyId: KEY_ARN("rds"),
        performanceInsightsEnabled: true,
        performanceInsightsKmsKeyId: KEY_ARN("rds"),
        masterUserSecretKmsKeyId: KEY_ARN("rds"),
      });
      for (const s of b.recorder.ofType("aws:secretsmanager/secret:Secret"))
        expect(s.inputs.kmsKeyId).toBe(KEY_ARN("rds"));
      const queue = b.recorder.one("aws:sqs/queue:Queue").inputs;
      expect(queue.kmsMasterKeyId).toBe(KEY_ARN("logs"));
      expect(queue.sqsManagedSseEnabled).toBeUndefined();
      const logsKey = json(b.recorder.one("aws:kms/key:Key", "substrate-keys-logs").inputs.policy).Statement;
      expect(logsKey.find((s: any) => s.Sid === "EventBridgeToQueue").Principal).toEqual({
        Service: "events.amazonaws.com",
      });
      const rdsKey = json(b.recorder.one("aws:kms/key:Key", "substrate-keys-rds").inputs.policy).Statement;
      expect(
        rdsKey.find((s: any) => s.Sid === "UseThroughOwningService").Condition.StringEquals["kms:ViaService"],
      ).toEqual(["rds.eu-central-1.amazonaws.com", "secretsmanager.eu-central-1.amazonaws.com"]);
      const sc = b.recorder.one("kubernetes:storage.k8s.io/v1:StorageClass");
      expect(sc.inputs.parameters).toMatchObject({
        type: "gp3",
        encrypted: "true",
        kmsKeyId: KEY_ARN("ebs"),
      });
      expect(sc.inputs.metadata.annotations["storageclass.kubernetes.io/is-default-class"]).toBe("true");
    });

    it("THEN every bucket blocks public access, disables ACLs, is versioned and logged", () => {
      const pab = b.recorder.ofType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
      expect(pab).toHaveLength(5);
      for (const r of pab)
        expect(r.inputs).toMatchObject({
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        });
      const own = b.recorder.ofType("aws:s3/bucketOwnershipControls:BucketOwnershipControls");
      expect(own.map((r) => r.inputs.rule.objectOwnership)).toEqual(Array(5).fill("BucketOwnerEnforced"));
      const ver = b.recorder.ofType("aws:s3/bucketVersioning:BucketVersioning");
      expect(ver.map((r) => r.inputs.versioningConfiguration.status)).toEqual(Array(5).fill("Enabled"));
      expect(b.recorder.ofType("aws:s3/bucketLogging:BucketLogging")).toHaveLength(4);
      for (const lc of b.recorder.ofType(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      )) {
        const rule = lc.inputs.rules[0];
        expect(rule.abortIncompleteMultipartUpload.daysAfterInitiation).toBeGreaterThan(0);
        expect(rule.noncurrentVersionExpiration.noncurrentDays).toBeGreaterThan(0);
      }
    });

    it("THEN every bucket policy denies plain HTTP for every object, listing and configuration action, and data buckets deny uploads without the customer key", () => {
      const policies = b.recorder.ofType("aws:s3/bucketPolicy:BucketPolicy");
      expect(policies).toHaveLength(5);
      for (const p of policies) {
        const st = json(p.inputs.policy).Statement;
        const tls = st.find((s: any) => s.Sid === "DenyInsecureTransport");
        expect(tls).toMatchObject({
          Effect: "Deny",
          Principal: "*",
          Condition: { Bool: { "aws:SecureTransport": false } },
        });
        // S3.5: every action, as the control checks it.
        expect(tls.Action).toBe("s3:*");
        expect(tls.Resource).toHaveLength(2);
        if (!p.name.includes("access-logs")) {
          const deny = (sid: string) => st.find((s: any) => s.Sid === sid);
          for (const sid of ["DenyNonKmsUploads", "DenyOtherKmsKeys", "DenyKmsWithoutKeyId"])
            expect(deny(sid)).toMatchObject({ Effect: "Deny", Principal: "*", Action: ["s3:PutObject"] });
          // another algorithm (AES256, DSSE) is refused
          expect(deny("DenyNonKmsUploads").Condition).toEqual({
            StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption": "aws:kms" },
          });
          // another KMS key is refused
          expect(deny("DenyOtherKmsKeys").Condition).toEqual({
            StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN("s3") },
          });
          // aws:kms without naming the key would get the AWS managed aws/s3 key: refused
          expect(deny("DenyKmsWithoutKeyId").Condition).toEqual({
            StringEquals: { "s3:x-amz-server-side-encryption": "aws:kms" },
            Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "true" },
          });
        }
      }
    });

    it("THEN every node requires IMDSv2 with a hop limit of 1", () => {
      const lt = b.recorder.one("aws:ec2/launchTemplate:LaunchTemplate");
      expect(lt.inputs.metadataOptions).toMatchObject({
        httpTokens: "required",
        httpPutResponseHopLimit: 1,
        httpEndpoint: "enabled",
      });
      const classes = b.recorder.ofType("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass");
      expect(classes).toHaveLength(b.config.gpuPools.length);
      for (const c of classes) {
        expect(c.inputs.spec.metadataOptions).toMatchObject({
          httpTokens: "required",
          httpPutResponseHopLimit: 1,
        });
        const ebs = c.inputs.spec.blockDeviceMappings[0].ebs;
        expect(ebs).toMatchObject({ encrypted: true, kmsKeyID: KEY_ARN("ebs"), volumeType: "gp3" });
        expect(parseInt(ebs.volumeSize, 10)).toBeGreaterThanOrEqual(200);
        expect(c.inputs.spec.amiSelectorTerms).toEqual([{ alias: KARPENTER.amiAlias }]);
      }
    });

    it("THEN GPU NodePools carry the GPU taint, the type label, their families and capacity type", () => {
      const pools = b.recorder.ofType("kubernetes:karpenter.sh/v1:NodePool");
      expect(pools.map((p) => p.inputs.metadata.name).sort()).toEqual(
        b.config.gpuPools.map((p) => p.name).sort(),
      );
      for (const np of pools) {
        const cfg = b.config.gpuPools.find((p) => p.name === np.inputs.metadata.name)!;
        const spec = np.inputs.spec.template.spec;
        expect(spec.taints).toEqual([
          { key: GPU_TAINT.key, value: GPU_TAINT.value, effect: GPU_TAINT.effect },
        ]);
        expect(np.inputs.spec.template.metadata.labels[GPU_POOL_LABEL]).toBe(cfg.name);
        const req = (k: string) => spec.requirements.find((r: any) => r.key === k).values;
        expect(req("karpenter.k8s.aws/instance-family")).toEqual(cfg.instanceFamilies);
        expect(req("karpenter.sh/capacity-type")).toEqual([cfg.capacityType]);
        expect(np.inputs.spec.limits["nvidia.com/gpu"]).toBe(String(cfg.maxGpus));
        expect(np.inputs.spec.disruption.consolidationPolicy).toBe("WhenEmpty");
        const placement = b.substrate.gpuPools[cfg.name];
        expect(placement.nodeSelector).toEqual(np.inputs.spec.template.metadata.labels);
        expect(placement.tolerations).toEqual([
          { key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" },
          // Training pods checkpoint and resume: they may run on a node Karpenter reclaims.
          ...(cfg.purpose === "training"
            ? [{ key: "karpenter.sh/disruption", operator: "Exists", effect: "NoSchedule" }]
            : []),
        ]);
      }
      const byName = Object.fromEntries(
        pools.map((p) => [p.inputs.metadata.name, p.inputs.spec.template.metadata.labels[GPU_TYPE_LABEL]]),
      );
      expect(byName).toEqual(
        prod
          ? { "serving-l40s": "nvidia-l40s", "serving-h100": "nvidia-h100", "training-h100": "nvidia-h100" }
          : { "serving-l4": "nvidia-l4", "training-l40s": "nvidia-l40s" },
      );
    });

    it("THEN the API endpoint is private, public only with the configured allowlist", () => {
      const vpc = b.recorder.one("aws:eks/cluster:Cluster").inputs.vpcConfig;
      expect(vpc.endpointPrivateAccess).toBe(true);
      if (prod) {
        expect(vpc.endpointPublicAccess).toBe(false);
        expect(vpc.publicAccessCidrs).toBeUndefined();
      } else {
        expect(vpc.endpointPublicAccess).toBe(true);
        expect(vpc.publicAccessCidrs).toEqual(["203.0.113.0/24"]);
      }
      const eks = b.recorder.one("aws:eks/cluster:Cluster").inputs;
      expect(eks.enabledClusterLogTypes).toEqual(["api", "audit", "authenticator"]);
      expect(eks.accessConfig.authenticationMode).toBe("API");
      expect(eks.version).toBe("1.33");
    });

    it("THEN data stores are protected and retained on delete only in prod, and buckets force-destroy only in dev", () => {
      for (const type of DATA_TYPES) {
        const rs = b.recorder.ofType(type);
        expect(rs.length).toBeGreaterThan(0);
        for (const r of rs) {
          expect(r.protect, `${r.name} protect`).toBe(prod);
          expect(r.retainOnDelete, `${r.name} retainOnDelete`).toBe(prod);
        }
      }
      for (const r of b.recorder.ofType("aws:s3/bucket:Bucket")) expect(r.inputs.forceDestroy).toBe(!prod);
      // Compute is never protected: teardown removes it.
      for (const t of ["aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:ec2/vpc:Vpc"])
        expect(b.recorder.one(t).protect).toBe(false);
      const db = b.recorder.one("aws:rds/instance:Instance").inputs;
      expect(db.deletionProtection).toBe(prod);
      expect(db.skipFinalSnapshot).toBe(!prod);
      expect(db.multiAz).toBe(prod);
      if (prod) expect(db.finalSnapshotIdentifier).toBe("sovereign-aws-prod-pg-final");
      expect(db.backupRetentionPeriod).toBe(prod ? 14 : 1);
    });

    it("THEN enhanced monitoring (FSBP RDS.6) is on every 60 s in prod with a role only RDS monitoring assumes, and off in dev", () => {
      const db = b.recorder.one("aws:rds/instance:Instance").inputs;
      const roles = b.recorder.ofType("aws:iam/role:Role").filter((r) => r.name.endsWith("-monitoring-role"));
      if (!prod) {
        expect(db.monitoringInterval).toBe(0);
        expect(roles).toEqual([]);
        return;
      }
      expect(db.monitoringInterval).toBe(60);
      expect(roles).toHaveLength(1);
      expect(db.monitoringRoleArn).toContain(roles[0].name);
      expect(json(roles[0].inputs.assumeRolePolicy).Statement[0].Principal).toEqual({
        Service: "monitoring.rds.amazonaws.com",
      });
      const attach = b.recorder
        .ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        .find((r) => r.name.endsWith("-monitoring-policy"))!;
      expect(attach.inputs.policyArn).toBe(
        "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
      );
    });

    it("THEN the database is private, TLS-only, IAM-auth enabled with a managed master password, reachable only from the cluster", () => {
      const db = b.recorder.one("aws:rds/instance:Instance").inputs;
      expect(db).toMatchObject({
        publiclyAccessible: false,
        iamDatabaseAuthenticationEnabled: true,
        manageMasterUserPassword: true,
        engine: "postgres",
      });
      expect(db.password).toBeUndefined();
      const params = b.recorder.one("aws:rds/parameterGroup:ParameterGroup").inputs;
      expect(params.family).toBe("postgres16");
      expect(params.parameters).toContainEqual(
        expect.objectContaining({ name: "rds.force_ssl", value: "1" }),
      );
      const sg = b.recorder.one("aws:ec2/securityGroup:SecurityGroup", "substrate-database-sg").inputs;
      expect(sg.ingress).toEqual([
        expect.objectContaining({
          fromPort: 5432,
          toPort: 5432,
          securityGroups: ["sg-substrate-cluster-eks-cluster"],
        }),
      ]);
      expect(sg.ingress[0].cidrBlocks).toBeUndefined();
    });

    it("THEN no Allow statement anywhere uses a wildcard action; the only wildcard is each bucket's TLS-only Deny on s3:*", () => {
      const st = allStatements(b.recorder);
      expect(st.length).toBeGreaterThan(40);
      const wild = st.flatMap(({ r, s }) =>
        [s.Action]
          .flat()
          .filter((a: string) => a.includes("*"))
          .map(
            (a: string) =>
              `${r.type === "aws:s3/bucketPolicy:BucketPolicy" ? "bucket-policy" : r.name} ${s.Effect} ${s.Sid}: ${a}`,
          ),
      );
      const buckets = b.recorder.ofType("aws:s3/bucketPolicy:BucketPolicy").length;
      expect(wild).toEqual(
        Array.from({ length: buckets }, () => "bucket-policy Deny DenyInsecureTransport: s3:*"),
      );
    });

    it("THEN every taggable AWS resource carries owner, cost-center and data-classification", () => {
      const tagged = b.recorder.resources.filter(
        (r) => r.type.startsWith("aws:") && r.inputs.tags !== undefined,
      );
      expect(tagged.length).toBeGreaterThan(40);
      for (const r of tagged)
        expect(r.inputs.tags, r.name).toMatchObject({
          owner: "platform-team",
          "cost-center": "cc-1000",
          "data-classification": b.config.tags.dataClassification,
        });
      for (const t of [
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:rds/instance:Instance",
        "aws:eks/cluster:Cluster",
        "aws:iam/role:Role",
        "aws:sqs/queue:Queue",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/flowLog:FlowLog",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:eks/addon:Addon",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:rds/parameterGroup:ParameterGroup",
        // Only the password opt-out has a service password, so a Secrets Manager secret.
        ...(password ? ["aws:secretsmanager/secret:Secret"] : []),
      ]) {
        const rs = b.recorder.ofType(t);
        expect(rs.length, t).toBeGreaterThan(0);
        for (const r of rs) expect(r.inputs.tags, `${t} ${r.name}`).toBeDefined();
      }
      for (const t of [
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
        "aws:ec2/internetGateway:InternetGateway",
      ])
        for (const r of b.recorder.ofType(t)) expect(r.inputs.tags, `${t} ${r.name}`).toBeDefined();
      const provider = b.recorder.resources.find((r) => r.type === "pulumi:providers:aws")!;
      expect(json(provider.inputs.defaultTags).tags.owner).toBe("platform-team");
    });

    it("THEN bindWorkload creates a ServiceAccount, a scoped role and a Pod Identity association, and the env carries the region only", async () => {
      for (const kind of ["model-server", "training", "gateway", "policy"] as const) {
        const a = b.access[kind];
        expect(a.scopes).toEqual(
          workloadScopes(
            kind,
            kind === "training" ? "research" : undefined,
            kind === "model-server" ? MODEL_SERVER_READS : [],
          ),
        );
        expect(await valueOf(a.serviceAccountName)).toBe(`${kind}-sa`);
        const env = await valueOf(a.env);
        expect(env.map((e) => e.name).sort()).toEqual(["AWS_DEFAULT_REGION", "AWS_REGION"]);
        expect(env.find((e) => e.name === "AWS_REGION")!.value).toBe("eu-central-1");
        const assoc = b.recorder.one(
          "aws:eks/podIdentityAssociation:PodIdentityAssociation",
          `platform-${kind}-association`,
        );
        expect(assoc.inputs).toMatchObject({
          namespace: `ns-${kind}`,
          serviceAccount: `${kind}-sa`,
          clusterName: `sovereign-${stack}`,
        });
        expect(a.dependsOn.length).toBeGreaterThanOrEqual(3);
      }
      const ms = json(
        b.recorder.one("aws:iam/rolePolicy:RolePolicy", "platform-model-server-policy").inputs.policy,
      ).Statement;
      const actions = ms.flatMap((s: any) => [s.Action].flat());
      expect(actions).toContain("s3:GetObject");
      expect(actions.filter((a: string) => /Put|Delete/.test(a))).toEqual([]);
      // exactly its prefixes (MODEL_SERVER_READS), never the whole models bucket
      expect(ms.filter((s: any) => s.Sid?.startsWith("Objects")).map((s: any) => s.Resource)).toEqual(
        MODEL_SERVER_READS.map((p) => `arn:aws:s3:::acme-ai-${prod ? "prod" : "dev"}-models/${p}*`),
      );
      const gw = json(
        b.recorder.one("aws:iam/rolePolicy:RolePolicy", "platform-gateway-policy").inputs.policy,
      ).Statement;
      expect(gw.find((s: any) => s.Sid === "Objects0").Resource).toBe(
        `arn:aws:s3:::acme-ai-${prod ? "prod" : "dev"}-inference-logs/captures/*`,
      );
      expect(gw.flatMap((s: any) => [s.Action].flat())).not.toContain("s3:GetObject");
    });

    it("WHEN the same service asks for a second login THEN it is refused (one Job, Secret and role per service)", () => {
      expect(() => b.substrate.connectPostgres("again-db", "gateway", "elsewhere", {})).toThrow(
        'expected one Postgres login per service, found a second one for "gateway"',
      );
    });

    if (!password)
      it("THEN with IAM authentication (the default on every aws stack) there is no password anywhere: the role gets rds_iam, and the gateway's Pod Identity role may connect as it only", () => {
        const c = b.postgres;
        expect(c.iamAuth).toEqual({ user: "gateway" });
        expect(c.secretName).toBeUndefined();
        expect(b.recorder.ofType("aws:secretsmanager/secret:Secret")).toEqual([]);
        expect(b.recorder.ofType("random:index/randomPassword:RandomPassword")).toEqual([]);
        const secrets = b.recorder.ofType("kubernetes:core/v1:Secret").map((r) => r.name);
        expect(secrets).toEqual(["platform-gateway-db-job-secret"]);
        expect(
          Object.keys(unsecret(b.recorder.one("kubernetes:core/v1:Secret").inputs.stringData)).sort(),
        ).toEqual(["PGPASSWORD", "PGUSER"]);
        const job = b.recorder.one("kubernetes:batch/v1:Job").inputs.spec.template.spec.containers[0];
        expect(job.command).toEqual(["/bin/sh", "-c", loginScript(true)]);
        expect(job.env.map((e: any) => e.name)).not.toContain("SERVICE_PASSWORD");
        const connect = b.recorder.one("aws:iam/rolePolicy:RolePolicy", "platform-gateway-db-rds-connect");
        expect(json(connect.inputs.policy).Statement).toEqual([
          {
            Sid: "RdsIamConnect",
            Effect: "Allow",
            Action: ["rds-db:connect"],
            Resource: "arn:aws:rds-db:eu-central-1:123456789012:dbuser:db-SUBSTRATEDATABASEPOSTGRES/gateway",
          },
        ]);
        // Attached to the role the gateway's ServiceAccount is associated with (its S3 policy's role).
        const gatewayPolicy = b.recorder.one("aws:iam/rolePolicy:RolePolicy", "platform-gateway-policy");
        expect(connect.inputs.role).toBe(gatewayPolicy.inputs.role);
        expect(() =>
          b.substrate.connectPostgres("other-db", "other" as never, "elsewhere", {}, undefined),
        ).toThrow('expected the workload identity of "other" (its bindWorkload result)');
      });
    else
      it("THEN connectPostgres projects a secret password into a Secret in the service namespace, and the host is the RDS endpoint", async () => {
        const c = b.postgres;
        expect(await valueOf(c.host)).toBe("substrate-database-postgres.db.example");
        expect(await valueOf(c.port)).toBe(5432);
        expect(c.database).toBe("gateway");
        expect(c.sslMode).toBe("verify-full");
        expect(c.iamAuth).toBeUndefined();
        expect(await valueOf(c.secretName)).toBe("gateway-postgres");
        const secret = b.recorder.one("kubernetes:core/v1:Secret", "platform-gateway-db-credentials");
        expect(secret.inputs.metadata.namespace).toBe("sovereign-gateway");
        expect(unsecret(secret.inputs.stringData)).toEqual({
          username: "gateway",
          password: "generated-platform-gateway-db-password-0123456789abcdef",
        });
        expect(secret.secretPaths).toContain("stringData");
        const jobSecret = b.recorder.one("kubernetes:core/v1:Secret", "platform-gateway-db-job-secret");
        expect(jobSecret.secretPaths).toContain("stringData");
        expect(unsecret(jobSecret.inputs.stringData)).toMatchObject({
          PGUSER: "sovereign_admin",
          PGPASSWORD: "mock-master-password",
        });
        const sm = b.recorder.one("aws:secretsmanager/secretVersion:SecretVersion");
        expect(sm.secretPaths).toContain("secretString");
        const job = b.recorder.one("kubernetes:batch/v1:Job").inputs.spec.template.spec.containers[0];
        expect(job.env.find((e: any) => e.name === "PGSSLMODE").value).toBe("verify-full");
        // The Job verifies RDS against the pinned bundle of the stack's region, mounted where PGSSLROOTCERT points.
        const pod = b.recorder.one("kubernetes:batch/v1:Job").inputs.spec.template.spec;
        const vol = pod.volumes.find((v: any) => v.configMap);
        const mount = job.volumeMounts.find((m: any) => m.name === vol.name);
        const cm = b.recorder
          .ofType("kubernetes:core/v1:ConfigMap")
          .find(
            (r) =>
              r.inputs.metadata.name === vol.configMap.name &&
              r.inputs.metadata.namespace === "sovereign-substrate",
          )!;
        const file = job.env.find((e: any) => e.name === "PGSSLROOTCERT").value as string;
        expect(file.startsWith(`${mount.mountPath}/`)).toBe(true);
        expect(cm.inputs.data[file.slice(mount.mountPath.length + 1)]).toBe(rdsCaBundle("eu-central-1"));
        // Without egress (prod) the image comes through the account's ECR pull-through cache.
        expect(job.image).toBe(
          prod
            ? "123456789012.dkr.ecr.eu-central-1.amazonaws.com/ecr-public/docker/library/postgres:16.10-alpine"
            : "public.ecr.aws/docker/library/postgres:16.10-alpine",
        );
        expect(job.env.find((e: any) => e.name === "PGPASSWORD").value).toBeUndefined();
      });

    it("THEN the inference-log bucket has object lock exactly when configured (prod ships it on)", () => {
      const logs = b.recorder.one("aws:s3/bucket:Bucket", "substrate-storage-inference-logs");
      expect(logs.inputs.objectLockEnabled).toBe(prod);
      const lock = b.recorder.ofType("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration");
      expect(lock.map((l) => l.inputs.rule.defaultRetention.mode)).toEqual(prod ? ["GOVERNANCE"] : []);
      for (const other of ["models", "datasets", "checkpoints"])
        expect(
          b.recorder.one("aws:s3/bucket:Bucket", `substrate-storage-${other}`).inputs.objectLockEnabled,
        ).toBe(false);
    });

    it("THEN every built-in Kubernetes object the substrate creates is valid against the offline schemas", async () => {
      const invalid: string[] = [];
      const kinds = new Set<string>();
      for (const r of b.recorder.resources) {
        const o = objectOf(r);
        if (!o) continue;
        const obj = { ...o, ...(o.stringData ? { stringData: unsecret(o.stringData) } : {}) };
        const res = await validateObject(obj);
        if (res.status === "invalid") invalid.push(`${o.kind} ${r.name}: ${res.errors}`);
        if (res.status === "valid") kinds.add(o.kind);
      }
      expect(invalid).toEqual([]);
      expect([...kinds].sort()).toEqual([
        "ConfigMap",
        "Job",
        "Namespace",
        "NetworkPolicy",
        "Secret",
        "ServiceAccount",
        "StorageClass",
      ]);
    });

    it("THEN the substrate implements the whole interface with the buckets of every role", async () => {
      const s = b.substrate;
      expect(s.kind).toBe("aws");
      expect(s.provider).toBeDefined();
      expect(s.storageClasses.default).toBe("gp3");
      expect(s.objectStore.forcePathStyle).toBe(false);
      expect(await valueOf(s.objectStore.endpoint)).toBe("https://s3.eu-central-1.amazonaws.com");
      for (const role of BUCKET_ROLES)
        expect(await valueOf(s.objectStore.buckets[role])).toMatch(/^acme-ai-(dev|prod)-/);
      expect(s.ready.length).toBeGreaterThan(5);
      const readyTypes = s.ready.map((r) => (r as any).__pulumiType ?? "");
      expect(readyTypes).toEqual(
        expect.arrayContaining([
          "aws:eks/cluster:Cluster",
          "aws:eks/nodeGroup:NodeGroup",
          "kubernetes:helm.sh/v3:Release",
        ]),
      );
    });
  });
}
