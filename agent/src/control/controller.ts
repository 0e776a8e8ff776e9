// The control client's life: find the server's key, open ts2021, register
// (pre-auth key, or interactive login with an AuthURL), keep the map long
// poll running and hand each netmap on, and reconnect with jittered backoff
// whenever any of it fails. Effects come in through ControlDeps.
import { keyFromText, keyToText } from "../crypto/keys.js";
import { base64Decode, base64Encode } from "../util/base64.js";
import { bytesEqual, toHex } from "../util/bytes.js";
import { CAPABILITY_VERSION } from "./capver.js";
import { clockDelta, flagExpiredPeers, type SelfExpiry, selfExpiry, untilNextExpiry } from "./expiry.js";
import { decodeKeys, encodeKeys, type Keys, newKeys, rotateNodeKey } from "./keys.js";
import { applyMapResponse, type Change, emptyNetMap, type NetMap } from "./netmap.js";
import { fetchServerKey, parseLoginServer, type ServerAddress } from "./server.js";
import { answerPing, type DiscoPinger } from "./ping.js";
import { mapPoll, type MapPoll, register } from "./session.js";
import { nlKeyFromSeed, nlPublicText, nodeKeyBinary, parseNKS, wrappingPublic } from "./tka.js";
import type { ByteStream } from "../util/stream.js";
import type { Hostinfo, MapRequest, PingRequest, RegisterRequest, RegisterResponse } from "./tailcfg.js";
import { openTs2021, type Ts2021Channel } from "./ts2021.js";

export interface ControlDeps {
  dial(server: ServerAddress): Promise<ByteStream>;
  random(n: number): Uint8Array;
  /** Wall clock, milliseconds since the epoch. */
  now(): number;
  setTimer(ms: number, fn: () => void): () => void;
  log(level: "debug" | "info" | "warn" | "error", msg: string): void;
  loadKeys(): string | null;
  /** Replaces the keys file whole, off the loop; saves land in the order asked for. */
  saveKeys(text: string): Promise<void>;
  /** Disco-pings the peer with this node key, for the server's PingRequests; absent: such requests are answered with an error. */
  discoPing?: DiscoPinger;
}

export interface ControlConfig {
  readonly loginServer: string;
  readonly authKey?: string;
  readonly ephemeral?: boolean;
  readonly hostinfo: Hostinfo;
}

export type ControlState =
  | { readonly kind: "stopped" }
  | { readonly kind: "connecting"; readonly lastError?: string }
  | { readonly kind: "needs-login"; readonly authUrl: string }
  /** Registered, but the tailnet approves devices: the map poll runs and waits for the admin. */
  | { readonly kind: "awaiting-approval" }
  | { readonly kind: "key-expired" }
  | { readonly kind: "running" };

const ZERO_NODE_KEY = `nodekey:${"0".repeat(64)}`;
/** Go's zero time: "no change to the expiry". */
const NO_EXPIRY = "0001-01-01T00:00:00Z";
/** Far in the past, as tailscale's logout sends it: the server expires the node key. */
const LOGOUT_EXPIRY = "1970-01-01T00:02:03Z";
/** Expiry is looked at again at least this often: timers run on the monotonic clock, dates on the wall clock. */
const EXPIRY_RECHECK_MS = 3_600_000;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
/** Headscale and Tailscale send a keep-alive about every minute; silence for this long means the poll is dead. */
const MAP_SILENCE_MS = 150_000;
/** Dialing, GET /key and the Noise handshake each finish within this. */
export const CONNECT_TIMEOUT_MS = 20_000;

export class Controller {
  onState: (s: ControlState) => void = () => {};
  onNetmap: (nm: NetMap, changes: ReadonlySet<Change>) => void = () => {};

