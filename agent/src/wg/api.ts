// One interface to a WireGuard device, whoever runs it: the kernel (generic
// netlink) or wireguard-go (UAPI).
import type { Device, DeviceChange } from "./model.js";

export interface WireGuardApi {
  readonly kind: "kernel" | "wireguard-go";
  get(name: string): Promise<Device>;
  set(change: DeviceChange): Promise<void>;
}
