/* lz4_unpack: the LZ4 block format's decoder, for the embedded bytecode. */
#ifndef MESHWRT_LZ4_H
#define MESHWRT_LZ4_H
#include <stddef.h>
#include <stdint.h>

/* Decodes src into dst (at most cap bytes). Returns the decoded length, or
 * -1 when the stream is malformed or would not fit: never reads or writes
 * outside the two buffers. */
long lz4_unpack(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

#endif
