/** Entry point: configuration from the environment, graceful shutdown on SIGTERM/SIGINT. */
import { ConfigError, loadConfig } from "./config";
import { createLogger } from "./log";
import { Gateway } from "./server";

async function main(): Promise<void> {
  const log = createLogger();
  let gw: Gateway;
  try {
    gw = new Gateway({ config: loadConfig(process.env), log });
  } catch (e) {
    log.error(e instanceof ConfigError ? e.message : `cannot start: ${(e as Error).message}`);
    log.flush();
    process.exit(2);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutdown requested", { signal });
    gw.stop().then(
      () => process.exit(0),
      (e: Error) => {
        log.error("shutdown failed", { error: e.message });
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  try {
    await gw.start();
  } catch (e) {
    log.error(`cannot start: ${(e as Error).message}`);
    log.flush();
    process.exit(2);
  }
}

void main();
