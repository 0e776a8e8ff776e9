/* Processes: spawn with pipes for stdin, stdout and stderr. The exit comes
 * back through the loop's child callback (SIGCHLD). A program that cannot
 * be executed is an exception ("spawn nft: ENOENT ..."), not an exit 127.
 * And children of our own for a job that blocks (fork_job). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "runtime.h"

#define MAX_ARGS 64

/* fork() for a child that runs none of our code: signals wait (blocked)
 * until the child has dropped our handlers, since until then they would run
 * ours and write to the loop's signal pipe; the child gets default handlers
 * (SIGPIPE too: an ignored signal stays ignored across exec) and the old
 * mask. Returns as fork() does, errno kept on failure. */
pid_t fork_clean(void)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t pid = fork();
	if (pid == 0) {
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 0;
	}
	int fork_errno = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = fork_errno;
	return pid;
}

/* A child for one job that blocks (a name lookup, a write to disk), so that
 * only the child waits, never the loop: it runs job with the write end of a
 * pipe for its report and exits with what job returns. Returns [pid, the
 * pipe's read end], nonblocking, to read to its end; or throws "CALL WHAT:
 * ENAME (reason)". */
JSValue fork_job(JSContext *ctx, const char *call, const char *what, int (*job)(int report, void *arg), void *arg)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return throw_errno(ctx, call, what, errno);
	pid_t pid = fork_clean();
	if (pid == 0) {
		close(p[0]);
		_exit(job(p[1], arg));
	}
	int fork_errno = errno;
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return throw_errno(ctx, call, what, fork_errno);
	}
	loop_set_nonblock(p[0]);
	JSValue r = JS_NewArray(ctx);
	JS_SetPropertyUint32(ctx, r, 0, JS_NewInt32(ctx, pid));
	JS_SetPropertyUint32(ctx, r, 1, JS_NewInt32(ctx, p[0]));
	return r;
}

static JSValue js_spawn(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	const char *args[MAX_ARGS + 1] = {0};
	uint32_t n = 0;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, ex[2] = {-1, -1};
	JSValue r = JS_EXCEPTION;
	(void)this_val; (void)argc;
	JSValue lenv = JS_GetPropertyStr(ctx, argv[0], "length");
	if (JS_ToUint32(ctx, &n, lenv) || n == 0 || n > MAX_ARGS) {
		JS_FreeValue(ctx, lenv);
		return JS_ThrowRangeError(ctx, "spawn: want 1 to %d arguments", MAX_ARGS);
	}
	JS_FreeValue(ctx, lenv);
	for (uint32_t i = 0; i < n; i++) {
		JSValue v = JS_GetPropertyUint32(ctx, argv[0], i);
		args[i] = JS_ToCString(ctx, v);
		JS_FreeValue(ctx, v);
		if (!args[i])
			goto out;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    pipe2(ex, O_CLOEXEC) < 0) {
		r = throw_errno(ctx, "spawn", args[0], errno);
		goto out;
	}
	pid_t pid = fork_clean();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execvp(args[0], (char *const *)args);
		/* ex[1] closes on a successful exec; on failure it carries errno. */
		int e = errno;
		ssize_t w = write(ex[1], &e, sizeof(e));
		(void)w;
		_exit(127);
	}
	if (pid < 0) {
		r = throw_errno(ctx, "fork", args[0], errno);
		goto out;
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	close(ex[1]);
	in[0] = out[1] = err[1] = ex[1] = -1;
	int e = 0;
	ssize_t got;
	while ((got = read(ex[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof(e)) {
		/* Reaped here, so the loop's child callback never hears of it. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		r = throw_errno(ctx, "spawn", args[0], e);
		goto out;
	}
	loop_set_nonblock(in[1]);
	loop_set_nonblock(out[0]);
	loop_set_nonblock(err[0]);
	r = JS_NewArray(ctx);
	JS_SetPropertyUint32(ctx, r, 0, JS_NewInt32(ctx, pid));
	JS_SetPropertyUint32(ctx, r, 1, JS_NewInt32(ctx, in[1]));
	JS_SetPropertyUint32(ctx, r, 2, JS_NewInt32(ctx, out[0]));
	JS_SetPropertyUint32(ctx, r, 3, JS_NewInt32(ctx, err[0]));
	in[1] = out[0] = err[0] = -1;
	in[0] = out[1] = err[1] = -1;
out:
	for (int *p = in; p < in + 2; p++) if (*p >= 0) close(*p);
	for (int *p = out; p < out + 2; p++) if (*p >= 0) close(*p);
	for (int *p = err; p < err + 2; p++) if (*p >= 0) close(*p);
	for (int *p = ex; p < ex + 2; p++) if (*p >= 0) close(*p);
	for (uint32_t i = 0; i < n; i++)
		if (args[i])
			JS_FreeCString(ctx, args[i]);
	return r;
}

static JSValue js_kill(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int pid, sig;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &pid, argv[0]) || JS_ToInt32(ctx, &sig, argv[1]))
		return JS_EXCEPTION;
	if (kill(pid, sig) < 0 && errno != ESRCH)
		return throw_errno(ctx, "kill", NULL, errno);
	return JS_UNDEFINED;
}

const JSCFunctionListEntry proc_funcs[] = {
	JS_CFUNC_DEF("spawn", 1, js_spawn),
	JS_CFUNC_DEF("kill", 2, js_kill),
};
const size_t proc_funcs_count = countof(proc_funcs);
