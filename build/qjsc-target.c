/* qjsc-target: compiles a script to QuickJS bytecode for a target of either
 * byte order, written as C (NAME_size and NAME[]) as `qjsc -c -N NAME` does,
 * except that NAME[] is packed in the LZ4 block format (build/lz4-pack.h) and
 * NAME_unpacked_size says how long it is unpacked: the bytecode is half of a
 * router binary, and packing it saves a third of that (the runtime unpacks it
 * with agent/native/lz4.c).
 *
 * Why not qjsc: QuickJS's bytecode is little-endian whatever the host (the
 * reader swaps on a big-endian CPU), except for regular expressions. A regexp
 * literal is compiled at compile time by libregexp into its own bytecode, kept
 * as an opaque string constant and never swapped, and libregexp reads its u16
 * and u32 operands in the order of the CPU it runs on. Bytecode from an x86
 * qjsc therefore crashes the first regexp on big-endian MIPS (lre_exec reads
 * lengths and jump offsets byte-swapped). qjsc's -x (JS_WRITE_OBJ_BSWAP) does
 * not help: QuickJS 2025-04-26 ignores that flag.
 *
 * The fix: this file includes libregexp.c itself with its multi-byte
 * accessors (the only way libregexp.c reads or writes bytecode operands)
 * redirected to ones that use the target's byte order, so lre_compile writes
 * the bytecode the target's lre_exec reads natively. The program links the
 * rest of QuickJS (quickjs.c, libunicode.c, cutils.c, dtoa.c) unchanged and
 * never runs a regexp itself: it only compiles.
 *
 * Usage: qjsc-target [-e big|little] [-s] -N NAME -o OUT.c SCRIPT.js
 *   -e  the target's byte order (default: this machine's)
 *   -s  strip the debug info (line numbers, variable names) as well as the source
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>

#include "cutils.h"

/* Nonzero when the target's byte order differs from this machine's. */
static int target_swap;

static inline uint32_t target_get_u16(const uint8_t *p)
{
	uint16_t v = (uint16_t)get_u16(p);
	return target_swap ? bswap16(v) : v;
}

static inline uint32_t target_get_u32(const uint8_t *p)
{
	uint32_t v = get_u32(p);
	return target_swap ? bswap32(v) : v;
}

static inline int32_t target_get_i32(const uint8_t *p)
{
	return (int32_t)target_get_u32(p);
}

static inline void target_put_u16(uint8_t *p, uint16_t v)
{
	put_u16(p, target_swap ? bswap16(v) : v);
}

static inline void target_put_u32(uint8_t *p, uint32_t v)
{
	put_u32(p, target_swap ? bswap32(v) : v);
}

static inline int target_dbuf_put_u16(DynBuf *s, uint16_t v)
{
	return dbuf_put_u16(s, target_swap ? bswap16(v) : v);
}

static inline int target_dbuf_put_u32(DynBuf *s, uint32_t v)
{
	return dbuf_put_u32(s, target_swap ? bswap32(v) : v);
}

#define get_u16 target_get_u16
#define get_u32 target_get_u32
#define get_i32 target_get_i32
#define put_u16 target_put_u16
#define put_u32 target_put_u32
#define dbuf_put_u16 target_dbuf_put_u16
#define dbuf_put_u32 target_dbuf_put_u32
#include "libregexp.c"
#undef get_u16
#undef get_u32
#undef get_i32
#undef put_u16
#undef put_u32
#undef dbuf_put_u16
#undef dbuf_put_u32

#include "quickjs.h"
#include "lz4-pack.h"

