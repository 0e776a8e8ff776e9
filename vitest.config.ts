import { defineConfig } from "vitest/config";

// Unit tests are fast and pure; integration and VM tests share namespaces,
// qemu and peer processes, so files run one at a time.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    reporters: ["default"],
  },
});
