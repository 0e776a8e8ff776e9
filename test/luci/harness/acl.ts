// rpcd's access control, as the test's ubus double enforces it: a login
// (rpcd's `config login` with `list read` / `list write` group patterns) is
// granted each acl.d group's "read" part when a read pattern matches the
// group's name, and its "write" part when a write pattern does. A "ubus"
// grant names object and methods; a "uci" grant names a config with the
// permission of the part it came from ("read" or "write"). Names match as
// fnmatch(3) patterns, as in rpcd's session.c.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

interface AclPart {
  ubus?: Record<string, string[]>;
  uci?: string[];
}
export interface AclGroup {
  description?: string;
  read?: AclPart;
  write?: AclPart;
}
export type AclGroups = Record<string, AclGroup>;

export interface Login {
  read: string[];
  write: string[];
}

/** What luci-base's own acl.d file grants every LuCI user: reading and changing UCI through rpcd's `uci` object (the per-config check follows). */
export const LUCI_BASE: AclGroups = {
  "luci-base": {
    read: { ubus: { uci: ["get", "changes"], session: ["access"] } },
    write: { ubus: { uci: ["*"] } },
  },
};

export function readAclDir(dir: string): AclGroups {
  const out: AclGroups = {};
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".json"))) Object.assign(out, JSON.parse(readFileSync(join(dir, f), "utf8")) as AclGroups);
  return out;
}

/** fnmatch(3) with `*` and `?`, which is all that ACL files use. */
function fnmatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
  return re.test(name);
}

interface Grant {
  scope: "ubus" | "uci";
  object: string;
  func: string;
}

export class Session {
  private readonly grants: Grant[] = [];
  /** The groups granted, and whether with write. */
  readonly groups = new Map<string, "read" | "write">();

  constructor(groups: AclGroups, login: Login) {
    for (const [name, g] of Object.entries(groups)) {
      for (const perm of ["read", "write"] as const) {
        if (!login[perm].some((p) => fnmatch(p, name))) continue;
        if (perm === "write" || !this.groups.has(name)) this.groups.set(name, perm);
        const part = g[perm];
        for (const [object, methods] of Object.entries(part?.ubus ?? {})) for (const m of methods) this.grants.push({ scope: "ubus", object, func: m });
        for (const config of part?.uci ?? []) this.grants.push({ scope: "uci", object: config, func: perm });
      }
    }
  }

  access(scope: "ubus" | "uci", object: string, func: string): boolean {
    return this.grants.some((g) => g.scope === scope && fnmatch(g.object, object) && fnmatch(g.func, func));
  }

  /** LuCI's dispatcher: a page whose menu node depends on these groups is denied without read on one, and read-only without write on one. */
  pageAccess(aclDepends: readonly string[]): "denied" | "readonly" | "writable" {
    const perms = aclDepends.map((g) => this.groups.get(g));
    if (perms.includes("write")) return "writable";
    return perms.includes("read") ? "readonly" : "denied";
  }
}
