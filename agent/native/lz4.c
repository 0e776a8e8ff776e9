/* The LZ4 block format (a token of literal and match lengths, the literals,
 * a 16-bit little-endian offset back into the output), decoded with every
 * length and offset checked against both buffers. */
#include <string.h>
#include "lz4.h"

/* Adds the 255-continued extension bytes of a length field of 15 to *n. */
static int read_length(const uint8_t **ip, const uint8_t *end, size_t *n, size_t cap)
{
	uint8_t b;
	do {
		if (*ip == end)
			return -1;
		b = *(*ip)++;
		*n += b;
		if (*n > cap)
			return -1;
	} while (b == 255);
	return 0;
}

long lz4_unpack(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	const uint8_t *ip = src, *end = src + len;
	size_t out = 0;
	while (ip < end) {
		unsigned token = *ip++;
		size_t lit = token >> 4;
		if (lit == 15 && read_length(&ip, end, &lit, cap) < 0)
			return -1;
		if (lit > (size_t)(end - ip) || lit > cap - out)
			return -1;
		memcpy(dst + out, ip, lit);
		ip += lit;
		out += lit;
		if (ip == end)
			break; /* the last sequence has literals only */
		if (end - ip < 2)
			return -1;
		size_t off = ip[0] | (size_t)ip[1] << 8;
		ip += 2;
		if (off == 0 || off > out)
			return -1;
		size_t match = token & 15;
		if (match == 15 && read_length(&ip, end, &match, cap) < 0)
			return -1;
		match += 4;
		if (match > cap - out)
			return -1;
		/* Byte by byte: a match may overlap the bytes it is copying. */
		for (size_t i = 0; i < match; i++, out++)
			dst[out] = dst[out - off];
	}
	return (long)out;
}
