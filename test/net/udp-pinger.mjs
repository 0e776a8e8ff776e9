// A ping flood over UDP that times itself on the monotonic clock, so it stays
// true while the tests step the wall clock (ping(8) schedules and times its
// probes by the wall clock). Runs inside a namespace with node.
//   node udp-pinger.mjs server IP PORT
//     Echoes every datagram back to its sender.
//   node udp-pinger.mjs client IP PORT SECONDS INTERVAL_MS
//     Sends a numbered datagram every INTERVAL_MS for SECONDS, waits 2 s more
//     for the last echoes, prints JSON {sent, answered, lost, outages, maxRttMs}
//     and exits. An outage is a run of consecutive unanswered pings:
//     {fromMs (since the start), pings, ms}.
import dgram from "node:dgram";
import { performance } from "node:perf_hooks";

const [mode, ip, port, seconds, interval] = process.argv.slice(2);
const s = dgram.createSocket("udp4");
if (mode === "server") {
  s.on("message", (msg, r) => s.send(msg, r.port, r.address));
  s.bind(Number(port), ip, () => console.log("ready"));
} else if (mode === "client") {
  const every = Number(interval);
  const sentAt = [];
  const rtt = [];
  const start = performance.now();
  s.on("message", (msg) => {
    const seq = msg.readUInt32BE(0);
    if (sentAt[seq] !== undefined && rtt[seq] === undefined) rtt[seq] = performance.now() - sentAt[seq];
  });
  s.on("error", (e) => console.error(String(e)));
  let seq = 0;
  const send = () => {
    const b = Buffer.alloc(64);
    b.writeUInt32BE(seq, 0);
    sentAt[seq] = performance.now();
    seq++;
    s.send(b, Number(port), ip);
  };
  const tick = setInterval(send, every);
  setTimeout(() => {
    clearInterval(tick);
    setTimeout(() => {
      const outages = [];
      let maxRttMs = 0, answered = 0;
      for (let i = 0; i < seq; i++) {
        if (rtt[i] !== undefined) {
          answered++;
          maxRttMs = Math.max(maxRttMs, rtt[i]);
          continue;
        }
        const last = outages.at(-1);
        if (last && last.end === i - 1) {
          last.end = i;
          last.pings++;
        } else outages.push({ from: i, end: i, pings: 1 });
      }
      const report = outages.map((o) => ({ fromMs: Math.round(sentAt[o.from] - start), pings: o.pings, ms: Math.round(o.pings * every) }));
      console.log(JSON.stringify({ sent: seq, answered, lost: seq - answered, outages: report, maxRttMs: Math.round(maxRttMs) }));
      process.exit(0);
    }, 2000);
  }, Number(seconds) * 1000);
} else {
  console.error("usage: udp-pinger.mjs server IP PORT | client IP PORT SECONDS INTERVAL_MS");
  process.exit(2);
}