  private state: ControlState = { kind: "stopped" };
  private keys: Keys;
  /** The newest save of the keys; a register waits for it, so the server never takes a node key the router could lose. */
  private saving: Promise<void> = Promise.resolve();
  private server: ServerAddress;
  /** The map as the server sent it; what goes out has expired peers flagged by the clock. */
  private serverMap = emptyNetMap();
  private netmap = emptyNetMap();
  /** The control server's clock minus ours (ControlTime), as tailscale corrects key expiry. */
  private delta = 0;
  private cancelExpiry: (() => void) | undefined;
  private stopped = true;
  private channel: Ts2021Channel | undefined;
  private poll: MapPoll | undefined;
  private endpoints: { addrs: string[]; types: number[] } = { addrs: [], types: [] };
  private hostinfo: Hostinfo;
  private wake: (() => void) | undefined;
  private cancelSleep: (() => void) | undefined;
  private cancelWatchdog: (() => void) | undefined;
  /** The current connection reached running: its failure starts the backoff over. */
  private reachedRunning = false;
  /** The server said MachineAuthorized for this connection's registration, or the map has since. */
  private approved = false;

  constructor(
    private readonly deps: ControlDeps,
    private readonly config: ControlConfig,
  ) {
    this.server = parseLoginServer(config.loginServer);
    this.hostinfo = config.hostinfo;
    const { keys, save } = this.loadOrCreateKeys();
    this.keys = keys;
    if (save) this.setKeys(keys);
  }

  get current(): ControlState {
    return this.state;
  }

  get publicKeys(): { node: Uint8Array; disco: Uint8Array } {
    return { node: this.keys.node.publicKey, disco: this.keys.disco.publicKey };
  }

  /** The wall clock corrected by the control server's, for key expiry. */
  controlNow(): number {
    return this.deps.now() + this.delta;
  }

  /** Our node key's expiry by the corrected clock, once the map has said it. */
  keyExpiry(): SelfExpiry | undefined {
    return selfExpiry(this.netmap, this.controlNow());
  }

  /** Tailnet lock as this router takes part: its NLKey (for `tailscale lock sign`) and whether its node key is signed. */
  tailnetLock(): { readonly nlKey: string; readonly nodeKey: string; readonly signed: boolean } {
    return { nlKey: nlPublicText(this.keys.nl!.public), nodeKey: keyToText("nodekey", this.keys.node.publicKey), signed: !!this.keys.nodeKeySignature && !this.keys.oldNodePublic };
  }

  get nodePrivateKey(): Uint8Array {
    return this.keys.node.privateKey;
  }

  get discoPrivateKey(): Uint8Array {
    return this.keys.disco.privateKey;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.poll?.cancel();
    this.channel?.h2.failAll(new Error("control: stopped"));
    this.cancelSleep?.();
    this.cancelWatchdog?.();
    this.cancelExpiry?.();
    this.wake?.();
    this.setState({ kind: "stopped" });
  }

  /**
   * Re-authentication, as tailscale's interactive login does it: a new node key, sent with the old
   * one and the configured auth key (or answered with a login URL) at the next start.
   */
  prepareReauth(): void {
    this.setKeys(rotateNodeKey(this.keys, this.deps.random));
    this.deps.log("info", "control: new node key made; the router registers again");
  }

  /**
   * Logs out as tailscale does: registers the current node key with an expiry in the far past,
   * so the server expires the node, then stops. The caller deletes the keys. Over the open
   * channel, or a new one if there is none; throws when the server could not be told.
   */
  async logout(): Promise<void> {
    const req: RegisterRequest = { ...this.registerRequest(), OldNodeKey: ZERO_NODE_KEY, Expiry: LOGOUT_EXPIRY };
    delete req.Auth;
    const own = this.channel ? undefined : await this.open();
    const ch = this.channel ?? own!;
    try {
      const resp = await this.deadline("control: logout", async () => register(ch.h2, this.server.authority, req));
      if (resp.Error) throw new Error(`logout refused: ${resp.Error}`);
      this.deps.log("info", "control: logged out; the server expired this node");
    } finally {
      own?.h2.failAll(new Error("control: logged out"));
      this.stop();
    }
  }

