// A TCP stream whose every byte is checked (runs inside a namespace with node).
//   node tcp-blob.mjs sink IP PORT
//     Takes one connection, reads it to the end, prints "BYTES SHA256", exits.
//   node tcp-blob.mjs source IP PORT BYTES
//     Sends BYTES of seeded pseudo-random data, prints "BYTES SHA256 MS" once
//     the peer has it all (it closes after reading), exits.
import { createHash } from "node:crypto";
import net from "node:net";

const [mode, ip, port, size] = process.argv.slice(2);
if (mode === "sink") {
  const server = net.createServer((s) => {
    const h = createHash("sha256");
    let n = 0;
    s.on("data", (d) => {
      n += d.length;
      h.update(d);
    });
    s.on("end", () => {
      console.log(`${n} ${h.digest("hex")}`);
      s.end(() => process.exit(0));
    });
  });
  server.listen(Number(port), ip);
} else if (mode === "source") {
  const total = Number(size);
  const h = createHash("sha256");
  const started = Date.now();
  const s = net.connect(Number(port), ip, () => {
    let seed = 0x9e3779b9, sent = 0;
    const chunk = () => {
      while (sent < total) {
        const b = Buffer.alloc(Math.min(65536, total - sent));
        for (let i = 0; i < b.length; i += 4) {
          seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
          b.writeUInt32LE(seed >>> 0, i);
        }
        h.update(b);
        sent += b.length;
        if (!s.write(b)) return void s.once("drain", chunk);
      }
      s.end();
    };
    chunk();
  });
  s.resume();
  s.on("close", () => {
    console.log(`${total} ${h.digest("hex")} ${Date.now() - started}`);
    process.exit(0);
  });
  s.on("error", (e) => {
    console.error(e.message);
    process.exit(1);
  });
} else {
  console.error("usage: tcp-blob.mjs sink IP PORT | source IP PORT BYTES");
  process.exit(2);
}
