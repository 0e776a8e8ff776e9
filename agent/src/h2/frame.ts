// HTTP/2 frames (RFC 9113, section 4 and 6): the 9-byte header and the frame
// types a client sends and must understand.

export const DATA = 0x0, HEADERS = 0x1, PRIORITY = 0x2, RST_STREAM = 0x3, SETTINGS = 0x4, PUSH_PROMISE = 0x5, PING = 0x6, GOAWAY = 0x7, WINDOW_UPDATE = 0x8, CONTINUATION = 0x9;
export const FLAG_END_STREAM = 0x1, FLAG_ACK = 0x1, FLAG_END_HEADERS = 0x4, FLAG_PADDED = 0x8, FLAG_PRIORITY = 0x20;

export const SETTINGS_HEADER_TABLE_SIZE = 0x1, SETTINGS_ENABLE_PUSH = 0x2, SETTINGS_MAX_CONCURRENT_STREAMS = 0x3, SETTINGS_INITIAL_WINDOW_SIZE = 0x4, SETTINGS_MAX_FRAME_SIZE = 0x5;

export const NO_ERROR = 0x0, PROTOCOL_ERROR = 0x1, FLOW_CONTROL_ERROR = 0x3, FRAME_SIZE_ERROR = 0x6, CANCEL = 0x8, COMPRESSION_ERROR = 0x9;

export const FRAME_HEADER_LEN = 9;
export const DEFAULT_MAX_FRAME = 16384;
export const DEFAULT_WINDOW = 65535;
export const PREFACE = Uint8Array.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (c) => c.charCodeAt(0));

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Uint8Array;
}

export function encodeFrame(type: number, flags: number, stream: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const f = new Uint8Array(FRAME_HEADER_LEN + payload.length);
  f[0] = payload.length >>> 16;
  f[1] = (payload.length >>> 8) & 0xff;
  f[2] = payload.length & 0xff;
  f[3] = type;
  f[4] = flags;
  new DataView(f.buffer).setUint32(5, stream & 0x7fffffff, false);
  f.set(payload, FRAME_HEADER_LEN);
  return f;
}

export const u32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, false);
  return b;
};

export function settingsPayload(settings: readonly (readonly [number, number])[]): Uint8Array {
  const b = new Uint8Array(6 * settings.length);
  const v = new DataView(b.buffer);
  settings.forEach(([id, value], i) => {
    v.setUint16(6 * i, id, false);
    v.setUint32(6 * i + 2, value, false);
  });
  return b;
}
