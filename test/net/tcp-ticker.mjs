// One long-lived TCP connection that must never break (runs inside a namespace with node).
//   node tcp-ticker.mjs server IP PORT
//     Echoes every connection back.
//   node tcp-ticker.mjs client IP PORT SECONDS
//     Sends a numbered line every 100 ms for SECONDS, waits up to 20 s more for
//     the echoes, prints JSON {sent, echoed, error} and exits.
import net from "node:net";

const [mode, ip, port, seconds] = process.argv.slice(2);
if (mode === "server") {
  net.createServer((s) => s.pipe(s)).listen(Number(port), ip);
} else if (mode === "client") {
  let sent = 0, echoed = 0, buf = "", error;
  const done = () => {
    console.log(JSON.stringify({ sent, echoed, ...(error ? { error } : {}) }));
    process.exit(0);
  };
  const s = net.connect(Number(port), ip, () => {
    const tick = setInterval(() => s.write(`${++sent}\n`), 100);
    setTimeout(() => {
      clearInterval(tick);
      const check = setInterval(() => echoed === sent && done(), 100);
      setTimeout(() => (clearInterval(check), done()), 20_000);
    }, Number(seconds) * 1000);
  });
  s.setEncoding("utf8");
  s.on("data", (d) => {
    buf += d;
    const lines = buf.split("\n");
    buf = lines.pop();
    for (const l of lines) if (Number(l) === echoed + 1) echoed++;
  });
  s.on("error", (e) => (error = `${e.code ?? e.message}`));
  s.on("close", () => error ??= "closed by the peer");
} else {
  console.error("usage: tcp-ticker.mjs server IP PORT | client IP PORT SECONDS");
  process.exit(2);
}
