// control/noise.ts: the server's handshake response, and the transport
// records after it. The records are sealed with the right keys, so that
// mutants exercise the framing; authentication rejects most changed bytes.
import { keyPairFromSeed } from "../../../agent/src/crypto/keys.js";
import { startHandshake } from "../../../agent/src/control/noise.js";
import { ascii, concat } from "../../../agent/src/util/bytes.js";
import { chunks } from "../chunks.js";
import { respond } from "../noise-responder.js";
import type { Target } from "../runner.js";

export const CAPVER = 113;
export const machine = keyPairFromSeed(new Uint8Array(32).fill(11));
export const serverKeys = keyPairFromSeed(new Uint8Array(32).fill(12));
export const clientEphemeral = new Uint8Array(32).fill(13);
const serverEphemeral = keyPairFromSeed(new Uint8Array(32).fill(14)).privateKey;

export const handshake = () => startHandshake(machine.privateKey, serverKeys.publicKey, clientEphemeral, CAPVER);

/** The server's answer to our (deterministic) initiation, and its transport. */
export const answer = () => respond(handshake().initiation, serverKeys.privateKey, serverEphemeral, CAPVER);

const { response, server, client } = answer();
const refusal = concat(Uint8Array.of(3, 0, 20), ascii("unsupported version!"));

export const noiseHandshake: Target = {
  name: "noise handshake response",
  seeds: [response, refusal],
  clean: /^noise: /,
  weight: 0.1, // each input runs four X25519 operations
  parse: (b) => handshake().finish(b),
};

const recordSeeds = [
  server().seal(ascii("hello")),
  (() => {
    const s = server();
    return concat(s.seal(new Uint8Array(0)), s.seal(new Uint8Array(5000).fill(0x61)));
  })(),
  server().seal(ascii("PRI * HTTP/2.0 and then some")),
];

export const noiseRecords: Target = {
  name: "noise records",
  seeds: recordSeeds,
  clean: /^noise: /,
  parse: (input) => {
    const s = client();
    return chunks(input).map((c) => s.open(c));
  },
};
