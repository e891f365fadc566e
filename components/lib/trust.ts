/**
 * How a workload trusts the object store's CA where it is a private one (the existing-cluster
 * substrate): the substrate hands over a Secret in the workload's namespace (`WorkloadAccess.
 * caBundle`) and environment that points S3 clients at a file; the workload mounts the Secret's
 * key there with these volumes.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

/**
 * The Secret (in the workload's namespace) the in-cluster substrate's Certificate writes for a
 * workload's ServiceAccount; pods rendered outside the program (training Jobs) mount it
 * optionally, so the same Job works where there is none (AWS).
 */
export function objectStoreCaSecretName(serviceAccountName: string): string {
  return `${serviceAccountName}-object-store-tls`;
}

/** Where a workload mounts the object store's CA. */
export const OBJECT_STORE_CA_DIR = "/etc/sovereign/object-store-ca";
/** The file name of the CA bundle in that directory. */
export const OBJECT_STORE_CA_FILE = "ca.crt";

/**
 * Environment that makes S3 clients trust the CA at `OBJECT_STORE_CA_DIR`: botocore and the AWS
 * CLI (`AWS_CA_BUNDLE`), Node's https (`NODE_EXTRA_CA_CERTS`: the gateway). The system's CAs stay
 * trusted for everything else.
 */
export function objectStoreCaEnv(): k8s.types.input.core.v1.EnvVar[] {
  const file = `${OBJECT_STORE_CA_DIR}/${OBJECT_STORE_CA_FILE}`;
  return [
    { name: "AWS_CA_BUNDLE", value: file },
    { name: "NODE_EXTRA_CA_CERTS", value: file },
  ];
}

/** The volume and the mount of a workload's object-store CA, or none (public CAs). */
export function objectStoreCaMounts(
  caBundle: { readonly secretName: pulumi.Input<string>; readonly key: string } | undefined,
): {
  volumes: k8s.types.input.core.v1.Volume[];
  volumeMounts: k8s.types.input.core.v1.VolumeMount[];
} {
  if (!caBundle) return { volumes: [], volumeMounts: [] };
  return {
    volumes: [
      {
        name: "object-store-ca",
        secret: {
          secretName: caBundle.secretName,
          items: [{ key: caBundle.key, path: OBJECT_STORE_CA_FILE }],
        },
      },
    ],
    volumeMounts: [{ name: "object-store-ca", mountPath: OBJECT_STORE_CA_DIR, readOnly: true }],
  };
}
