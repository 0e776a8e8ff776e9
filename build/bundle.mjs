// Bundles a TypeScript entry into one minified script for QuickJS.
// Usage: node build/bundle.mjs ENTRY.ts OUT.js
import { build } from "esbuild";

const [entry, outfile] = process.argv.slice(2);
if (!entry || !outfile) {
  console.error("usage: node build/bundle.mjs ENTRY.ts OUT.js");
  process.exit(2);
}

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  minify: true,
  // A plain script, not a module: the runtime evaluates the bytecode of one
  // top-level function, and QuickJS 2025 runs ES2023 natively.
  format: "iife",
  platform: "neutral",
  mainFields: ["module", "main"],
  target: "es2022",
  legalComments: "none",
  logLevel: "warning",
});
