/**
 * TEST FIXTURE, never shipped: the smallest resource monitor that @pulumi/pulumi's cmd/run needs
 * to start a program (it asks the monitor for features and registers the root stack before it
 * loads the program). It records registrations and answers with the inputs as outputs. It is not
 * the Pulumi engine: the real engine run is test/engine/engine.test.ts.
 */
import { createRequire } from "node:module";

const pulumiRequire = createRequire(require.resolve("@pulumi/pulumi"));
type Any = any;
const grpc = pulumiRequire("@grpc/grpc-js");
const resourceGrpc = pulumiRequire("./proto/resource_grpc_pb");
const resourcePb = pulumiRequire("./proto/resource_pb");
const emptyPb = pulumiRequire("google-protobuf/google/protobuf/empty_pb");

export interface FakeMonitor {
  readonly address: string;
  readonly registered: { type: string; name: string }[];
  close(): Promise<void>;
}

export async function startFakeMonitor(): Promise<FakeMonitor> {
  const registered: { type: string; name: string }[] = [];
  const server = new grpc.Server();
  const unimplemented = (_call: Any, cb: Any) =>
    cb({ code: grpc.status.UNIMPLEMENTED, details: "fake monitor" });
  const impl: Record<string, Any> = {};
  for (const name of Object.keys(resourceGrpc.ResourceMonitorService)) impl[name] = unimplemented;
  impl.supportsFeature = (_call: Any, cb: Any) =>
    cb(null, new resourcePb.SupportsFeatureResponse().setHassupport(false));
  impl.registerResource = (call: Any, cb: Any) => {
    const req = call.request;
    registered.push({ type: req.getType(), name: req.getName() });
    const res = new resourcePb.RegisterResourceResponse();
    res.setUrn(`urn:pulumi:test::test::${req.getType()}::${req.getName()}`);
    if (req.getCustom()) res.setId(`${req.getName()}-id`);
    res.setObject(req.getObject());
    cb(null, res);
  };
  impl.registerResourceOutputs = (_call: Any, cb: Any) => cb(null, new emptyPb.Empty());
  server.addService(resourceGrpc.ResourceMonitorService, impl);
  const port: number = await new Promise((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (err: Error | null, p: number) => (err ? reject(err) : resolve(p)),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    registered,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
