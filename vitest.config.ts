import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The real-peer suites need what scripts/real-peers/install.sh installs: `npm run test:real`.
    exclude: ["test/real/**", "**/node_modules/**"],
    // Integration tests spawn processes and freeze them with SIGSTOP; two cores are shared by
    // everything, so keep files from competing for the CPU and starving one another's timers.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ["default"],
  },
});