  /** The router's own addresses changed: the connection may ride one that is gone, so make a new one now. */
  reconnect(why: string): void {
    if (this.stopped || !this.channel) return;
    this.deps.log("info", `control: reconnecting (${why})`);
    this.poll?.cancel();
    this.channel.h2.failAll(new Error(`reconnecting (${why})`));
  }

  /** New local endpoints or host facts: told to the server now, and in every later poll. */
  update(endpoints: { addrs: string[]; types: number[] }, hostinfo?: Hostinfo): void {
    this.endpoints = endpoints;
    if (hostinfo) this.hostinfo = hostinfo;
    if (this.state.kind !== "running" || !this.channel) return;
    // A "lite" request: not streamed, no peers back, only our news.
    mapPoll(this.channel.h2, this.server.authority, { ...this.mapRequest(), Stream: false, OmitPeers: true }, () => {}, (err) => {
      if (!/map stream ended/.test(err.message)) this.deps.log("warn", `control: endpoint update: ${err.message}`);
    });
  }

  private setState(s: ControlState): void {
    if (s.kind === "running") this.reachedRunning = true;
    this.state = s;
    this.onState(s);
  }

  /** The keys from the file, or new ones; `save` when the file is to be written. */
  private loadOrCreateKeys(): { keys: Keys; save: boolean } {
    const text = this.deps.loadKeys();
    if (text !== null) {
      try {
        const k = decodeKeys(text);
        if (k.nl) return { keys: k, save: false };
        // A keys file from before tailnet lock: the router's tailnet-lock key is made once.
        return { keys: { ...k, nl: nlKeyFromSeed(this.deps.random(32)) }, save: true };
      } catch (e) {
        this.deps.log("error", `control: keys file unreadable (${(e as Error).message}); making new keys, the router will be a new node`);
      }
    }
    return { keys: newKeys(this.deps.random), save: true };
  }

  /** Resolves once the newest save of the keys has ended, saved or not: a stop waits for it, so the next start reads it. */
  keysSettled(): Promise<void> {
    return this.saving.catch(() => {});
  }

  /** Waits until the keys are on disk; a failed save fails this connection and is tried again by the next. */
  private async keysOnDisk(): Promise<void> {
    try {
      await this.saving;
    } catch (e) {
      this.setKeys(this.keys);
      throw new Error(`saving the keys: ${(e as Error).message}`);
    }
  }

  /** A register request for the keys as they are on disk. */
  private async registerSaved(ch: Ts2021Channel, followup?: string): Promise<RegisterResponse> {
    await this.keysOnDisk();
    return register(ch.h2, this.server.authority, this.registerRequest(followup));
  }

  private async run(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    while (!this.stopped) {
      // A retry keeps the last attempt's error in view (status, LuCI) until it succeeds or fails otherwise.
      const last = this.state.kind === "connecting" ? this.state.lastError : undefined;
      if (!this.waitsForPerson()) this.setState({ kind: "connecting", ...(last ? { lastError: last } : {}) });
      this.reachedRunning = false;
      try {
        await this.connectOnce();
        backoff = BACKOFF_MIN_MS;
      } catch (e) {
        if (this.stopped) break;
        // A connection that ran for a day and then failed is a new outage, not the old one growing.
        if (this.reachedRunning) backoff = BACKOFF_MIN_MS;
        const msg = (e as Error).message;
        this.deps.log("warn", `control: ${msg}; retrying in about ${Math.round(backoff / 1000)} s`);
        if (this.state.kind !== "key-expired" && this.state.kind !== "awaiting-approval") this.setState({ kind: "connecting", lastError: msg });
      }
      if (this.stopped) break;
      // Full jitter keeps a whole fleet from reconnecting in step after an outage.
      await this.sleep(backoff / 2 + (this.deps.random(1)[0]! / 255) * (backoff / 2));
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    }
  }

