/* lz4-check: agent/native/lz4.c's decoder against build/lz4-pack.h's encoder,
 * built with the address and undefined-behaviour sanitizers by lz4.test.ts
 * so a read or write out of bounds fails the run. Round-trips the edge cases
 * and the files named on the command line, then feeds the decoder damaged
 * streams: each must fail cleanly or decode to something else in bounds.
 * Usage: lz4-check [-p UNPACKED_SIZE PACKED_FILE] [FILE...]
 * Prints "ok CASES" and exits 0, or says which case failed and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../build/lz4-pack.h"
#include "../../agent/native/lz4.h"

static int cases;

static void fail(const char *what, size_t n)
{
	printf("FAIL %s (%zu bytes)\n", what, n);
	exit(1);
}

/* Packs and unpacks src into a buffer of exactly n bytes (so a write past the
 * end is an ASan error); returns the packed stream. */
static uint8_t *round_trip(const char *what, const uint8_t *src, size_t n, size_t *plen)
{
	uint8_t *packed = malloc(lz4_pack_bound(n));
	*plen = lz4_pack(src, n, packed);
	if (!*plen)
		fail(what, n);
	uint8_t *out = malloc(n ? n : 1);
	if (lz4_unpack(packed, *plen, out, n) != (long)n || memcmp(out, src, n) != 0)
		fail(what, n);
	/* One byte less room must be refused, not overrun. */
	if (n && lz4_unpack(packed, *plen, out, n - 1) != -1)
		fail("too small an output buffer is refused", n);
	free(out);
	cases++;
	return packed;
}

/* Truncations and single-byte changes of a packed stream (about 500 of each,
 * spread over it) decode in bounds: -1, or some length no larger than the
 * buffer. */
static void damage(const uint8_t *packed, size_t plen, size_t n)
{
	uint8_t *out = malloc(n + 1);
	size_t step = plen / 500 + 1;
	for (size_t cut = 0; cut < plen; cut += step) {
		uint8_t *p = malloc(cut ? cut : 1);
		memcpy(p, packed, cut);
		long r = lz4_unpack(p, cut, out, n);
		if (r > (long)n)
			fail("a truncated stream decodes in bounds", cut);
		free(p);
		cases++;
	}
	uint8_t *p = malloc(plen);
	for (size_t i = 0; i < plen; i += step) {
		static const uint8_t flips[] = {0x01, 0x0f, 0xf0, 0xff};
		for (size_t f = 0; f < sizeof flips; f++) {
			memcpy(p, packed, plen);
			p[i] ^= flips[f];
			if (lz4_unpack(p, plen, out, n) > (long)n)
				fail("a changed stream decodes in bounds", i);
			cases++;
		}
	}
	free(p);
	free(out);
}

static void expect_fail(const char *what, const uint8_t *s, size_t len)
{
	uint8_t out[64];
	if (lz4_unpack(s, len, out, sizeof out) != -1)
		fail(what, len);
	cases++;
}

static uint8_t *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail(path, 0);
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	rewind(f);
	uint8_t *b = malloc(*n ? *n : 1);
	if (fread(b, 1, *n, f) != *n)
		fail(path, *n);
	fclose(f);
	return b;
}

int main(int argc, char **argv)
{
	size_t plen;
	uint8_t *p;

	/* Empty: one token. */
	p = round_trip("empty", (const uint8_t *)"", 0, &plen);
	if (plen != 1)
		fail("empty packs to one byte", plen);
	free(p);

	/* Shorter than the format's end margins: literals only. */
	for (size_t n = 1; n <= 20; n++)
		free(round_trip("short", (const uint8_t *)"aaaaaaaaaaaaaaaaaaaa", n, &plen));

	/* Incompressible: every length field's 255-extension on the literals. */
	size_t rn = 100000;
	uint8_t *rnd = malloc(rn);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < rn; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		rnd[i] = (uint8_t)x;
	}
	p = round_trip("incompressible", rnd, rn, &plen);
	if (plen > lz4_pack_bound(rn) || plen < rn)
		fail("incompressible stays within the bound", plen);
	damage(p, plen, rn);
	free(p);

	/* Long matches: a run (offset 1, overlapping copy) and a repeated block. */
	size_t zn = 1 << 20;
	uint8_t *z = calloc(zn, 1);
	p = round_trip("a 1 MiB run", z, zn, &plen);
	if (plen > 5000)
		fail("a run packs small", plen);
	damage(p, plen, zn);
	free(p);
	for (size_t i = 0; i < zn; i++)
		z[i] = rnd[i % 3000];
	p = round_trip("a repeated block", z, zn, &plen);
	damage(p, plen, zn);
	free(p);
	free(z);
	free(rnd);

	/* Hand-made bad streams. */
	static const uint8_t offset_zero[] = {0x10, 'a', 0x00, 0x00};
	expect_fail("offset 0", offset_zero, sizeof offset_zero);
	static const uint8_t before_start[] = {0x10, 'a', 0x02, 0x00};
	expect_fail("an offset before the start", before_start, sizeof before_start);
	static const uint8_t half_offset[] = {0x10, 'a', 0x01};
	expect_fail("a cut offset", half_offset, sizeof half_offset);
	static const uint8_t long_literals[] = {0xf0, 0xff, 0xff, 0xff, 0x00, 'a'};
	expect_fail("literals past the input", long_literals, sizeof long_literals);
	static const uint8_t endless_length[] = {0xf0, 0xff, 0xff};
	expect_fail("a length that never ends", endless_length, sizeof endless_length);
	static const uint8_t long_match[] = {0x1f, 'a', 0x01, 0x00, 0xff, 0x00};
	expect_fail("a match past the output", long_match, sizeof long_match);
	/* Each length fits the 64-byte output, their sum does not. */
	static const uint8_t match_overruns[] = {0x8f, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 0x01, 0x00, 40};
	expect_fail("a match that overruns the output", match_overruns, sizeof match_overruns);

	/* The real bytecode, as qjsc-target packed it: it unpacks to its size
	 * and packs again to the same bytes. */
	if (argc > 2 && strcmp(argv[1], "-p") == 0) {
		size_t n = strtoul(argv[2], NULL, 10), pn;
		uint8_t *packed = read_file(argv[3], &pn), *b = malloc(n);
		if (lz4_unpack(packed, pn, b, n) != (long)n)
			fail("the packed bytecode unpacks to its size", n);
		p = round_trip(argv[3], b, n, &plen);
		if (plen != pn || memcmp(p, packed, pn) != 0)
			fail("the bytecode packs again to the same bytes", plen);
		printf("%s: %zu -> %zu bytes\n", argv[3], n, pn);
		damage(p, plen, n);
		free(p);
		free(b);
		free(packed);
		argc -= 3;
		argv += 3;
	}
	for (int i = 1; i < argc; i++) {
		size_t n;
		uint8_t *b = read_file(argv[i], &n);
		p = round_trip(argv[i], b, n, &plen);
		printf("%s: %zu -> %zu bytes\n", argv[i], n, plen);
		damage(p, plen, n);
		free(p);
		free(b);
	}
	printf("ok %d\n", cases);
	return 0;
}
