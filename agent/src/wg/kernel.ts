// The kernel's WireGuard through generic netlink: the family is resolved
// once by name, then set-device messages go out in as many parts as the
// change needs, and get-device dumps are merged back.
import type { NetlinkClient } from "../netlink/client.js";
import { NLM_F_DUMP } from "../netlink/codec.js";
import { resolveFamily } from "../netlink/genl.js";
import type { WireGuardApi } from "./api.js";
import { decodeDevice, encodeSetDevice, getDeviceRequest, KernelPeerDump, PeerIds, setDeviceRequest, WG_GENL_NAME } from "./genl.js";
import type { Device, DeviceChange, PeerDump } from "./model.js";

export class KernelWireGuard implements WireGuardApi {
  readonly kind = "kernel";

  /** The last read's peer ids, by position (see PeerIds). */
  private readonly ids = new PeerIds();

  private constructor(
    private readonly c: NetlinkClient,
    private readonly family: number,
  ) {}

  /** Fails with a plain message when the kernel has no WireGuard family. */
  static async open(c: NetlinkClient): Promise<KernelWireGuard> {
    try {
      return new KernelWireGuard(c, (await resolveFamily(c, WG_GENL_NAME)).id);
    } catch (e) {
      throw new Error(`kernel WireGuard is not available (${(e as Error).message}): install kmod-wireguard`);
    }
  }

  async get(name: string): Promise<Device> {
    return decodeDevice(await this.c.request(this.family, NLM_F_DUMP, getDeviceRequest(name), `read WireGuard device ${name}`));
  }

  /** The dump kept as the kernel sent it, its peers read in place (KernelPeerDump). */
  async readPeers(name: string): Promise<PeerDump> {
    return new KernelPeerDump(await this.c.request(this.family, NLM_F_DUMP, getDeviceRequest(name), `read WireGuard device ${name}'s peers`), this.ids);
  }

  async set(change: DeviceChange): Promise<void> {
    // In order: the first part carries the device settings and any replace-peers flag.
    let part = 0;
    for (const body of encodeSetDevice(change)) {
      await this.c.request(this.family, 0, setDeviceRequest(body), `configure WireGuard device ${change.name} (part ${++part})`);
    }
  }
}
