// A one-way UDP stream (runs inside a namespace with node). The receiver
// sends nothing back, so the stream alone never moves WireGuard's idea of
// where the receiver is: only what the test makes the receiver send does.
//   node udp-stream.mjs sink IP PORT IDLE_SECONDS MAX_SECONDS
//     Counts the numbered datagrams that arrive until none came for IDLE_SECONDS
//     after the first (or MAX_SECONDS passed); prints JSON {received, missing,
//     maxGapMs}: the numbers below the highest seen that never came, as ranges
//     ("12-30"), and the longest wait between two arrivals; then exits.
//   node udp-stream.mjs send IP PORT SECONDS INTERVAL_MS
//     Sends a numbered datagram every INTERVAL_MS for SECONDS; prints JSON {sent}.
import dgram from "node:dgram";
import { performance } from "node:perf_hooks";

const [mode, ip, port, seconds, interval] = process.argv.slice(2);
const s = dgram.createSocket("udp4");
s.on("error", (e) => console.error(String(e)));
if (mode === "sink") {
  const idleMs = Number(seconds) * 1000;
  const seen = new Set();
  let last, maxGapMs = 0, high = -1;
  const done = () => {
    const missing = [];
    for (let i = 0; i <= high; i++) {
      if (seen.has(i)) continue;
      let j = i;
      while (j + 1 <= high && !seen.has(j + 1)) j++;
      missing.push(i === j ? `${i}` : `${i}-${j}`);
      i = j;
    }
    console.log(JSON.stringify({ received: seen.size, missing, maxGapMs: Math.round(maxGapMs) }));
    process.exit(0);
  };
  s.on("message", (msg) => {
    const now = performance.now();
    if (last !== undefined) maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    const n = msg.readUInt32BE(0);
    seen.add(n);
    high = Math.max(high, n);
  });
  s.bind(Number(port), ip, () => {
    setTimeout(done, Number(interval) * 1000);
    setInterval(() => {
      if (last !== undefined && performance.now() - last >= idleMs) done();
    }, 200);
  });
} else if (mode === "send") {
  let seq = 0;
  const end = performance.now() + Number(seconds) * 1000;
  const timer = setInterval(() => {
    if (performance.now() >= end) {
      clearInterval(timer);
      console.log(JSON.stringify({ sent: seq }));
      s.close();
      return;
    }
    const b = Buffer.alloc(64);
    b.writeUInt32BE(seq++, 0);
    s.send(b, Number(port), ip);
  }, Number(interval));
} else {
  console.error("usage: udp-stream.mjs sink IP PORT SECONDS | send IP PORT SECONDS INTERVAL_MS");
  process.exit(2);
}
