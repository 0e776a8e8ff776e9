/* lz4_pack: an LZ4 block-format compressor for build time (qjsc-target packs
 * the bytecode with it; agent/native/lz4.c decodes it at start). Hash chains
 * searched to a fixed depth: slow next to real LZ4, but it runs once per
 * build on ~200 KB and finds longer matches than a single hash probe. */
#ifndef MESHWRT_LZ4_PACK_H
#define MESHWRT_LZ4_PACK_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LZ4_PACK_HASH_BITS 16
#define LZ4_PACK_DEPTH 256
#define LZ4_PACK_MIN_MATCH 4
#define LZ4_PACK_MAX_OFFSET 65535
/* The format's end rules: the last 5 bytes are literals, and no match starts
 * in the last 12. */
#define LZ4_PACK_LAST_LITERALS 5
#define LZ4_PACK_MATCH_LIMIT 12

static uint32_t lz4_pack_hash(const uint8_t *p)
{
	uint32_t v = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
	return (v * 2654435761u) >> (32 - LZ4_PACK_HASH_BITS);
}

static uint8_t *lz4_pack_length(uint8_t *op, size_t n)
{
	for (; n >= 255; n -= 255)
		*op++ = 255;
	*op++ = (uint8_t)n;
	return op;
}

static uint8_t *lz4_pack_sequence(uint8_t *op, const uint8_t *lit, size_t nlit, size_t off, size_t match)
{
	uint8_t *token = op++;
	*token = (uint8_t)((nlit >= 15 ? 15 : nlit) << 4);
	if (nlit >= 15)
		op = lz4_pack_length(op, nlit - 15);
	memcpy(op, lit, nlit);
	op += nlit;
	if (match) {
		*op++ = (uint8_t)off;
		*op++ = (uint8_t)(off >> 8);
		size_t m = match - LZ4_PACK_MIN_MATCH;
		*token |= (uint8_t)(m >= 15 ? 15 : m);
		if (m >= 15)
			op = lz4_pack_length(op, m - 15);
	}
	return op;
}

/* The most a packed n bytes can take: all literals. */
static size_t lz4_pack_bound(size_t n)
{
	return n + n / 255 + 16;
}

/* Packs src into dst (lz4_pack_bound(n) bytes). Returns the packed length,
 * or 0 when out of memory. */
static size_t lz4_pack(const uint8_t *src, size_t n, uint8_t *dst)
{
	int32_t *head = malloc(sizeof(int32_t) << LZ4_PACK_HASH_BITS);
	int32_t *prev = malloc(sizeof(int32_t) * (n ? n : 1));
	if (!head || !prev) {
		free(head);
		free(prev);
		return 0;
	}
	memset(head, 0xff, sizeof(int32_t) << LZ4_PACK_HASH_BITS);
	uint8_t *op = dst;
	size_t anchor = 0, i = 0;
	size_t limit = n > LZ4_PACK_MATCH_LIMIT ? n - LZ4_PACK_MATCH_LIMIT : 0;
	while (i < limit) {
		uint32_t h = lz4_pack_hash(src + i);
		size_t best = 0, best_off = 0;
		size_t max = n - LZ4_PACK_LAST_LITERALS - i;
		int depth = LZ4_PACK_DEPTH;
		for (int32_t c = head[h]; c >= 0 && i - (size_t)c <= LZ4_PACK_MAX_OFFSET && depth--; c = prev[c]) {
			size_t l = 0;
			while (l < max && src[c + l] == src[i + l])
				l++;
			if (l > best) {
				best = l;
				best_off = i - (size_t)c;
			}
		}
		prev[i] = head[h];
		head[h] = (int32_t)i;
		if (best < LZ4_PACK_MIN_MATCH) {
			i++;
			continue;
		}
		op = lz4_pack_sequence(op, src + anchor, i - anchor, best_off, best);
		/* Index the matched bytes too, so later matches can refer to them. */
		for (size_t j = i + 1; j < i + best && j < limit; j++) {
			uint32_t hj = lz4_pack_hash(src + j);
			prev[j] = head[hj];
			head[hj] = (int32_t)j;
		}
		i += best;
		anchor = i;
	}
	op = lz4_pack_sequence(op, src + anchor, n - anchor, 0, 0);
	free(head);
	free(prev);
	return (size_t)(op - dst);
}

#endif
