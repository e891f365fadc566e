/**
 * A process that checks a client out of the gateway's pool (`createPool`), has PostgreSQL end
 * that client's connection while it is checked out and idle (`pg_terminate_backend`, as a
 * failover or an operator would), then prints `survived` and exits 0. Before every client had an
 * error listener, the client's `error` had none and the process died of an uncaught exception.
 * argv: the server's port. gateway/test/pool-client-error.test.ts runs it.
 */
import { createPool } from "../../src/db";
import { createLogger } from "../../src/log";

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  const lines: string[] = [];
  const log = createLogger((l) => lines.push(l));
  const cfg = {
    host: "127.0.0.1",
    port,
    database: "postgres",
    user: "postgres",
    sslMode: "disable",
    poolSize: 2,
  };
  const pool = createPool(cfg as Parameters<typeof createPool>[0], log);
  const client = await pool.connect();
  const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;
  const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
  // Another client of the same pool ends the first one's connection while it is checked out.
  await pool.query("SELECT pg_terminate_backend($1)", [pid]);
  await ended;
  await new Promise((r) => setTimeout(r, 200));
  client.release(true);
  await pool.end();
  log.flush();
  console.log(lines.join("\n"));
  console.log("survived");
}

void main();
