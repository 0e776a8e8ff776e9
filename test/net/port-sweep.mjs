// Every TCP and UDP port of one address, from inside a namespace with node:
//   node port-sweep.mjs IP [FIRST-LAST]
// TCP: a connect to each port, many at once; a port that accepts is open.
// UDP: one socket sends a line of junk to each port; a port that answers with
// a datagram (within 2 s of the last send) answered. ICMP errors are the
// kernel's and are not counted. Prints JSON {tcpOpen, udpAnswered, ms}.
import dgram from "node:dgram";
import net from "node:net";

const [ip, range = "1-65535"] = process.argv.slice(2);
if (!ip || !/^\d+-\d+$/.test(range)) {
  console.error("usage: port-sweep.mjs IP [FIRST-LAST]");
  process.exit(2);
}
const [first, last] = range.split("-").map(Number);
const started = Date.now();

/** Ports that accept a TCP connection; a refused or silent one within 1.5 s is closed. */
async function tcp() {
  const open = [];
  let next = first;
  const one = (port) => new Promise((done) => {
    const s = net.connect({ host: ip, port });
    const end = () => (s.destroy(), done());
    s.setTimeout(1500, end);
    s.on("connect", () => (open.push(port), end()));
    s.on("error", end);
  });
  const worker = async () => {
    while (next <= last) await one(next++);
  };
  await Promise.all(Array.from({ length: 200 }, worker));
  return open.sort((a, b) => a - b);
}

/** Ports whose answer came back to our socket. */
async function udp() {
  const answered = new Set();
  const s = dgram.createSocket("udp4");
  s.on("message", (_m, r) => answered.add(r.port));
  s.on("error", () => {});
  await new Promise((r) => s.bind(0, "0.0.0.0", r));
  const junk = Buffer.from("sweep: not a protocol anyone speaks\n");
  for (let port = first; port <= last; port++) {
    await new Promise((r) => s.send(junk, port, ip, r));
    // Paced, so the sweep measures the ports and not a socket buffer that overflowed.
    if (port % 500 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 2000));
  s.close();
  return [...answered].sort((a, b) => a - b);
}

const tcpOpen = await tcp();
const udpAnswered = await udp();
console.log(JSON.stringify({ tcpOpen, udpAnswered, ms: Date.now() - started }));
