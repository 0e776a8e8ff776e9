// The byte stream that protocol clients run over: a TCP, TLS or unix
// connection from the host, or a test's in-memory pipe.
export interface ByteStream {
  write(bytes: Uint8Array): void;
  /**
   * Writes `bytes` now when nothing is queued before them, and queues a copy
   * of what the socket did not take (absent: write() a copy). The caller may
   * reuse `bytes` as soon as this returns: a relayed batch goes out with no
   * buffer of its own and no wait for the end of the turn.
   */
  writeNow?(bytes: Uint8Array): void;
  close(): void;
  /** Bytes written but not yet taken by the kernel (absent: the stream never holds any). */
  readonly queuedBytes?: number;
  /** Set by the user of the stream. */
  onData: (bytes: Uint8Array) => void;
  /** Called once, when the peer closed or the connection failed. */
  onClose: (err?: Error) => void;
}
