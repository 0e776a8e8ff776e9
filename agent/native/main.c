/* meshwrt: QuickJS with the agent's bytecode and the native module. The
 * engine is built without its parser (bytecode only), so only the
 * intrinsics the agent uses are added. */
#include <stdio.h>
#include <stdlib.h>
#include "runtime.h"
#include "lz4.h"

extern const uint8_t meshwrt_bytecode[];
extern const uint32_t meshwrt_bytecode_size;
extern const uint32_t meshwrt_bytecode_unpacked_size;

static void add_list(JSContext *ctx, JSValue obj, const JSCFunctionListEntry *l, size_t n)
{
	JS_SetPropertyFunctionList(ctx, obj, l, (int)n);
}

int main(int argc, char **argv)
{
	JSRuntime *rt = JS_NewRuntime();
	if (!rt)
		return 70;
	JSContext *ctx = JS_NewContextRaw(rt);
	if (!ctx)
		return 70;
	JS_AddIntrinsicBaseObjects(ctx);
	JS_AddIntrinsicDate(ctx);
	JS_AddIntrinsicRegExpCompiler(ctx);
	JS_AddIntrinsicRegExp(ctx);
	JS_AddIntrinsicJSON(ctx);
	JS_AddIntrinsicMapSet(ctx);
	JS_AddIntrinsicTypedArrays(ctx);
	JS_AddIntrinsicPromise(ctx);

	JSValue global = JS_GetGlobalObject(ctx);
	JSValue native = JS_NewObject(ctx);
	add_list(ctx, native, loop_funcs, loop_funcs_count);
	add_list(ctx, native, sock_funcs, sock_funcs_count);
	add_list(ctx, native, tls_funcs, tls_funcs_count);
	add_list(ctx, native, fs_funcs, fs_funcs_count);
	add_list(ctx, native, proc_funcs, proc_funcs_count);
	add_list(ctx, native, bytes_funcs, bytes_funcs_count);
	JSValue args = JS_NewArray(ctx);
	for (int i = 0; i < argc; i++)
		JS_SetPropertyUint32(ctx, args, i, JS_NewString(ctx, argv[i]));
	JS_SetPropertyStr(ctx, native, "argv", args);
	JS_SetPropertyStr(ctx, native, "engine", JS_NewString(ctx, "QuickJS " QJS_VERSION));
	JS_SetPropertyStr(ctx, global, "__native", native);
	JS_FreeValue(ctx, global);
	loop_init(ctx);

	/* The bytecode is LZ4-packed (build/qjsc-target.c). JS_ReadObject copies
	 * what it keeps (no JS_READ_OBJ_ROM_DATA), so the unpacked copy goes
	 * right after. */
	uint8_t *bc = malloc(meshwrt_bytecode_unpacked_size);
	if (!bc || lz4_unpack(meshwrt_bytecode, meshwrt_bytecode_size, bc, meshwrt_bytecode_unpacked_size)
			!= (long)meshwrt_bytecode_unpacked_size) {
		fprintf(stderr, "[error] meshwrt: the embedded bytecode does not unpack\n");
		return 70;
	}
	JSValue fn = JS_ReadObject(ctx, bc, meshwrt_bytecode_unpacked_size, JS_READ_OBJ_BYTECODE);
	free(bc);
	int code = 0;
	if (JS_IsException(fn)) {
		fprintf(stderr, "[error] meshwrt: the embedded bytecode does not load\n");
		return 70;
	}
	JSValue r = JS_EvalFunction(ctx, fn);
	if (JS_IsException(r)) {
		JSValue e = JS_GetException(ctx);
		const char *msg = JS_ToCString(ctx, e);
		JSValue stack = JS_IsObject(e) ? JS_GetPropertyStr(ctx, e, "stack") : JS_UNDEFINED;
		const char *st = JS_IsString(stack) ? JS_ToCString(ctx, stack) : NULL;
		fprintf(stderr, "[error] meshwrt: %s\n%s", msg ? msg : "?", st ? st : "");
		return 70;
	}
	JS_FreeValue(ctx, r);
	code = loop_run(ctx);
	fflush(stdout);
	/* The process ends here; the OS frees the heap faster than a teardown would. */
	return code;
}
