/**
 * The one-shot EndpointSlice list the flywheel controller's CronJob uses (`listReplicas`), against
 * the API's wire format: the ready replicas of the Service a URL names, with the pod's bearer
 * token; a refused list (no RBAC) is an error naming the Service, never an empty answer.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modelServerUrl } from "../../components/lib/endpoints";
import { listReplicas, serviceOf } from "../src/routing/discovery";
import { FakeKubeApi, sliceOf } from "./helpers/kube-api";

const api = new FakeKubeApi();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sa-token-"));
const tokenFile = path.join(dir, "token");

beforeAll(async () => {
  await api.start();
  fs.writeFileSync(tokenFile, "controller-token\n");
});
afterAll(async () => {
  await api.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("GIVEN the base model's Service URL the controller CronJob gets", () => {
  const svc = serviceOf(modelServerUrl("tiny-chat"))!;
  it("WHEN its slices have ready and unready endpoints THEN the ready ones are listed, with the token", async () => {
    api.put(
      svc.namespace,
      sliceOf(
        svc.service,
        `${svc.service}-a`,
        [
          { address: "10.0.0.7", ready: true },
          { address: "10.0.0.8", ready: false },
        ],
        8000,
      ),
    );
    api.put(
      svc.namespace,
      sliceOf(svc.service, `${svc.service}-b`, [{ address: "10.0.1.9", ready: true }], 8000),
    );
    api.put(svc.namespace, sliceOf("other", "other-a", [{ address: "10.9.9.9", ready: true }], 8000));
    expect(await listReplicas({ url: api.url, tokenFile }, svc)).toEqual([
      "https://10.0.0.7:8000",
      "https://10.0.1.9:8000",
    ]);
    expect(api.seen.at(-1)).toMatchObject({ method: "GET", authorization: "Bearer controller-token" });
  });

  it("WHEN the list is refused THEN the error names the Service", async () => {
    api.forbid = true;
    try {
      await expect(listReplicas({ url: api.url, tokenFile }, svc)).rejects.toThrow(
        new RegExp(`listing endpointslices of ${svc.namespace}/${svc.service} answered 403`),
      );
    } finally {
      api.forbid = false;
    }
  });
});
