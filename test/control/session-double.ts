// A double of the control server's session (named as one): register and the
// map poll answered by the test, the Noise dial and the server key skipped.
// For the controller's unit tests of what Headscale cannot show (a tailnet
// lock, a revoked auth key, device approval, expiry by the clock); the real
// server's side of each is Headscale in test/integration. A test file wires it
// in with vi.mock (which must stay in the file, hoisted):
//   vi.mock(".../control/server.js", async (orig) => (await import("./session-double.js")).serverModule(await orig()));
//   vi.mock(".../control/ts2021.js", async () => (await import("./session-double.js")).ts2021Module);
//   vi.mock(".../control/session.js", async () => (await import("./session-double.js")).sessionModule);
import type { MapResponse, RegisterRequest, RegisterResponse } from "../../agent/src/control/tailcfg.js";

export interface Poll {
  onMessage: (m: MapResponse) => void;
  onEnd: (err: Error) => void;
}

/** What the double saw, and how it answers a registration (over a base of "not authorized, no URL"). */
export const sessionDouble = {
  registers: [] as RegisterRequest[],
  polls: [] as Poll[],
  answer: (_req: RegisterRequest): Partial<RegisterResponse> => ({ MachineAuthorized: true }),
};

/** Forgets what was seen and sets the answer for the next test. */
export function resetSession(answer: (req: RegisterRequest) => Partial<RegisterResponse> = () => ({ MachineAuthorized: true })): void {
  sessionDouble.registers.length = 0;
  sessionDouble.polls.length = 0;
  sessionDouble.answer = answer;
}

export const serverModule = <M extends object>(orig: M) => ({ ...orig, fetchServerKey: async () => new Uint8Array(32) });

export const ts2021Module = { openTs2021: async () => ({ h2: { failAll: () => {} } }) };

export const sessionModule = {
  register: async (_h2: unknown, _authority: string, req: RegisterRequest): Promise<RegisterResponse> => {
    sessionDouble.registers.push(req);
    return { NodeKeyExpired: false, MachineAuthorized: false, AuthURL: "", Error: "", ...sessionDouble.answer(req) };
  },
  mapPoll: (_h2: unknown, _authority: string, req: { Stream: boolean }, onMessage: Poll["onMessage"], onEnd: Poll["onEnd"]) => {
    if (req.Stream) sessionDouble.polls.push({ onMessage, onEnd });
    return { cancel: () => onEnd(new Error("map stream ended")) };
  },
};
