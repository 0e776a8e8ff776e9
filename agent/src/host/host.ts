// The Host: everything the agent needs from the world, in the agent's own
// terms. host/env.ts provides it on the meshwrt runtime; nothing else in
// agent/src touches the world.
import type { ByteStream } from "../util/stream.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface UdpSocket {
  readonly port: number;
  send(data: Uint8Array, ip: string, port: number): void;
  close(): void;
  /** Set by the user. */
  onMessage: (data: Uint8Array, ip: string, port: number) => void;
}

/**
 * A UDP socket on 127.0.0.1 connected to one port there (the relay bridge's):
 * the kernel drops datagrams from any other port, and a datagram moves with no
 * address made or parsed, read into the caller's buffer.
 */
export interface LoopbackUdp {
  readonly port: number;
  /** Points the socket at 127.0.0.1:`port` (again). */
  connect(port: number): void;
  /** One datagram: false when the socket's buffer is full (dropped, as UDP may); throws on a socket error (ECONNREFUSED: nobody listens there). */
  send(data: Uint8Array): boolean;
  /** The next datagram into `buf` from `offset` (cut at its end): its length, or null when none waits; throws on a socket error. */
  readInto(buf: Uint8Array, offset: number): number | null;
  /** Datagrams the kernel dropped here since the socket was made: its receive buffer was full. */
  drops(): number;
  close(): void;
  /** Set by the user: datagrams (or an error) wait to be read. */
  onReadable: () => void;
}

export interface NetlinkSocket {
  send(datagram: Uint8Array): void;
  close(): void;
  /** Set by the user: one received datagram, or the socket's error (ENOBUFS: events were lost). */
  onMessage: (datagram: Uint8Array) => void;
  onError: (err: Error) => void;
}

export interface TlsOptions {
  readonly serverName: string;
  /** Trust exactly this CA file (tests), instead of the system bundle. */
  readonly caFile?: string;
}

/** A running program with pipes to its stdin, stdout and stderr. */
export interface ChildProcess {
  readonly pid: number;
  /** To its stdin (queued while the pipe is full). */
  write(bytes: Uint8Array): void;
  /** Closes its stdin once what was written has gone. */
  endInput(): void;
  /** Signal number, SIGTERM (15) by default. */
  kill(signal?: number): void;
  /** Set by the user. */
  onStdout: (bytes: Uint8Array) => void;
  onStderr: (bytes: Uint8Array) => void;
  /** Once, after all its output: the exit code, or 128 + the signal that ended it. */
  onExit: (code: number) => void;
}

/** A listening unix socket. */
export interface UnixListener {
  /** Stops listening and removes the socket file. */
  close(): void;
  /** Set by the user: one accepted connection. */
  onConnection: (conn: ByteStream) => void;
}

/** A listening TCP socket. */
export interface TcpListener {
  readonly port: number;
  /** Stops listening; accepted connections stay open. */
  close(): void;
  /** Set by the user: one accepted connection and the address it came from. */
  onConnection: (conn: ByteStream, ip: string, port: number) => void;
}

export type SignalName = "TERM" | "HUP" | "INT";

export interface UdpOptions {
  /** The socket's receive buffer in bytes, for bursts the default would drop. */
  readonly receiveBuffer?: number;
  /** An IPv6 socket is dual-stack unless this: then it may share its port number with an IPv4 socket. */
  readonly v6only?: boolean;
  /** IP_TRANSPARENT: nftables' tproxy may deliver to it datagrams sent to another port (gateway/portshare.ts). Root only. */
  readonly transparent?: boolean;
}

export interface Host {
  log(level: LogLevel, msg: string): void;
  /** Wall clock, ms since the epoch. */
  now(): number;
  /** Monotonic clock, ms: for durations and deadlines. */
  monotonic(): number;
  /** The handler of a signal, or undefined for the default action. */
  onSignal(name: SignalName, fn: (() => void) | undefined): void;
  random(n: number): Uint8Array;
  setTimer(ms: number, fn: () => void): () => void;
  /**
   * Name lookup (off the event loop), TCP, then TLS if asked; each step fails after `deadlineMs` (10 s by default) without an answer,
   * the TCP connect after `connectMs` when given (a relay node with others to try behind it).
   */
  dialTcp(host: string, port: number, tls?: TlsOptions, deadlineMs?: number, connectMs?: number): Promise<ByteStream>;
  connectUnix(path: string): Promise<ByteStream>;
  /** Listens at `path` (a stale socket file there is replaced), the file given `mode`. */
  listenUnix(path: string, mode: number): UnixListener;
  /** Listens for TCP at ip:port (port 0: any free port); throws naming the address when it cannot. */
  listenTcp(ip: string, port: number): TcpListener;
  /** Throws naming the address (and the option) when it cannot. */
  bindUdp(ip: string, port: number, opts?: UdpOptions): UdpSocket;
  /** A UDP socket on 127.0.0.1 connected to 127.0.0.1:`peerPort`; `receiveBuffer` in bytes. */
  loopbackUdp(peerPort: number, receiveBuffer?: number): LoopbackUdp;
  netlink(protocol: number, groups: number): NetlinkSocket;
  readFile(path: string): Uint8Array | null;
  /**
   * Replaces a file whole (a power cut leaves the old or the new), off the loop: the fsync may take as long as the
   * flash does. One path's writes land in the order they were asked for.
   */
  writeFileAtomic(path: string, data: Uint8Array, mode: number): Promise<void>;
  mkdir(path: string, mode: number): void;
  /** Removes a file; one that is already gone is no error. */
  unlink(path: string): void;
  /** "EPERM" for 1 on this platform (errno numbers differ on MIPS). */
  errnoName(errno: number): string;
  /** "EPERM (Operation not permitted)". */
  describeErrno(errno: number): string;
  /** Starts a program (argv[0] looked up in PATH); throws "spawn NAME: ENOENT ..." when it cannot run. */
  spawn(argv: string[]): ChildProcess;
  /** Runs a program to its end, with input on its stdin if given; resolves with its exit code and what it wrote to stderr. */
  run(argv: string[], input?: Uint8Array): Promise<{ code: number; stderr: string }>;
  exists(path: string): boolean;
}