static int host_is_big_endian(void)
{
	const uint16_t one = 1;
	return *(const uint8_t *)&one == 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: qjsc-target [-e big|little] [-s] -N NAME -o OUT.c SCRIPT.js\n");
	exit(2);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "qjsc-target: cannot open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf) {
			fprintf(stderr, "qjsc-target: out of memory reading %s\n", path);
			exit(1);
		}
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap + 1);
	}
	if (ferror(f)) {
		fprintf(stderr, "qjsc-target: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void print_exception(JSContext *ctx, const char *path)
{
	JSValue e = JS_GetException(ctx);
	const char *msg = JS_ToCString(ctx, e);
	JSValue stack = JS_IsObject(e) ? JS_GetPropertyStr(ctx, e, "stack") : JS_UNDEFINED;
	const char *st = JS_IsString(stack) ? JS_ToCString(ctx, stack) : NULL;
	fprintf(stderr, "qjsc-target: %s: %s\n%s", path, msg ? msg : "?", st ? st : "");
}

int main(int argc, char **argv)
{
	const char *name = NULL, *out = NULL, *order = NULL;
	int strip = JS_STRIP_SOURCE, c;
	while ((c = getopt(argc, argv, "e:sN:o:")) != -1) {
		switch (c) {
		case 'e': order = optarg; break;
		case 's': strip = JS_STRIP_DEBUG; break;
		case 'N': name = optarg; break;
		case 'o': out = optarg; break;
		default: usage();
		}
	}
	if (!name || !out || optind != argc - 1)
		usage();
	if (order && strcmp(order, "big") && strcmp(order, "little")) {
		fprintf(stderr, "qjsc-target: -e takes big or little, not %s\n", order);
		exit(2);
	}
	if (order)
		target_swap = (strcmp(order, "big") == 0) != host_is_big_endian();

	const char *path = argv[optind];
	size_t len;
	char *src = read_file(path, &len);

	JSRuntime *rt = JS_NewRuntime();
	JSContext *ctx = rt ? JS_NewContext(rt) : NULL;
	if (!ctx) {
		fprintf(stderr, "qjsc-target: cannot create a QuickJS context\n");
		exit(1);
	}
	JS_SetStripInfo(rt, strip);
	JSValue fn = JS_Eval(ctx, src, len, path, JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY);
	if (JS_IsException(fn)) {
		print_exception(ctx, path);
		exit(1);
	}
	size_t size;
	uint8_t *bc = JS_WriteObject(ctx, &size, fn, JS_WRITE_OBJ_BYTECODE);
	if (!bc) {
		print_exception(ctx, path);
		exit(1);
	}

	FILE *f = fopen(out, "w");
	if (!f) {
		fprintf(stderr, "qjsc-target: cannot write %s: %s\n", out, strerror(errno));
		exit(1);
	}
	fprintf(f, "/* QuickJS bytecode of %s, for a %s-endian target (build/qjsc-target.c). */\n\n",
		path, (target_swap != host_is_big_endian()) ? "big" : "little");
	uint8_t *packed = malloc(lz4_pack_bound(size));
	size_t psize = packed ? lz4_pack(bc, size, packed) : 0;
	if (!psize) {
		fprintf(stderr, "qjsc-target: out of memory packing the bytecode of %s\n", path);
		exit(1);
	}
	fprintf(f, "#include <inttypes.h>\n\nconst uint32_t %s_unpacked_size = %u;\n"
		"const uint32_t %s_size = %u;\n\nconst uint8_t %s[%u] = {\n",
		name, (unsigned)size, name, (unsigned)psize, name, (unsigned)psize);
	for (size_t i = 0; i < psize; i++)
		fprintf(f, "0x%02x,%s", packed[i], (i % 16 == 15 || i + 1 == psize) ? "\n" : "");
	fprintf(f, "};\n");
	if (fclose(f) != 0) {
		fprintf(stderr, "qjsc-target: cannot write %s: %s\n", out, strerror(errno));
		exit(1);
	}
	free(packed);
	js_free(ctx, bc);
	JS_FreeValue(ctx, fn);
	JS_FreeContext(ctx);
	JS_FreeRuntime(rt);
	free(src);
	return 0;
}
