/* The meshwrt runtime: QuickJS plus thin wrappers around the system calls
 * the agent needs. Protocol logic lives in TypeScript; this file set only
 * moves bytes and reports errors. */
#ifndef MESHWRT_RUNTIME_H
#define MESHWRT_RUNTIME_H

#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>
#include "quickjs.h"

#define countof(a) (sizeof(a) / sizeof((a)[0]))

/* errors.c: every failing call throws an Error naming the call and errno. */
JSValue throw_errno(JSContext *ctx, const char *call, const char *what, int err);
const char *errno_name(int err);
JSValue js_errno_name(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv);
JSValue js_strerror(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv);

/* bytes.c: Uint8Array in and out. */
JSValue new_bytes(JSContext *ctx, const uint8_t *buf, size_t len);
uint8_t *get_bytes(JSContext *ctx, JSValueConst v, size_t *len);
extern const JSCFunctionListEntry bytes_funcs[];
extern const size_t bytes_funcs_count;

/* loop.c: fd watchers, timers, signals, child exits, and the poll loop. */
void loop_init(JSContext *ctx);
int loop_run(JSContext *ctx);
void loop_set_nonblock(int fd);
extern const JSCFunctionListEntry loop_funcs[];
extern const size_t loop_funcs_count;

/* sock.c, tls.c, fs.c, proc.c: the calls, as JS functions. */
extern const JSCFunctionListEntry sock_funcs[];
extern const size_t sock_funcs_count;
extern const JSCFunctionListEntry tls_funcs[];
extern const size_t tls_funcs_count;
extern const JSCFunctionListEntry fs_funcs[];
extern const size_t fs_funcs_count;
extern const JSCFunctionListEntry proc_funcs[];
extern const size_t proc_funcs_count;

/* proc.c: fork() for a child that runs none of our signal handlers. */
pid_t fork_clean(void);
/* proc.c: [pid, fd]: a child runs job, reporting on fd's pipe; the loop never waits. */
JSValue fork_job(JSContext *ctx, const char *call, const char *what, int (*job)(int report, void *arg), void *arg);

/* The process reaped a child: proc.c tells the loop. */
void loop_child_exited(JSContext *ctx, int pid, int status);

#endif
