/**
 * A real control plane on loopback: etcd, kube-apiserver (RBAC, default admission plugins incl.
 * Pod Security), kube-controller-manager, kube-scheduler and kwok (fake nodes and pods), with
 * certificates made by `openssl` in a temporary directory and random free ports. The binaries
 * are the pinned builds of scripts/tools.sh (.tools/bin); a missing one fails the run.
 *
 * Nothing here dials an address outside 127.0.0.1: no webhook or aggregated API is registered
 * (run.ts does not apply them), and kwok's pods are never contacted.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Kube, sleep, waitFor } from "./kube";

const TOOLS_BIN = path.resolve(__dirname, "../../.tools/bin");

export function tool(name: string): string {
  const p = path.join(TOOLS_BIN, name);
  if (!fs.existsSync(p)) {
    throw new Error(
      `${name} is not installed at ${p}: run \`bash scripts/tools.sh e2e\` (the test command does this)`,
    );
  }
  return p;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** CA, serving certificate for 127.0.0.1, client certificates and the service-account key pair. */
function makeCertificates(dir: string): void {
  openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=sovereign-e2e-ca",
  );
  const sign = (name: string, subj: string, ext: string) => {
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(
      dir,
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subj,
    );
    openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
    );
  };
  sign(
    "apiserver",
    "/CN=kube-apiserver",
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n",
  );
  sign("admin", "/O=system:masters/CN=sovereign-e2e-admin", "extendedKeyUsage=clientAuth\n");
  sign("controller-manager", "/CN=system:kube-controller-manager", "extendedKeyUsage=clientAuth\n");
  sign("scheduler", "/CN=system:kube-scheduler", "extendedKeyUsage=clientAuth\n");
  openssl(dir, "genrsa", "-out", "sa.key", "2048");
  openssl(dir, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub");
}

function kubeconfig(dir: string, server: string, user: string): string {
  const file = path.join(dir, `${user}.kubeconfig`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "e2e", cluster: { server, "certificate-authority": path.join(dir, "ca.crt") } }],
      users: [
        {
          name: user,
          user: {
            "client-certificate": path.join(dir, `${user}.crt`),
            "client-key": path.join(dir, `${user}.key`),
          },
        },
      ],
      contexts: [{ name: "e2e", context: { cluster: "e2e", user } }],
      "current-context": "e2e",
    }),
  );
  return file;
}

export interface ControlPlane {
  readonly kube: Kube;
  readonly dir: string;
  readonly server: string;
  stop(): Promise<void>;
  /** The last lines of a component's log (for failure messages). */
  logTail(name: string): string;
}

