// Writes luci-app-meshwrt's translation template (luci-app/po/templates/meshwrt.pot)
// as LuCI's i18n-scan.pl would: every _('...') in the views, with where it is.
// Usage: node test/luci/pot.mjs [--check]   (--check: exit 1 when its strings are not the views')
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const APP = join(import.meta.dirname, "..", "..", "luci-app");
const POT = join(APP, "po", "templates", "meshwrt.pot");

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".js") ? [join(dir, e.name)] : []);
}

/** msgid -> the places it appears, "path:line". */
export function extract() {
  const out = new Map();
  for (const f of files(join(APP, "htdocs")).sort()) {
    const src = readFileSync(f, "utf8");
    for (const m of src.matchAll(/\b_\(\s*'((?:[^'\\\n]|\\.)*)'\s*[,)]/g)) {
      // The JavaScript string's value: \' and \\ and \n as JavaScript reads them.
      const id = m[1].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      const line = src.slice(0, m.index).split("\n").length;
      const at = `${relative(APP, f)}:${line}`;
      out.set(id, [...(out.get(id) ?? []), at]);
    }
  }
  return out;
}

const quote = (s) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;

export function pot() {
  let text = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8"\n';
  for (const [id, at] of [...extract()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))
    text += `\n${at.map((a) => `#: ${a}`).join("\n")}\nmsgid ${quote(id)}\nmsgstr ""\n`;
  return text;
}

if (process.argv[1] === import.meta.filename) {
  if (process.argv.includes("--check")) {
    // The strings must match; the "#: file:line" references may lag behind an edit.
    const ids = (text) => text.split("\n").filter((l) => !l.startsWith("#:")).join("\n");
    if (ids(readFileSync(POT, "utf8")) !== ids(pot())) {
      console.error(`${POT} is stale: run node test/luci/pot.mjs`);
      process.exit(1);
    }
  } else writeFileSync(POT, pot());
}
