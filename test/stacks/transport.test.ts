/**
 * Transport across the seams of whole shipped stacks (the program under mocks, the real AWS
 * substrate, the real gateway component): the gateway verifies Postgres with the CA bundle the
 * substrate hands over, mounted where `PGSSLROOTCERT` points; it serves HTTPS with the Secret its
 * Certificate names, mounted where `GATEWAY_TLS_*` point.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { rdsCaBundle } from "../../components/aws/database";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { runShippedStack, type StackRun } from "../helpers/stack";

for (const stack of ["aws-dev", "aws-prod"] as const) {
  describe(`transport of ${stack}`, () => {
    let run: StackRun;
    let pod: any;
    let env: Record<string, string>;
    beforeAll(async () => {
      run = await runShippedStack(stack);
      const d = run.recorder
        .ofType("kubernetes:apps/v1:Deployment")
        .find((r) => r.inputs.metadata.namespace === PLATFORM_NAMESPACES.gateway)!;
      pod = d.inputs.spec.template.spec;
      env = Object.fromEntries(
        pod.containers[0].env.filter((e: any) => e.value).map((e: any) => [e.name, e.value]),
      );
    });

    /** The key of the volume mounted where `file` lies, and the volume. */
    function mounted(file: string): { volume: any; key: string } {
      const c = pod.containers[0];
      const m = c.volumeMounts.find((x: any) => file.startsWith(`${x.mountPath}/`));
      expect(m, `a volume mounted above ${file}`).toBeDefined();
      return {
        volume: pod.volumes.find((v: any) => v.name === m.name),
        key: file.slice(m.mountPath.length + 1),
      };
    }

    it("THEN the gateway connects with verify-full against the region's RDS CA bundle, from a ConfigMap in its namespace", () => {
      expect(env.PGSSLMODE).toBe("verify-full");
      const { volume, key } = mounted(env.PGSSLROOTCERT);
      const cm = run.recorder
        .ofType("kubernetes:core/v1:ConfigMap")
        .find(
          (r) =>
            r.inputs.metadata.name === volume.configMap.name &&
            r.inputs.metadata.namespace === PLATFORM_NAMESPACES.gateway,
        );
      expect(cm, `ConfigMap ${volume.configMap?.name}`).toBeDefined();
      expect(cm!.inputs.data[key]).toBe(rdsCaBundle("eu-central-1"));
    });

    it("THEN the gateway serves HTTPS with the Secret its Certificate writes", () => {
      const cert = run.recorder
        .ofType("kubernetes:cert-manager.io/v1:Certificate")
        .find((r) => r.inputs.metadata.namespace === PLATFORM_NAMESPACES.gateway)!;
      for (const f of [env.GATEWAY_TLS_CERT_FILE, env.GATEWAY_TLS_KEY_FILE]) {
        const { volume, key } = mounted(f);
        expect(volume.secret.secretName).toBe(cert.inputs.spec.secretName);
        expect(volume.secret.items.map((i: any) => i.path)).toContain(key);
      }
    });
  });
}
