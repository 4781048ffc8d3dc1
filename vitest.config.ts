import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The real-peer suites need what scripts/real-peers/install.sh installs: `npm run test:real`.
    exclude: ["test/real/**", "**/node_modules/**"],
    // Two files at a time (one per core of the machines this runs on). Integration tests spawn
    // processes and freeze them with SIGSTOP; their timing margins hold with another file (and
    // other work) competing for the CPU, and they assert order and counts, never short durations.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ["default"],
  },
});
