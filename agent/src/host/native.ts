// The native module of the C runtime (agent/native), exactly as it is
// registered on the global object. Every call throws an Error whose message
// names the call and the errno ("connect 127.0.0.1:9: ECONNREFUSED (...)");
// "nothing now" (EAGAIN) is null or 0.

/** Bits for watch(): readable, writable; callbacks also get ERROR for hang-ups. */
export const READ = 1, WRITE = 2, ERROR = 4;

export interface Native {
  readonly argv: string[];
  readonly engine: string;
  watch(fd: number, events: number, fn: (revents: number) => void): void;
  unwatch(fd: number): void;
  setTimer(ms: number, fn: () => void): number;
  clearTimer(id: number): void;
  onSignal(name: "TERM" | "HUP" | "INT", fn: (() => void) | undefined): void;
  onChild(fn: (pid: number, code: number) => void): void;
  now(): number;
  mono(): number;
  random(n: number): Uint8Array;
  log(level: string, msg: string): void;
  exit(code: number): void;
  /** Collects garbage cycles now (QuickJS does so by itself only when its heap grew by half). */
  gc(): void;
  errnoName(errno: number): string;
  strerror(errno: number): string;
  /**
   * [fd, boundIp, boundPort]; `receiveBuffer` in bytes, when the default is too small; `v6only`: IPV6_V6ONLY on an IPv6 socket;
   * `transparent`: IP_TRANSPARENT (IPV6_TRANSPARENT), or it throws.
   */
  udpBind(ip: string, port: number, receiveBuffer?: number, v6only?: boolean, transparent?: boolean): [number, string, number];
  /** false when the socket buffer is full (the datagram is dropped, as UDP may). */
  udpSend(fd: number, data: Uint8Array, ip: string, port: number): boolean;
  udpRecv(fd: number): [Uint8Array, string, number] | null;
  /** Connects a UDP socket: only datagrams from there are received; read, write and readInto then carry them. */
  udpConnect(fd: number, ip: string, port: number): void;
  /** Reads into `buf` from `offset` to its end (a datagram longer than that is cut): the byte count, or null (nothing now). */
  readInto(fd: number, buf: Uint8Array, offset: number): number | null;
  /** Datagrams the kernel dropped for the socket since it was made (its receive buffer full). */
  sockDrops(fd: number): number;
  tcpConnect(ip: string, port: number): number;
  /** [fd, boundIp, boundPort]; accept() takes its connections. */
  tcpListen(ip: string, port: number): [number, string, number];
  /** [fd, ip, port] of the other end of a connected socket. */
  peerAddr(fd: number): [number, string, number];
  sockError(fd: number): number;
  unixConnect(path: string): number;
  unixListen(path: string): number;
  accept(fd: number): number | null;
  read(fd: number, max: number): Uint8Array | null;
  write(fd: number, data: Uint8Array): number;
  close(fd: number): void;
  netlinkOpen(protocol: number, groups: number): number;
  netlinkJoin(fd: number, group: number): void;
  netlinkSend(fd: number, data: Uint8Array): void;
  netlinkRecv(fd: number): Uint8Array | null;
  /**
   * Starts a name lookup in a child process: [pid, fd]. Read fd to its end:
   * one address per line, or a line "!reason"; then it closes.
   */
  resolveStart(host: string): [number, number];
  /**
   * TLS over a connected socket; serverName is the SNI and the name the
   * certificate must match; caFile null trusts the system bundle. tls12:
   * TLS 1.2 without RSA-PSS, for a second attempt after an error whose code
   * is "TLS12_PSS" (mbedTLS refuses PSS in TLS 1.2).
   */
  tlsOpen(fd: number, serverName: string, caFile: string | null, tls12?: boolean): number;
  /** 0 done, 1 wants to read, 2 wants to write. */
  tlsHandshake(h: number): 0 | 1 | 2;
  tlsRead(h: number): Uint8Array | null;
  tlsWrite(h: number, data: Uint8Array): number;
  /** The negotiated version: "TLSv1.2" or "TLSv1.3". */
  tlsVersion(h: number): string;
  tlsClose(h: number): void;
  readFile(path: string): Uint8Array | null;
  /**
   * Writes path atomically (PATH.tmp, fsync, rename, fsync of the directory)
   * in a child process: [pid, fd]. Read fd to its end: empty when the file
   * is in place, else "call path: ENAME (reason)".
   */
  writeFileStart(path: string, data: Uint8Array, mode: number): [number, number];
  mkdir(path: string, mode: number): void;
  chmod(path: string, mode: number): void;
  unlink(path: string): void;
  /** [mode, size], or null when the path does not exist. */
  stat(path: string): [number, number] | null;
  /** [pid, stdin, stdout, stderr] */
  spawn(argv: string[]): [number, number, number, number];
  kill(pid: number, signal: number): void;
}

export function native(): Native {
  const n = (globalThis as { __native?: Native }).__native;
  if (!n) throw new Error("meshwrt: not running in the meshwrt runtime (no __native)");
  return n;
}