  /** States a reconnect does not change: they end when a person acts, not when the network comes back. */
  private waitsForPerson(): boolean {
    const k = this.state.kind;
    return k === "needs-login" || k === "key-expired" || k === "awaiting-approval";
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.cancelSleep = this.deps.setTimer(ms, resolve);
    });
  }

  /** Bounds a step that a silent server would otherwise hold forever: on time-out its stream is closed. */
  private deadline<T>(what: string, step: (dial: () => Promise<ByteStream>) => Promise<T>): Promise<T> {
    let stream: ByteStream | undefined;
    let timedOut = false;
    return new Promise<T>((resolve, reject) => {
      // Fails at the deadline even while the dial itself has not returned; a stream that comes later is closed.
      const cancel = this.deps.setTimer(CONNECT_TIMEOUT_MS, () => {
        timedOut = true;
        stream?.close();
        reject(new Error(`${what}: no answer in ${CONNECT_TIMEOUT_MS / 1000} s`));
      });
      const dial = async () => {
        const s = await this.deps.dial(this.server);
        if (timedOut) {
          s.close();
          throw new Error(`${what}: no answer in ${CONNECT_TIMEOUT_MS / 1000} s`);
        }
        return (stream = s);
      };
      step(dial).then(
        (v) => {
          cancel();
          if (timedOut) stream?.close();
          else resolve(v);
        },
        (e: Error) => {
          cancel();
          reject(e);
        },
      );
    });
  }

  private async open(): Promise<Ts2021Channel> {
    const serverKey = await this.deadline("control: /key", async (dial) => fetchServerKey(await dial(), this.server, CAPABILITY_VERSION));
    const ch = await this.deadline("control: ts2021 handshake", async (dial) =>
      openTs2021(await dial(), {
        host: this.server.authority,
        machinePrivate: this.keys.machine.privateKey,
        serverPublic: serverKey,
        ephemeralSeed: this.deps.random(32),
        capver: CAPABILITY_VERSION,
      }),
    );
    return ch;
  }

  private async connectOnce(): Promise<void> {
    const ch = await this.open();
    this.channel = ch;
    try {
      this.approved = await this.login(ch);
      if (this.stopped) return;
      if (this.approved) this.setState({ kind: "running" });
      else this.awaitApproval();
      await this.streamMap(ch);
    } finally {
      this.channel = undefined;
      ch.h2.failAll(new Error("control: channel closed"));
    }
  }

  private registerRequest(followup = ""): RegisterRequest {
    return {
      Version: CAPABILITY_VERSION,
      NodeKey: keyToText("nodekey", this.keys.node.publicKey),
      OldNodeKey: this.keys.oldNodePublic ? keyToText("nodekey", this.keys.oldNodePublic) : ZERO_NODE_KEY,
      // As tailscale's client: the auth key only for a node key the server has not taken yet. Tailscale's
      // service refuses an expired key even for a valid node, so re-sending it would drop the router months later.
      ...(this.config.authKey && !followup && !this.keys.registered ? { Auth: { AuthKey: this.config.authKey } } : {}),
      Expiry: NO_EXPIRY,
      Followup: followup,
      Hostinfo: this.hostinfo,
      ...(this.config.ephemeral ? { Ephemeral: true } : {}),
      NLKey: nlPublicText(this.keys.nl!.public),
      // A rotation in a locked tailnet: the old key's signature re-signed for the new key.
      ...(this.keys.oldNodePublic && this.keys.nodeKeySignature ? { NodeKeySignature: base64Encode(this.keys.nodeKeySignature) } : {}),
    };
  }

  /** Registers the node key; true when the server also authorized the machine (false: it awaits the admin's approval). */
  private async login(ch: Ts2021Channel): Promise<boolean> {
    let resp = await this.registerSaved(ch);
    let resigned = false;
    for (;;) {
      if (resp.Error) throw new Error(`register refused: ${resp.Error}`);
      if (resp.NodeKeySignature && !resigned) {
        // A locked tailnet wants a new node key with this signature re-signed for it (tailscale's mustRegen); once per login.
        resigned = true;
        this.deps.log("info", "control: the server asks for a new node key, signed with this router's tailnet-lock key");
        this.setKeys(rotateNodeKey(this.keys, this.deps.random, base64Decode(resp.NodeKeySignature)));
        resp = await this.registerSaved(ch);
        continue;
      }
      if (resp.NodeKeyExpired) {
        this.deps.log("warn", "control: node key expired; registering a new one");
        this.setState({ kind: "key-expired" });
        this.setKeys(rotateNodeKey(this.keys, this.deps.random));
        resp = await this.registerSaved(ch);
        continue;
      }
      if (!resp.AuthURL) break;
      if (this.keys.registered && this.config.authKey) {
        // The server no longer knows this node key (deleted by its admin): log in again with the configured key.
        this.deps.log("info", "control: the server asks for a login again; registering with the configured auth key");
        this.setKeys({ ...this.keys, registered: false });
        resp = await this.registerSaved(ch);
        continue;
      }
      this.deps.log("info", `control: to add this router to the tailnet, visit ${resp.AuthURL}`);
      this.setState({ kind: "needs-login", authUrl: resp.AuthURL });
      // The follow-up request waits at the server until the login is approved.
      resp = await this.registerSaved(ch, resp.AuthURL);
    }
    // No login URL: the server took this node key (tailscale's "key rotation is complete").
    if (this.keys.oldNodePublic || !this.keys.registered) {
      const { oldNodePublic: _done, ...rest } = this.keys;
      this.setKeys({ ...rest, registered: true });
    }
    return resp.MachineAuthorized;
  }

  private setKeys(k: Keys): void {
    this.keys = k;
    this.saving = this.deps.saveKeys(encodeKeys(k));
    // Said now, as no register may follow for days; the next register also waits for it (keysOnDisk).
    this.saving.catch((e: Error) => this.deps.log("error", `control: the keys are not on disk (${e.message}); after a restart this router would be a new node`));
  }

  /** A tailnet with device approval: say so once and keep the map poll open, as tailscale's client does, until the map says authorized. */
  private awaitApproval(): void {
    if (this.state.kind !== "awaiting-approval") this.deps.log("info", "control: registered; waiting for the tailnet's admin to approve this router");
    this.setState({ kind: "awaiting-approval" });
  }

  private mapRequest(): MapRequest {
    return {
      Version: CAPABILITY_VERSION,
      Compress: "",
      KeepAlive: true,
      NodeKey: keyToText("nodekey", this.keys.node.publicKey),
      DiscoKey: keyToText("discokey", this.keys.disco.publicKey),
      Stream: true,
      Hostinfo: this.hostinfo,
      ...(this.endpoints.addrs.length ? { Endpoints: this.endpoints.addrs, EndpointTypes: this.endpoints.types } : {}),
    };
  }

  /**
   * Keeps the node-key signature the server has for our current key (tailnet lock): the next
   * rotation re-signs it. One naming another rotation key is kept too, with a warning.
   */
  private keepSignature(b64: string | undefined): void {
    if (!b64) return;
    let sig: Uint8Array;
    try {
      sig = base64Decode(b64);
      const nks = parseNKS(sig);
      if (!nks.pubkey || !bytesEqual(nks.pubkey, nodeKeyBinary(this.keys.node.publicKey))) return;
      if (this.keys.nodeKeySignature && bytesEqual(this.keys.nodeKeySignature, sig) && !this.keys.oldNodePublic) return;
      const rot = wrappingPublic(nks);
      if (!rot || !bytesEqual(rot, this.keys.nl!.public))
        this.deps.log("warn", `control: this router's node key is signed without its tailnet-lock key as rotation key: after the next key rotation it must be signed again (tailscale lock sign ${keyToText("nodekey", this.keys.node.publicKey)} ${nlPublicText(this.keys.nl!.public)})`);
      else this.deps.log("info", "control: the node key is signed for tailnet lock");
    } catch (e) {
      return this.deps.log("warn", `control: the server's node-key signature for this router is unreadable (${(e as Error).message})`);
    }
    const { oldNodePublic: _done, ...rest } = this.keys;
    this.setKeys({ ...rest, nodeKeySignature: sig });
  }

  /** Hands on the server's map with expired peers flagged by the clock, and looks again at the next expiry. */
  private publish(changes: Set<Change>): void {
    const now = this.controlNow();
    const before = this.netmap;
    const flagged = flagExpiredPeers(this.serverMap, now);
    for (const [id, p] of flagged.peers) {
      if (p.Expired && !this.serverMap.peers.get(id)?.Expired && !before.peers.get(id)?.Expired) {
        this.deps.log("info", `control: peer ${p.Name.split(".")[0] || id}'s key expired at ${p.KeyExpiry}; it is left out until the server renews it`);
        changes.add("peers");
      }
    }
    this.netmap = flagged;
    const self = selfExpiry(flagged, now);
    if (flagged.self?.Expired || self?.expired) {
      if (this.state.kind !== "key-expired") this.deps.log("warn", `control: this router's key expired${self ? ` at ${self.at}` : ""}: log in again (meshwrt login)`);
      this.setState({ kind: "key-expired" });
    } else if (this.state.kind === "key-expired" && this.approved && this.channel) {
      this.setState({ kind: "running" });
    }
    if (changes.size) this.onNetmap(flagged, changes);
    this.cancelExpiry?.();
    const next = untilNextExpiry(flagged, now);
    // A second past the expiry, so the comparison after the timer sees it passed.
    if (next !== undefined) this.cancelExpiry = this.deps.setTimer(Math.min(next + 1_000, EXPIRY_RECHECK_MS), () => this.publish(new Set()));
  }

  private answer(pr: PingRequest, ch: Ts2021Channel): void {
    answerPing(pr, {
      noise: ch.h2,
      dial: (a) => this.deps.dial(a),
      setTimer: (ms, fn) => this.deps.setTimer(ms, fn),
      log: (l, m) => this.deps.log(l, m),
      peerByIp: (ip) => [...this.netmap.peers.values()].find((p) => p.Addresses.some((a) => a.split("/")[0] === ip)),
      nodeKeyHex: (n) => toHex(keyFromText("nodekey", n.Key)),
      ...(this.deps.discoPing ? { discoPing: this.deps.discoPing } : {}),
    }).catch((e: Error) => this.deps.log("warn", `control: ping request: ${e.message}`));
  }

  private streamMap(ch: Ts2021Channel): Promise<void> {
    return new Promise((resolve, reject) => {
      const arm = () => {
        this.cancelWatchdog?.();
        this.cancelWatchdog = this.deps.setTimer(MAP_SILENCE_MS, () => {
          this.poll?.cancel();
          reject(new Error(`map stream silent for ${MAP_SILENCE_MS / 1000} s`));
        });
      };
      arm();
      ch.onClose = (e) => reject(e);
      this.poll = mapPoll(
        ch.h2,
        this.server.authority,
        this.mapRequest(),
        (m) => {
          arm();
          if (m.ControlTime) this.delta = clockDelta(m.ControlTime, this.deps.now());
          const { netmap, changes } = applyMapResponse(this.serverMap, m, new Date(this.controlNow()).toISOString());
          this.serverMap = netmap;
          if (!this.approved && netmap.self?.MachineAuthorized) {
            this.approved = true;
            this.deps.log("info", "control: the router was approved");
            this.setState({ kind: "running" });
          }
          if (m.Node) this.keepSignature(m.Node.KeySignature);
          this.publish(changes);
          if (m.PingRequest) this.answer(m.PingRequest, ch);
        },
        (err) => {
          this.cancelWatchdog?.();
          if (this.stopped) resolve();
          else reject(err);
        },
      );
    });
  }
}
