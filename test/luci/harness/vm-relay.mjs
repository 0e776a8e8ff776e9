// Runs inside the lab's VM, where the agent is: the browser test's ubus
// double on the host reaches the agent through it. The VM shares only a
// directory with the host, so requests come as files in DIR (req-N.json,
// written whole, then renamed) and answers go back as res-N.json:
//   {op:"call", method, args}  one call on the agent's local socket (its JSON line protocol)
//   {op:"read", path} / {op:"write", path, text}   the agent's UCI file
//   {op:"hup"}                 SIGHUP to the agent on SOCKET: what `uci commit meshwrt` triggers
// Usage: node vm-relay.mjs DIR SOCKET
import { readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";

const [dir, socket] = process.argv.slice(2);

function call(method, args) {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = "";
    s.on("error", reject);
    s.on("close", () => reject(new Error(`the agent closed the connection without answering ${method}`)));
    s.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      s.end();
      resolve(JSON.parse(buf.slice(0, nl)));
    });
    s.write(`${JSON.stringify({ id: 1, method, args })}\n`);
  });
}

/** The agent serving SOCKET, by its command line: other meshwrt processes may run in the VM. */
function agentPid() {
  for (const p of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    let cmd;
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (cmd.includes("run") && cmd[cmd.indexOf("--socket") + 1] === socket) return Number(p);
  }
  throw new Error(`no agent on ${socket}`);
}

async function serve(req) {
  if (req.op === "call") return call(req.method, req.args);
  if (req.op === "read") return { text: readFileSync(req.path, "utf8") };
  if (req.op === "write") {
    writeFileSync(`${req.path}.tmp`, req.text, { mode: 0o600 });
    renameSync(`${req.path}.tmp`, req.path);
    return {};
  }
  if (req.op === "hup") {
    process.kill(agentPid(), "SIGHUP");
    return {};
  }
  throw new Error(`unknown op ${req.op}`);
}

const busy = new Set();
setInterval(() => {
  for (const f of readdirSync(dir)) {
    const m = /^req-(\d+)\.json$/.exec(f);
    if (!m || busy.has(f)) continue;
    busy.add(f);
    const req = JSON.parse(readFileSync(`${dir}/${f}`, "utf8"));
    unlinkSync(`${dir}/${f}`);
    serve(req)
      .then((r) => r, (e) => ({ relayError: e.message }))
      .then((r) => {
        writeFileSync(`${dir}/res-${m[1]}.tmp`, JSON.stringify(r));
        renameSync(`${dir}/res-${m[1]}.tmp`, `${dir}/res-${m[1]}.json`);
        busy.delete(f);
      });
  }
}, 15);
console.log(`relay: ${dir} <-> ${socket}`);