export async function startControlPlane(log: (s: string) => void): Promise<ControlPlane> {
  const bins = {
    etcd: tool("etcd"),
    apiserver: tool("kube-apiserver"),
    controllerManager: tool("kube-controller-manager"),
    scheduler: tool("kube-scheduler"),
    kwok: tool("kwok"),
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-e2e-"));
  makeCertificates(dir);
  const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kwokPort] = await Promise.all(
    Array.from({ length: 6 }, () => freePort()),
  );
  const server = `https://127.0.0.1:${apiPort}`;
  const children: { name: string; proc: ChildProcess; logFile: string }[] = [];
  const start = (name: string, bin: string, args: string[]) => {
    const logFile = path.join(dir, `${name}.log`);
    const out = fs.openSync(logFile, "a");
    const proc = spawn(bin, args, { stdio: ["ignore", out, out], cwd: dir });
    fs.closeSync(out);
    children.push({ name, proc, logFile });
    proc.on("exit", (code, signal) => {
      if (!stopping) log(`e2e: ${name} exited (${code ?? signal}); see ${logFile}`);
    });
  };
  let stopping = false;
  const stop = async () => {
    stopping = true;
    for (const c of [...children].reverse()) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) {
        c.proc.kill("SIGTERM");
        const exited = await waitFor(10, async () =>
          c.proc.exitCode !== null || c.proc.signalCode !== null ? true : undefined,
        );
        if (!exited) c.proc.kill("SIGKILL");
      }
    }
    kube.close();
    if (!process.env.SOVEREIGN_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
  };
  const logTail = (name: string) => {
    const c = children.find((x) => x.name === name);
    if (!c) return "";
    return fs.readFileSync(c.logFile, "utf8").split("\n").slice(-15).join("\n");
  };
  const f = (n: string) => path.join(dir, n);
  start("etcd", bins.etcd, [
    `--data-dir=${f("etcd")}`,
    `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
    `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
    `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
    "--unsafe-no-fsync",
    "--log-level=warn",
  ]);
  start("kube-apiserver", bins.apiserver, [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${apiPort}`,
    `--cert-dir=${f("apiserver-certs")}`,
    `--tls-cert-file=${f("apiserver.crt")}`,
    `--tls-private-key-file=${f("apiserver.key")}`,
    `--client-ca-file=${f("ca.crt")}`,
    "--authorization-mode=Node,RBAC",
    // As on kind and EKS: privileged pods are allowed by the server; Pod Security decides per namespace.
    "--allow-privileged=true",
    // The default admission chain of 1.33 (NamespaceLifecycle, LimitRanger, ServiceAccount,
    // PodSecurity, ResourceQuota, validating admission policy, ...) plus NodeRestriction.
    "--enable-admission-plugins=NodeRestriction",
    "--service-account-issuer=https://kubernetes.default.svc",
    `--service-account-key-file=${f("sa.pub")}`,
    `--service-account-signing-key-file=${f("sa.key")}`,
    "--service-cluster-ip-range=10.96.0.0/16",
    // The "kubernetes" Service's endpoints would be 127.0.0.1, which the API rejects; nothing
    // in the e2e uses that Service.
    "--endpoint-reconciler-type=none",
    "--profiling=false",
    "--v=0",
  ]);
  const kube = new Kube({
    server,
    ca: fs.readFileSync(f("ca.crt"), "utf8"),
    cert: fs.readFileSync(f("admin.crt"), "utf8"),
    key: fs.readFileSync(f("admin.key"), "utf8"),
  });
  const healthy = await waitFor(120, async () => {
    try {
      const r = await kube.request("GET", "/readyz");
      return r.status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
  if (!healthy) {
    await stop();
    throw new Error(
      `kube-apiserver did not become ready in 120 s:\n${logTail("kube-apiserver")}\n${logTail("etcd")}`,
    );
  }
  start("kube-controller-manager", bins.controllerManager, [
    `--kubeconfig=${kubeconfig(dir, server, "controller-manager")}`,
    `--authentication-kubeconfig=${f("controller-manager.kubeconfig")}`,
    `--authorization-kubeconfig=${f("controller-manager.kubeconfig")}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${kcmPort}`,
    `--cert-dir=${f("kcm-certs")}`,
    `--service-account-private-key-file=${f("sa.key")}`,
    `--root-ca-file=${f("ca.crt")}`,
    "--use-service-account-credentials=true",
    "--leader-elect=false",
    "--controllers=*",
    "--v=0",
  ]);
  start("kube-scheduler", bins.scheduler, [
    `--kubeconfig=${kubeconfig(dir, server, "scheduler")}`,
    `--authentication-kubeconfig=${f("scheduler.kubeconfig")}`,
    `--authorization-kubeconfig=${f("scheduler.kubeconfig")}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${schedPort}`,
    `--cert-dir=${f("scheduler-certs")}`,
    "--leader-elect=false",
    "--v=0",
  ]);
  start("kwok", bins.kwok, [
    `--kubeconfig=${kubeconfig(dir, server, "admin")}`,
    "--manage-all-nodes=false",
    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
    `--server-address=127.0.0.1:${kwokPort}`,
    "--node-lease-duration-seconds=40",
  ]);
  await sleep(1000);
  for (const c of children) {
    if (c.proc.exitCode !== null) {
      const tail = logTail(c.name);
      await stop();
      throw new Error(`${c.name} exited at start:\n${tail}`);
    }
  }
  return { kube, dir, server, stop, logTail };
}
