/* Bytes between C and JavaScript are always Uint8Array. */
#include "runtime.h"

JSValue new_bytes(JSContext *ctx, const uint8_t *buf, size_t len)
{
	JSValue ab = JS_NewArrayBufferCopy(ctx, buf, len);
	if (JS_IsException(ab))
		return ab;
	/* The constructor reads offset and length whatever argc says: pass all three. */
	JSValue args[3] = {ab, JS_NewInt32(ctx, 0), JS_NewInt64(ctx, (int64_t)len)};
	JSValue u8 = JS_NewTypedArray(ctx, 3, args, JS_TYPED_ARRAY_UINT8);
	JS_FreeValue(ctx, ab);
	return u8;
}

/* The bytes of a Uint8Array (or any typed array view); NULL with an exception set otherwise. */
uint8_t *get_bytes(JSContext *ctx, JSValueConst v, size_t *len)
{
	size_t off, n, per;
	JSValue ab = JS_GetTypedArrayBuffer(ctx, v, &off, &n, &per);
	if (JS_IsException(ab))
		return NULL;
	size_t total;
	uint8_t *p = JS_GetArrayBuffer(ctx, &total, ab);
	JS_FreeValue(ctx, ab);
	if (!p)
		return NULL;
	*len = n;
	return p + off;
}

/* The bytes as a string when they are all ASCII, else null (the caller decodes
 * them itself): a map message's text, a character per byte, made in JavaScript
 * cost ~20 ns a byte in QuickJS. */
static JSValue js_ascii_text(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	size_t len;
	(void)this_val; (void)argc;
	const uint8_t *p = get_bytes(ctx, argv[0], &len);
	if (!p)
		return JS_EXCEPTION;
	for (size_t i = 0; i < len; i++)
		if (p[i] & 0x80)
			return JS_NULL;
	return JS_NewStringLen(ctx, (const char *)p, len);
}

const JSCFunctionListEntry bytes_funcs[] = {
	JS_CFUNC_DEF("asciiText", 1, js_ascii_text),
};
const size_t bytes_funcs_count = sizeof(bytes_funcs) / sizeof(bytes_funcs[0]);
