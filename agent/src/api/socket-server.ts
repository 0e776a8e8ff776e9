// The API on a local unix socket (default /var/run/meshwrt.sock, root
// only), in the line protocol of line-protocol.ts, with the same methods and
// answers as the ubus object.
import type { Host, UnixListener } from "../host/host.js";
import type { ApiError } from "./errors.js";
import { encodeLine, LineReader, parseRequest, type ApiResponse } from "./line-protocol.js";
import { type ApiBackend, callMethod } from "./methods.js";

export const DEFAULT_SOCKET = "/var/run/meshwrt.sock";

/** Listens at `path`; refuses when another agent already answers there, whose socket it would otherwise take. */
export async function serveSocket(host: Pick<Host, "listenUnix" | "connectUnix" | "log">, path: string, backend: ApiBackend): Promise<UnixListener> {
  const other = await host.connectUnix(path).catch(() => undefined);
  if (other) {
    other.close();
    throw new Error(`another meshwrt agent answers on ${path}`);
  }
  const l = host.listenUnix(path, 0o600);
  l.onConnection = (conn) => {
    const reader = new LineReader();
    let open = true;
    conn.onClose = () => void (open = false);
    const answer = (r: ApiResponse) => {
      if (open) conn.write(encodeLine(r));
    };
    const handle = async (line: string) => {
      if (!line.trim()) return;
      const req = parseRequest(line);
      if (req.error) {
        host.log("warn", `api socket: ${req.error.message}`);
        return answer({ id: req.id, error: { code: req.error.code, message: req.error.message } });
      }
      try {
        answer({ id: req.id, result: await callMethod(backend, req.method!, req.args) });
      } catch (e) {
        const err = e as ApiError;
        host.log("info", `api: ${err.message}`);
        answer({ id: req.id, error: { code: err.code, message: err.message } });
      }
    };
    conn.onData = (b) => {
      let lines: string[];
      try {
        lines = reader.push(b);
      } catch (e) {
        // No way to find where the next request starts: answer and hang up.
        host.log("warn", `api socket: ${(e as Error).message}; closing the connection`);
        answer({ id: null, error: { code: "invalid-argument", message: (e as Error).message } });
        conn.close();
        return;
      }
      for (const line of lines) void handle(line);
    };
  };
  return l;
}
