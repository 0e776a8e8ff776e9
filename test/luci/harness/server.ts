// The web side of the LuCI double: what uhttpd, LuCI's dispatcher and rpcd
// do for luci-app-meshwrt's pages, on a local HTTP port for the browser.
//   GET  /cgi-bin/luci/admin/services/meshwrt/PAGE   the page shell, if the
//        session's ACL satisfies the menu node (menu.d), read-only or not
//   GET  /luci-static/resources/...   luci.js (ours, see luci.js) and the app's files
//   POST /ubus[/obj.method]   ubus over HTTP JSON-RPC, uhttpd's format:
//        {"jsonrpc":"2.0","id":N,"method":"call","params":[sid,obj,method,args]}
//        -> {"jsonrpc":"2.0","id":N,"result":[status, data?]}, or an error
//        -32002 "Access denied" when the session's ACL does not allow it.
// `meshwrt` calls go to the running agent (AgentLink), `uci` calls to UciStore.
import { readFileSync } from "node:fs";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize } from "node:path";
import { type AclGroups, type Login, LUCI_BASE, Session, readAclDir } from "./acl.js";
import { UciError, type UciStore } from "./uci-store.js";

/** The agent's API: its ubus status (0 or an error's) and the reply data. */
export interface AgentLink {
  call(method: string, args: object): Promise<[number, object?]>;
}

export interface LuciHarness {
  readonly url: string;
  /** A new rpcd session for this login (its sid is LuCI's sysauth cookie). */
  login(user: Login): string;
  close(): Promise<void>;
}

const HARNESS_JS = join(import.meta.dirname, "luci.js");
const ACCESS_DENIED = { code: -32002, message: "Access denied" };

interface MenuNode {
  action?: { type: string; path: string };
  depends?: { acl?: string[] };
}

