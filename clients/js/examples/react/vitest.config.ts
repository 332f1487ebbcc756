import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    // The client's: builds and starts examples/basic.
    globalSetup: ["../../packages/client/test/global-setup.ts"],
    // One browser, one page at a time: the tests share the server's uploads.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
