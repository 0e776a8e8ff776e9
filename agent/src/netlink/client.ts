// Request/answer bookkeeping over one netlink socket: sequence numbers,
// multipart dumps, acknowledgements and errors. Pure: the owner hands in
// received datagrams and a send function, so tests drive it with bytes.
import {
  type Message,
  NetlinkDecodeError,
  NetlinkError,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  parseError,
  parseMessages,
  Writer,
} from "./codec.js";

export type Send = (datagram: Uint8Array) => void;
export type DescribeErrno = (errno: number) => string;

interface Pending {
  readonly what: string;
  readonly dump: boolean;
  readonly messages: Message[];
  resolve(messages: Message[]): void;
  reject(err: Error): void;
}

export class NetlinkClient {
  private seq: number;
  private readonly pending = new Map<number, Pending>();
  /** Messages nobody asked for: multicast events on a subscribed socket. */
  onEvent: (m: Message) => void = () => {};

  constructor(
    private readonly send: Send,
    private readonly describeErrno: DescribeErrno,
    firstSeq = 1,
  ) {
    this.seq = firstSeq >>> 0 || 1;
  }

  /** The last dump asked for, while one is outstanding. */
  private dumps: Promise<void> | undefined;

  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Sends one request; resolves with the answer's messages (a dump's parts,
   * or none for an acknowledged change). `what` names it in errors.
   */
  request(type: number, flags: number, body: (w: Writer) => void, what: string): Promise<Message[]> {
    if ((flags & NLM_F_DUMP) !== NLM_F_DUMP) return this.sendRequest(type, flags, body, what);
    // The kernel runs one dump per socket at a time (a second one fails with EBUSY): queue them.
    const prev = this.dumps;
    const run = prev ? prev.then(() => this.sendRequest(type, flags, body, what)) : this.sendRequest(type, flags, body, what);
    const tail = run.then(() => {}, () => {});
    this.dumps = tail;
    void tail.then(() => {
      if (this.dumps === tail) this.dumps = undefined;
    });
    return run;
  }

  private sendRequest(type: number, flags: number, body: (w: Writer) => void, what: string): Promise<Message[]> {
    const w = new Writer();
    const seq = this.nextSeq();
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    const start = w.begin(type, flags | NLM_F_REQUEST | (dump ? 0 : NLM_F_ACK), seq);
    body(w);
    w.end(start);
    return new Promise<Message[]>((resolve, reject) => {
      this.pending.set(seq, { what, dump, messages: [], resolve, reject });
      try {
        this.send(w.finish());
      } catch (e) {
        this.pending.delete(seq);
        reject(e instanceof Error ? new Error(`${what}: ${e.message}`) : e);
      }
    });
  }

  /** Feeds one received datagram. Malformed input fails the requests it may belong to. */
  receive(datagram: Uint8Array): void {
    let messages: Message[];
    try {
      messages = parseMessages(datagram);
    } catch (e) {
      this.failAll(e instanceof Error ? e : new NetlinkDecodeError(String(e)));
      return;
    }
    for (const m of messages) this.dispatch(m);
  }

  /** Fails every outstanding request (socket error, ENOBUFS, shutdown). */
  failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(new Error(`${p.what}: ${err.message}`));
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) >>> 0 || 1;
    return s;
  }

  private dispatch(m: Message): void {
    if (m.type === NLMSG_NOOP) return;
    const p = this.pending.get(m.seq);
    if (!p) {
      if (m.type !== NLMSG_ERROR && m.type !== NLMSG_DONE) this.onEvent(m);
      return;
    }
    if (m.type === NLMSG_OVERRUN) return this.settle(m.seq, p, new NetlinkDecodeError("netlink: overrun, data lost"));
    if (m.type === NLMSG_ERROR || (m.type === NLMSG_DONE && p.dump)) {
      let e;
      try {
        e = parseError(m);
      } catch (err) {
        return this.settle(m.seq, p, err as Error);
      }
      if (e.errno === 0) return this.settle(m.seq, p);
      const text = `${p.what}: ${this.describeErrno(e.errno)}${e.extack ? ` (${e.extack})` : ""}`;
      return this.settle(m.seq, p, new NetlinkError(e.errno, e.extack, text));
    }
    p.messages.push(m);
  }

  private settle(seq: number, p: Pending, err?: Error): void {
    this.pending.delete(seq);
    if (err) p.reject(err);
    else p.resolve(p.messages);
  }
}