function page(title: string, env: object, view: string): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title>
<style>
body{font-family:sans-serif;margin:0;color:#222}header{background:#2d4e7e;color:#fff;padding:.6em 1em}
#maincontent{padding:0 1em 2em}table.table{border-collapse:collapse;width:100%;margin:.5em 0}
.tr{border-bottom:1px solid #ddd}.td,.th{padding:.3em .5em;text-align:left;vertical-align:top}
.cbi-value{display:flex;margin:.6em 0}.cbi-value-title{width:14em;font-weight:bold}
.cbi-value-description{color:#666;font-size:90%}.cbi-value-error{color:#b00;font-weight:bold}
.cbi-section{border:1px solid #ccd;border-radius:4px;padding:.5em 1em;margin:1em 0}
.alert-message{padding:.6em 1em;border-radius:4px;margin:.6em 0;background:#eef}.alert-message.warning,.alert-message.error{background:#fde}
.cbi-dynlist .item{display:inline-block;border:1px solid #99a;border-radius:3px;padding:.1em .4em;margin:.1em;cursor:pointer}
.cbi-page-actions{margin:1em 0}.cbi-button{padding:.3em .9em;margin-right:.3em}.cbi-input-invalid{border-color:#b00}
#modal{display:none}.modal-overlay-active #modal{display:block;position:fixed;top:30%;left:30%;right:30%;background:#fff;border:2px solid #2d4e7e;padding:1em}
</style>
<script>window.LUCI_ENV = ${JSON.stringify(env)};</script>
<script src="/luci-static/resources/luci.js"></script>
</head><body>
<header>OpenWrt · LuCI <span id="indicators"></span></header>
<div id="maincontent"><div id="view"></div></div><div id="modal"></div>
<script>L.require(${JSON.stringify(view)}).catch(L.error);</script>
</body></html>`;
}

export async function startLuciHarness(o: { appDir: string; agent: AgentLink; uci: UciStore }): Promise<LuciHarness> {
  const acl: AclGroups = { ...LUCI_BASE, ...readAclDir(join(o.appDir, "root/usr/share/rpcd/acl.d")) };
  const menu = JSON.parse(readFileSync(join(o.appDir, "root/usr/share/luci/menu.d/luci-app-meshwrt.json"), "utf8")) as Record<string, MenuNode>;
  const sessions = new Map<string, Session>();
  let nextSid = 1;

  /** The node's view and the ACL groups it depends on (its own, else its parent's), after aliases. */
  function menuNode(path: string): { view: string; acl: string[] } | undefined {
    let node = menu[path];
    if (node?.action?.type === "alias") node = menu[(path = node.action.path)];
    if (node?.action?.type !== "view") return undefined;
    let acl = node.depends?.acl;
    for (let p = path; !acl && p.includes("/"); p = p.slice(0, p.lastIndexOf("/"))) acl = menu[p]?.depends?.acl;
    return { view: `view.${node.action.path.replace(/\//g, ".")}`, acl: acl ?? [] };
  }

  async function ubusCall(sid: string, obj: string, method: string, args: Record<string, unknown>): Promise<unknown[] | { error: object }> {
    const s = sessions.get(sid);
    if (!s || !s.access("ubus", obj, method)) return { error: ACCESS_DENIED };
    if (obj === "meshwrt") return o.agent.call(method, args);
    if (obj !== "uci") return [4];
    const config = String(args.config ?? "");
    // rpcd's uci plugin asks the session again, per config: read for get/changes, write for the rest.
    const perm = method === "get" || method === "changes" ? "read" : "write";
    if (method !== "apply" && method !== "changes" && !s.access("uci", config, perm)) return [6];
    try {
      switch (method) {
        case "get":
          return [0, await o.uci.get(sid, config)];
        case "set":
          await o.uci.set(sid, config, String(args.section), args.values as Record<string, string>);
          return [0];
        case "add":
          return [0, await o.uci.add(sid, config, String(args.type), args.name as string | undefined, args.values as Record<string, string>)];
        case "delete":
          await o.uci.delete(sid, config, String(args.section), args.options as string[] | undefined);
          return [0];
        case "changes":
          return [0, o.uci.changes(sid)];
        case "apply":
          await o.uci.apply(sid);
          return [0];
        default:
          return [3];
      }
    } catch (e) {
      if (e instanceof UciError) return [e.status];
      throw e;
    }
  }

  async function ubus(req: IncomingMessage, res: ServerResponse) {
    let body = "";
    for await (const chunk of req) body += chunk;
    const msg = JSON.parse(body) as { id: number; method: string; params: [string, string, string, Record<string, unknown>] };
    const [sid, obj, method, args] = msg.params;
    const r = msg.method === "call" ? await ubusCall(sid, obj, method, args ?? {}) : { error: { code: -32601, message: "Method not found" } };
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ jsonrpc: "2.0", id: msg.id, ...(Array.isArray(r) ? { result: r } : r) }));
  }

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer) => {
    res.writeHead(status, { "Content-Type": type });
    res.end(body);
  };

  function staticFile(res: ServerResponse, path: string): void {
    if (path === "/luci-static/resources/luci.js") return send(res, 200, "text/javascript", readFileSync(HARNESS_JS));
    try {
      send(res, 200, "text/javascript", readFileSync(join(o.appDir, "htdocs", normalize(path).replace(/^(\.\.[/\\])+/, ""))));
    } catch {
      send(res, 404, "text/plain", "Not found");
    }
  }

  function serve(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "POST" && /^\/ubus(\/|$)/.test(url.pathname)) return void ubus(req, res).catch((e: Error) => send(res, 500, "text/plain", e.message));
    if (url.pathname.startsWith("/luci-static/")) return staticFile(res, url.pathname);
    const m = /^\/cgi-bin\/luci\/(admin\/.*)$/.exec(url.pathname);
    const node = m ? menuNode(m[1]!.replace(/\/$/, "")) : undefined;
    if (!m || !node) return send(res, 404, "text/plain", "Not found");
    const sid = /(?:^|;\s*)sysauth_http=(\w+)/.exec(req.headers.cookie ?? "")?.[1] ?? "";
    const s = sessions.get(sid);
    const access = s ? s.pageAccess(node.acl) : "denied";
    if (access === "denied") return send(res, 403, "text/plain", "Access denied");
    const env = { sessionid: sid, token: sid, resource: "/luci-static/resources", pollinterval: 5, apply_display: 1.5, requestpath: m[1]!.split("/"), nodespec: { satisfied: true, readonly: access === "readonly" } };
    send(res, 200, "text/html; charset=utf-8", page("meshwrt - LuCI", env, node.view));
  }

  const server = createServer(serve);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    login(user) {
      const sid = (nextSid++).toString(16).padStart(32, "0");
      sessions.set(sid, new Session(acl, user));
      return sid;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
