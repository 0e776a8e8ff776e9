// One option of /etc/config/meshwrt changed, as `uci set` and `uci commit`
// would: validated as readSettings validates it, the rest of the file kept,
// and only what libuci reads back the same is written.
import { checkValue, mainSection, OPTIONS, SECTION, sectionPath } from "./config.js";
import type { UciPackage, UciSection } from "./uci.js";

/**
 * The package with `option` set to `values` in the main section (created if
 * missing): one value for a plain option, any number for a list, none to
 * remove it (back to its default); an empty plain value removes it too, as
 * libuci drops `option x ''` when it reads the file. Throws an Error naming
 * section, option and reason; the package given is not changed.
 */
export function setOption(p: UciPackage, option: string, values: readonly string[]): UciPackage {
  const found = mainSection(p);
  const section: UciSection = found ?? { type: "meshwrt", name: SECTION, options: new Map() };
  const where = sectionPath(p, section);
  const o = OPTIONS.find((x) => x.uci === option);
  if (!o) throw new Error(`${where}.${option}: unknown option (known: ${OPTIONS.map((x) => x.uci).join(", ")})`);
  if (!o.list && values.length > 1) throw new Error(`${where}.${option}: takes one value, got ${values.length}`);
  for (const v of values) {
    // libuci's line reader stops at a NUL; an unpaired surrogate has no UTF-8.
    if (/\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(v)) throw new Error(`${where}.${option}: ${JSON.stringify(v)} is not text UCI can store (a NUL byte or a broken UTF-16 surrogate)`);
    checkValue(where, o, v);
  }
  const options = new Map(section.options);
  if (!values.length || (!o.list && values[0] === "")) options.delete(option);
  else options.set(option, o.list ? [...values] : values[0]!);
  const edited = { ...section, options };
  return { name: p.name, sections: found ? p.sections.map((s) => (s === found ? edited : s)) : [...p.sections, edited] };
}
