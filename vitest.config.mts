import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "test/**/*.test.ts",
      "gateway/test/**/*.test.ts",
      "policy-pack/test/**/*.test.ts",
      "bootstrap/test/**/*.test.ts",
    ],
    pool: "forks",
    // Two cores on CI: keep parallelism small so service-backed suites are not starved.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
