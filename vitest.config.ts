import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: e2e files each start servers and emulators; keep parallelism modest.
    maxWorkers: 2,
  },
});
