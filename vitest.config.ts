import { defineConfig } from "vitest/config";

// Within one vitest process files run one at a time: the long ones boot a VM
// or a lab and the host has two cores. test/run.mjs runs two such processes
// (lanes) side by side; each keeps its own results cache (MESHWRT_LANE), so
// the two never write one file at once.
const lane = process.env.MESHWRT_LANE;
export default defineConfig({
  ...(lane ? { cacheDir: `node_modules/.vite/lane-${lane}` } : {}),
  test: {
    include: ["test/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    reporters: ["default"],
  },
});
