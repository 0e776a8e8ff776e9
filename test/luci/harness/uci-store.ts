// rpcd's `uci` ubus object, as a double for the browser test: get, set, add,
// delete, changes and apply over config files. Changes are staged per
// session (rpcd keeps a delta per session) and written by `apply`, which
// then runs the config's reload trigger (procd's: `uci commit meshwrt`
// reloads meshwrt, which sends the agent SIGHUP). Anonymous sections get
// rpcd-like names (cfgNNxxxx) that stay the same while the file does.
import { formatUci, parseUci } from "../../../agent/src/openwrt/uci.js";

export interface UciBackend {
  read(): Promise<string>;
  write(text: string): Promise<void>;
  /** The reload trigger that procd runs on commit. */
  reload?(): Promise<void>;
}

interface Section {
  id: string;
  type: string;
  anonymous: boolean;
  options: Map<string, string | string[]>;
}

/** rpcd's statuses for what a caller can get wrong. */
export const UBUS_INVALID_ARGUMENT = 2;
export const UBUS_NOT_FOUND = 4;

export class UciError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

type Values = Record<string, string | string[]>;

export class UciStore {
  /** session -> config -> staged sections; the change list is what `changes` shows. */
  private readonly staged = new Map<string, Map<string, { sections: Section[]; changes: unknown[][] }>>();

  constructor(private readonly backends: Record<string, UciBackend>) {}

  private backend(config: string): UciBackend {
    const b = this.backends[config];
    if (!b) throw new UciError(UBUS_NOT_FOUND, `no config ${config}`);
    return b;
  }

  private async fromFile(config: string): Promise<Section[]> {
    const pkg = parseUci(await this.backend(config).read(), `/etc/config/${config}`, config);
    return pkg.sections.map((s, i) => ({
      id: s.name ?? `cfg${i.toString(16).padStart(2, "0")}${(0x1000 + i * 0x3b).toString(16)}`,
      type: s.type,
      anonymous: s.name === undefined,
      options: new Map(s.options),
    }));
  }

  private async working(sid: string, config: string) {
    let bySession = this.staged.get(sid);
    if (!bySession) this.staged.set(sid, (bySession = new Map()));
    let w = bySession.get(config);
    if (!w) bySession.set(config, (w = { sections: await this.fromFile(config), changes: [] }));
    return w;
  }

  private find(sections: Section[], section: string): Section {
    const s = sections.find((x) => x.id === section);
    if (!s) throw new UciError(UBUS_NOT_FOUND, `no section ${section}`);
    return s;
  }

  async get(sid: string, config: string): Promise<{ values: Record<string, Values> }> {
    const sections = this.staged.get(sid)?.get(config)?.sections ?? (await this.fromFile(config));
    const values: Record<string, Values> = {};
    sections.forEach((s, i) => {
      values[s.id] = { ".anonymous": String(s.anonymous), ".type": s.type, ".name": s.id, ".index": String(i), ...Object.fromEntries(s.options) };
    });
    // rpcd answers .anonymous as a boolean and .index as a number.
    for (const v of Object.values(values)) Object.assign(v, { ".anonymous": v[".anonymous"] === "true", ".index": Number(v[".index"]) });
    return { values };
  }

  async set(sid: string, config: string, section: string, values: Values): Promise<void> {
    const w = await this.working(sid, config);
    const s = this.find(w.sections, section);
    for (const [k, v] of Object.entries(values ?? {})) {
      s.options.set(k, Array.isArray(v) ? v.map(String) : String(v));
      w.changes.push(Array.isArray(v) ? ["list-set", section, k, v] : ["set", section, k, v]);
    }
  }

  async add(sid: string, config: string, type: string, name: string | undefined, values: Values | undefined): Promise<{ section: string }> {
    if (!type) throw new UciError(UBUS_INVALID_ARGUMENT, "add: no type");
    const w = await this.working(sid, config);
    const id = name ?? `cfg${w.sections.length.toString(16).padStart(2, "0")}${Date.now().toString(16).slice(-4)}`;
    if (w.sections.some((s) => s.id === id)) throw new UciError(UBUS_INVALID_ARGUMENT, `add: section ${id} exists`);
    w.sections.push({ id, type, anonymous: name === undefined, options: new Map() });
    w.changes.push(["add", id, type]);
    await this.set(sid, config, id, values ?? {});
    return { section: id };
  }

  async delete(sid: string, config: string, section: string, options: string[] | undefined): Promise<void> {
    const w = await this.working(sid, config);
    const s = this.find(w.sections, section);
    if (!options) {
      w.sections.splice(w.sections.indexOf(s), 1);
      w.changes.push(["remove", section]);
      return;
    }
    for (const o of options) {
      s.options.delete(o);
      w.changes.push(["remove", section, o]);
    }
  }

  changes(sid: string): { changes: Record<string, unknown[][]> } {
    const out: Record<string, unknown[][]> = {};
    for (const [config, w] of this.staged.get(sid) ?? []) if (w.changes.length) out[config] = w.changes;
    return { changes: out };
  }

  /** Commits this session's changes, then runs each committed config's reload trigger. */
  async apply(sid: string): Promise<void> {
    const bySession = this.staged.get(sid);
    this.staged.delete(sid);
    for (const [config, w] of bySession ?? []) {
      if (!w.changes.length) continue;
      const sections = w.sections.map((s) => ({ type: s.type, ...(s.anonymous ? {} : { name: s.id }), options: s.options }));
      await this.backend(config).write(formatUci({ name: config, sections }));
      await this.backend(config).reload?.();
    }
  }
}
