// A small UDP tool for the NAT tests (runs inside a namespace with node).
//   node udp-tool.mjs server PORT [ALSO_PORT]
//     Answers every datagram with "seen IP:PORT" (the source it observed), from PORT; with
//     ALSO_PORT, also sends "unsolicited" to that source from ALSO_PORT (another port).
//   node udp-tool.mjs client BIND_PORT WAIT_MS DEST[,DEST...]
//     Sends "hello" from BIND_PORT to each DEST (IP:PORT), then prints one line per datagram
//     received within WAIT_MS: "FROM_IP:FROM_PORT PAYLOAD".
//   node udp-tool.mjs probe IP WAIT_MS PORT:HEX...
//     Sends each datagram (hex) to its port of IP, from one socket; prints JSON
//     {replies}: every datagram that came back within WAIT_MS of the last send
//     ({port, bytes}). ICMP errors are the kernel's and are not counted.
import dgram from "node:dgram";

const [mode, ...args] = process.argv.slice(2);
if (mode === "server") {
  const port = Number(args[0]);
  const also = args[1] ? Number(args[1]) : 0;
  const main = dgram.createSocket("udp4");
  const other = also ? dgram.createSocket("udp4") : null;
  main.on("message", (_msg, rinfo) => {
    main.send(`seen ${rinfo.address}:${rinfo.port}`, rinfo.port, rinfo.address);
    other?.send("unsolicited", rinfo.port, rinfo.address);
  });
  main.bind(port, "0.0.0.0", () => {
    if (other) other.bind(also, "0.0.0.0", () => console.log("ready"));
    else console.log("ready");
  });
} else if (mode === "client") {
  const [bind, wait, dests] = [Number(args[0]), Number(args[1]), String(args[2])];
  const s = dgram.createSocket("udp4");
  s.on("message", (msg, rinfo) => console.log(`${rinfo.address}:${rinfo.port} ${msg}`));
  s.on("error", (e) => console.error(String(e)));
  s.bind(bind, "0.0.0.0", () => {
    for (const d of dests.split(",")) {
      const i = d.lastIndexOf(":");
      s.send("hello", Number(d.slice(i + 1)), d.slice(0, i));
    }
    setTimeout(() => s.close(), wait);
  });
} else if (mode === "probe" && args.length >= 3) {
  const [ip, wait, ...probes] = args;
  const replies = [];
  const s = dgram.createSocket("udp4");
  s.on("message", (msg, r) => replies.push({ port: r.port, bytes: msg.length }));
  s.on("error", () => {});
  await new Promise((r) => s.bind(0, "0.0.0.0", r));
  for (const x of probes) {
    const [port, hex] = x.split(":");
    await new Promise((r) => s.send(Buffer.from(hex, "hex"), Number(port), ip, r));
  }
  await new Promise((r) => setTimeout(r, Number(wait)));
  s.close();
  console.log(JSON.stringify({ replies }));
} else {
  console.error("usage: udp-tool.mjs server PORT [ALSO_PORT] | client BIND_PORT WAIT_MS DEST[,DEST...] | probe IP WAIT_MS PORT:HEX...");
  process.exit(2);
}
