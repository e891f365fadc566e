/**
 * Serving one model on an existing Kubernetes cluster with the kit's components directly, without
 * the kit's stack entry point or its config: a platform team composing its own program.
 *
 *   cd examples/existing-cluster-serving && pulumi stack init dev && pulumi up
 *
 * Every value is explicit: the components take settings (replicas, protection, rollout), never a
 * profile, and read no files or config. The only file this program names is the model-server
 * chart of this repository.
 */
import * as path from "node:path";
import { ExistingClusterSubstrate } from "../../components/existing-cluster/substrate";
import { Serving } from "../../components/platform/serving";

/** Builds the example; `index.ts` is the program, tests call this under mocks. */
export function build(opts: { context: string }) {
  const substrate = new ExistingClusterSubstrate("substrate", {
    context: opts.context,
    storageClass: "standard",
    protectData: false,
    deleteUnreachable: true,
    bucketPrefix: "example",
    objectStoreMode: "single",
    volumeSize: "10Gi",
    postgres: { instances: 1, version: "16", storageGiB: 5, services: ["gateway"] },
  });
  const serving = new Serving(
    "serving",
    {
      substrate,
      models: [
        {
          // The vLLM API simulator on CPU: no GPU and no weights needed to try it.
          name: "tiny-chat",
          role: "chat",
          source: "tiny-chat/",
          quantization: "none",
          maxModelLen: 2048,
          gpuMemoryUtilization: 0.9,
          enablePrefixCaching: true,
          sizeGiB: 1,
          replicas: { min: 1, max: 1 },
          loraAdapters: [],
        },
      ],
      rollout: { strictSpread: false, cooldownSeconds: 300 },
      modelServerChart: path.resolve(__dirname, "../../charts/model-server"),
    },
    { provider: substrate.provider, dependsOn: [...substrate.ready] },
  );
  return { modelUrls: serving.modelUrls, objectStoreEndpoint: substrate.objectStore.endpoint };
}
