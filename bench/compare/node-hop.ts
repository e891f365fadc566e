/**
 * Child process of `npm run bench:gateway -- --compare node`: the smallest reverse proxy Node's
 * own HTTP stack allows (node:http server, one keep-alive agent to the upstream, bodies piped
 * through untouched; no authentication, policy, audit or metrics). It shows the floor the
 * gateway's runtime sets on this machine, as nginx shows the floor of a proxy hop.
 * Usage: node --import tsx bench/compare/node-hop.ts <upstream URL>; prints its URL.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

const upstream = new URL(process.argv[2] ?? "");
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: "lifo" });

const server = http.createServer((req, res) => {
  const up = http.request(
    {
      host: upstream.hostname,
      port: upstream.port,
      path: req.url,
      method: req.method,
      agent,
      headers: {
        "content-type": req.headers["content-type"] ?? "application/json",
        ...(req.headers["content-length"] ? { "content-length": req.headers["content-length"] } : {}),
      },
    },
    (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    },
  );
  up.on("error", () => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  res.on("close", () => {
    if (!res.writableFinished) up.destroy();
  });
  req.pipe(up);
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
