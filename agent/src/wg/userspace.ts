// wireguard-go through its UAPI socket (/var/run/wireguard/NAME.sock): one
// connection per request, a text request, a text answer ending in a blank
// line.
import type { ByteStream } from "../util/stream.js";
import { utf8Decode, utf8Encode } from "../util/utf8.js";
import type { WireGuardApi } from "./api.js";
import type { Device, DeviceChange } from "./model.js";
import { answerComplete, encodeSet, GET_REQUEST, parseGet, parseSetAnswer } from "./uapi.js";

export const uapiSocketPath = (name: string): string => `/var/run/wireguard/${name}.sock`;

export class UserspaceWireGuard implements WireGuardApi {
  readonly kind = "wireguard-go";

  constructor(private readonly connect: (path: string) => Promise<ByteStream>) {}

  async get(name: string): Promise<Device> {
    return parseGet(name, await this.exchange(name, GET_REQUEST, "read"));
  }

  async set(change: DeviceChange): Promise<void> {
    const errno = parseSetAnswer(await this.exchange(change.name, encodeSet(change), "configure"));
    if (errno !== 0) throw new Error(`wireguard-go: configure ${change.name}: errno ${errno}`);
  }

  private async exchange(name: string, request: string, what: string): Promise<string> {
    const s = await this.connect(uapiSocketPath(name));
    return new Promise((resolve, reject) => {
      let text = "";
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        s.close();
        if (err) reject(new Error(`wireguard-go: ${what} ${name}: ${err.message}`));
        else resolve(text);
      };
      s.onData = (b) => {
        text += utf8Decode(b);
        if (answerComplete(text)) finish();
        else if (text.length > 8 << 20) finish(new Error("answer too long"));
      };
      s.onClose = (err) => finish(err ?? (answerComplete(text) ? undefined : new Error("connection closed mid-answer")));
      s.write(utf8Encode(request));
    });
  }
}
