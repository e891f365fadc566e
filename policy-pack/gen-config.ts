/**
 * Writes policy-pack/config/<stack>.json for every shipped stack:
 *   npx tsx policy-pack/gen-config.ts
 * A test checks the files are up to date.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { rawFromStackFile, shippedStacks, stackFile } from "../stacks/config/load";
import { parseConfig } from "../stacks/config/validate";
import { packConfigFile } from "./stack-config";

export const CONFIG_DIR = path.join(__dirname, "config");

export function renderPackConfig(stack: string): string {
  const raw = rawFromStackFile(stackFile(stack));
  const config = parseConfig(raw.raw, { secretKeys: raw.secretKeys });
  return JSON.stringify(packConfigFile(config), null, 2) + "\n";
}

if (require.main === module) {
  for (const stack of shippedStacks()) {
    const file = path.join(CONFIG_DIR, `${stack}.json`);
    fs.writeFileSync(file, renderPackConfig(stack));
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
