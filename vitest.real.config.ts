import { defineConfig } from "vitest/config";

// The real-peer suites (`npm run test:real`): OpenBao, PostgreSQL, AWS's Runtime Interface
// Emulator and the SAM CLI, installed under .real/ by scripts/real-peers/install.sh. Files run one
// at a time: each starts its own OpenBao and PostgreSQL, and two cores are shared by everything.
export default defineConfig({
  test: {
    include: ["test/real/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ["default"],
  },
});
