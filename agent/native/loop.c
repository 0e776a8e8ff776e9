/* The event loop: poll(2) over watched descriptors, timers on the
 * monotonic clock, signals through a self-pipe, child exits. After every
 * callback the promise jobs run, so async TypeScript behaves as in Node.
 * An exception in a callback, or a promise rejected with no handler, is
 * logged with its stack; the loop goes on. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "runtime.h"

enum { EV_READ = 1, EV_WRITE = 2, EV_ERROR = 4 };

struct watcher { int fd; int events; JSValue fn; };
struct timer { int64_t id; double when; JSValue fn; };

static struct watcher *watchers;
static size_t nwatchers, capwatchers;
static struct timer *timers;
static size_t ntimers, captimers;
static int64_t next_timer_id = 1;
static JSValue signal_fns[3]; /* TERM, HUP, INT */
static const int signal_nos[3] = {SIGTERM, SIGHUP, SIGINT};
static const char *signal_names[3] = {"TERM", "HUP", "INT"};
static JSValue child_fn;
static int sigpipe[2] = {-1, -1};
static int exit_code = -1;

void loop_set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void report(JSContext *ctx)
{
	JSValue e = JS_GetException(ctx);
	const char *msg = JS_ToCString(ctx, e);
	JSValue stack = JS_GetPropertyStr(ctx, e, "stack");
	const char *st = JS_IsUndefined(stack) ? NULL : JS_ToCString(ctx, stack);
	fprintf(stderr, "[error] uncaught: %s\n%s", msg ? msg : "?", st ? st : "");
	JS_FreeCString(ctx, msg);
	if (st)
		JS_FreeCString(ctx, st);
	JS_FreeValue(ctx, stack);
	JS_FreeValue(ctx, e);
}

/* Promises rejected with no handler yet. One that still has none when the
 * jobs of a callback have all run is logged, as Node does: an async
 * function's failure would otherwise vanish. */
#define MAX_REJECTED 32
static JSValue rejected[MAX_REJECTED], rejected_reason[MAX_REJECTED];
static size_t nrejected;

static void on_rejection(JSContext *ctx, JSValueConst promise, JSValueConst reason, JS_BOOL is_handled, void *opaque)
{
	(void)opaque;
	if (is_handled) {
		for (size_t i = 0; i < nrejected; i++) {
			if (JS_VALUE_GET_PTR(rejected[i]) == JS_VALUE_GET_PTR(promise)) {
				JS_FreeValue(ctx, rejected[i]);
				JS_FreeValue(ctx, rejected_reason[i]);
				nrejected--;
				rejected[i] = rejected[nrejected];
				rejected_reason[i] = rejected_reason[nrejected];
				break;
			}
		}
		return;
	}
	if (nrejected == MAX_REJECTED) {
		fprintf(stderr, "[error] unhandled rejection (more than %d at once)\n", MAX_REJECTED);
		return;
	}
	rejected[nrejected] = JS_DupValue(ctx, promise);
	rejected_reason[nrejected++] = JS_DupValue(ctx, reason);
}

static void report_rejections(JSContext *ctx)
{
	while (nrejected) {
		/* Both taken first: toString may run JS that rejects again. */
		nrejected--;
		JSValue r = rejected_reason[nrejected], p = rejected[nrejected];
		const char *msg = JS_ToCString(ctx, r);
		JSValue stack = JS_IsObject(r) ? JS_GetPropertyStr(ctx, r, "stack") : JS_UNDEFINED;
		const char *st = JS_IsUndefined(stack) ? NULL : JS_ToCString(ctx, stack);
		fprintf(stderr, "[error] unhandled rejection: %s\n%s", msg ? msg : "?", st ? st : "");
		if (msg)
			JS_FreeCString(ctx, msg);
		if (st)
			JS_FreeCString(ctx, st);
		JS_FreeValue(ctx, stack);
		JS_FreeValue(ctx, r);
		JS_FreeValue(ctx, p);
	}
}

static void run_jobs(JSContext *ctx)
{
	JSContext *c;
	for (;;) {
		int r = JS_ExecutePendingJob(JS_GetRuntime(ctx), &c);
		if (r == 0)
			break;
		if (r < 0)
			report(c);
	}
	report_rejections(ctx);
}

static void call(JSContext *ctx, JSValueConst fn, int argc, JSValueConst *argv)
{
	JSValue r = JS_Call(ctx, fn, JS_UNDEFINED, argc, argv);
	if (JS_IsException(r))
		report(ctx);
	JS_FreeValue(ctx, r);
	run_jobs(ctx);
}

static void on_signal(int no)
{
	int saved = errno;
	unsigned char b = (unsigned char)no;
	if (write(sigpipe[1], &b, 1) < 0) {
		/* the pipe is full: the loop is behind on signals already */
	}
	errno = saved;
}

void loop_init(JSContext *ctx)
{
	for (size_t i = 0; i < countof(signal_fns); i++)
		signal_fns[i] = JS_UNDEFINED;
	child_fn = JS_UNDEFINED;
	/* Without the self-pipe every signal, SIGTERM and SIGCHLD included, would be lost: say so and stop. */
	if (pipe(sigpipe) != 0) {
		int e = errno;
		fprintf(stderr, "[error] meshwrt: signals: pipe: %s (%s); cannot run without them\n", errno_name(e), strerror(e));
		exit(71);
	}
	loop_set_nonblock(sigpipe[0]);
	loop_set_nonblock(sigpipe[1]);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	JS_SetHostPromiseRejectionTracker(JS_GetRuntime(ctx), on_rejection, NULL);
}

static JSValue js_watch(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd, events;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]) || JS_ToInt32(ctx, &events, argv[1]))
		return JS_EXCEPTION;
	if (!JS_IsFunction(ctx, argv[2]))
		return JS_ThrowTypeError(ctx, "watch: callback is not a function");
	for (size_t i = 0; i < nwatchers; i++) {
		if (watchers[i].fd == fd) {
			JS_FreeValue(ctx, watchers[i].fn);
			watchers[i].fn = JS_DupValue(ctx, argv[2]);
			watchers[i].events = events;
			return JS_UNDEFINED;
		}
	}
	if (nwatchers == capwatchers) {
		size_t cap = capwatchers ? capwatchers * 2 : 16;
		struct watcher *w = realloc(watchers, cap * sizeof(*w));
		if (!w)
			return throw_errno(ctx, "watch", NULL, ENOMEM);
		watchers = w;
		capwatchers = cap;
	}
	watchers[nwatchers++] = (struct watcher){fd, events, JS_DupValue(ctx, argv[2])};
	return JS_UNDEFINED;
}

static JSValue js_unwatch(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	for (size_t i = 0; i < nwatchers; i++) {
		if (watchers[i].fd == fd) {
			JS_FreeValue(ctx, watchers[i].fn);
			watchers[i] = watchers[--nwatchers];
			break;
		}
	}
	return JS_UNDEFINED;
}

static JSValue js_set_timer(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	double ms;
	(void)this_val; (void)argc;
	if (JS_ToFloat64(ctx, &ms, argv[0]))
		return JS_EXCEPTION;
	if (!JS_IsFunction(ctx, argv[1]))
		return JS_ThrowTypeError(ctx, "setTimer: callback is not a function");
	if (ntimers == captimers) {
		size_t cap = captimers ? captimers * 2 : 16;
		struct timer *t = realloc(timers, cap * sizeof(*t));
		if (!t)
			return throw_errno(ctx, "setTimer", NULL, ENOMEM);
		timers = t;
		captimers = cap;
	}
	int64_t id = next_timer_id++;
	timers[ntimers++] = (struct timer){id, mono_ms() + (ms > 0 ? ms : 0), JS_DupValue(ctx, argv[1])};
	return JS_NewInt64(ctx, id);
}

static JSValue js_clear_timer(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int64_t id;
	(void)this_val; (void)argc;
	if (JS_ToInt64(ctx, &id, argv[0]))
		return JS_EXCEPTION;
	for (size_t i = 0; i < ntimers; i++) {
		if (timers[i].id == id) {
			JS_FreeValue(ctx, timers[i].fn);
			memmove(&timers[i], &timers[i + 1], (ntimers - i - 1) * sizeof(*timers));
			ntimers--;
			break;
		}
	}
	return JS_UNDEFINED;
}

static JSValue js_on_signal(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	const char *name = JS_ToCString(ctx, argv[0]);
	(void)this_val; (void)argc;
	if (!name)
		return JS_EXCEPTION;
	for (size_t i = 0; i < countof(signal_names); i++) {
		if (strcmp(name, signal_names[i]) == 0) {
			JS_FreeCString(ctx, name);
			JS_FreeValue(ctx, signal_fns[i]);
			signal_fns[i] = JS_DupValue(ctx, argv[1]);
			struct sigaction sa;
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = JS_IsFunction(ctx, argv[1]) ? on_signal : SIG_DFL;
			sa.sa_flags = SA_RESTART;
			sigaction(signal_nos[i], &sa, NULL);
			return JS_UNDEFINED;
		}
	}
	JS_ThrowTypeError(ctx, "onSignal: unknown signal %s (TERM, HUP or INT)", name);
	JS_FreeCString(ctx, name);
	return JS_EXCEPTION;
}

static JSValue js_on_child(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val; (void)argc;
	JS_FreeValue(ctx, child_fn);
	child_fn = JS_DupValue(ctx, argv[0]);
	return JS_UNDEFINED;
}

void loop_child_exited(JSContext *ctx, int pid, int status)
{
	if (!JS_IsFunction(ctx, child_fn))
		return;
	JSValue args[2] = {JS_NewInt32(ctx, pid),
			   JS_NewInt32(ctx, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status))};
	JSValue fn = JS_DupValue(ctx, child_fn);
	call(ctx, fn, 2, args);
	JS_FreeValue(ctx, fn);
}

static JSValue js_now(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	struct timespec ts;
	(void)this_val; (void)argc; (void)argv;
	clock_gettime(CLOCK_REALTIME, &ts);
	return JS_NewFloat64(ctx, ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
}

static JSValue js_mono(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val; (void)argc; (void)argv;
	return JS_NewFloat64(ctx, mono_ms());
}

static JSValue js_random(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int n;
	uint8_t buf[256];
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &n, argv[0]))
		return JS_EXCEPTION;
	if (n < 0 || n > (int)sizeof(buf))
		return JS_ThrowRangeError(ctx, "random: %d bytes asked, at most %zu", n, sizeof(buf));
	for (int got = 0; got < n;) {
		ssize_t r = getrandom(buf + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return throw_errno(ctx, "getrandom", NULL, errno);
		}
		got += r;
	}
	return new_bytes(ctx, buf, n);
}

static JSValue js_log(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	const char *level = JS_ToCString(ctx, argv[0]);
	const char *msg = argc > 1 ? JS_ToCString(ctx, argv[1]) : NULL;
	(void)this_val;
	fprintf(stderr, "[%s] %s\n", level ? level : "?", msg ? msg : "");
	JS_FreeCString(ctx, level);
	if (msg)
		JS_FreeCString(ctx, msg);
	return JS_UNDEFINED;
}

/* QuickJS collects cycles by itself only once its heap has grown by half
 * since the last collection; the agent asks for one after a connection
 * closed (host/env.ts), when its cycles became garbage. */
static JSValue js_gc(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val; (void)argc; (void)argv;
	JS_RunGC(JS_GetRuntime(ctx));
	return JS_UNDEFINED;
}

static JSValue js_exit(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int code = 0;
	(void)this_val;
	if (argc > 0 && JS_ToInt32(ctx, &code, argv[0]))
		return JS_EXCEPTION;
	exit_code = code & 0xff;
	return JS_UNDEFINED;
}

static int alive(void)
{
	if (nwatchers || ntimers)
		return 1;
	for (size_t i = 0; i < countof(signal_fns); i++)
		if (!JS_IsUndefined(signal_fns[i]) && !JS_IsNull(signal_fns[i]))
			return 1;
	return 0;
}

static void drain_signals(JSContext *ctx)
{
	unsigned char b;
	while (read(sigpipe[0], &b, 1) == 1) {
		if (b == SIGCHLD) {
			int status, pid;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				loop_child_exited(ctx, pid, status);
			continue;
		}
		for (size_t i = 0; i < countof(signal_nos); i++) {
			if (signal_nos[i] == b && JS_IsFunction(ctx, signal_fns[i])) {
				JSValue fn = JS_DupValue(ctx, signal_fns[i]);
				call(ctx, fn, 0, NULL);
				JS_FreeValue(ctx, fn);
			}
		}
	}
}

int loop_run(JSContext *ctx)
{
	run_jobs(ctx);
	struct pollfd *pfds = NULL;
	size_t cap = 0;
	while (exit_code < 0 && alive()) {
		int timeout = -1;
		double now = mono_ms();
		for (size_t i = 0; i < ntimers; i++) {
			double d = timers[i].when - now;
			int ms = d <= 0 ? 0 : (int)(d + 0.999);
			if (timeout < 0 || ms < timeout)
				timeout = ms;
		}
		size_t n = nwatchers + 1;
		if (n > cap) {
			struct pollfd *p = realloc(pfds, n * sizeof(*p));
			if (!p)
				return 70;
			pfds = p;
			cap = n;
		}
		pfds[0] = (struct pollfd){sigpipe[0], POLLIN, 0};
		for (size_t i = 0; i < nwatchers; i++)
			pfds[i + 1] = (struct pollfd){watchers[i].fd,
						      (short)(((watchers[i].events & EV_READ) ? POLLIN : 0) |
							      ((watchers[i].events & EV_WRITE) ? POLLOUT : 0)),
						      0};
		int r = poll(pfds, n, timeout);
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "[error] poll: %s (%s)\n", errno_name(errno), strerror(errno));
			return 71;
		}
		if (pfds[0].revents)
			drain_signals(ctx);
		/* Watchers may change inside callbacks: look each fd up again. */
		for (size_t i = 1; r > 0 && i < n && exit_code < 0; i++) {
			if (!pfds[i].revents)
				continue;
			int fd = pfds[i].fd;
			for (size_t k = 0; k < nwatchers; k++) {
				if (watchers[k].fd != fd)
					continue;
				int ev = ((pfds[i].revents & POLLIN) ? EV_READ : 0) | ((pfds[i].revents & POLLOUT) ? EV_WRITE : 0) |
					 ((pfds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) ? EV_ERROR : 0);
				JSValue fn = JS_DupValue(ctx, watchers[k].fn);
				JSValue arg = JS_NewInt32(ctx, ev);
				call(ctx, fn, 1, &arg);
				JS_FreeValue(ctx, fn);
				break;
			}
		}
		/* Due timers, earliest deadline first (then the order they were
		 * set in). Timers set by these callbacks wait for the next round,
		 * so a zero-delay timer that re-arms itself cannot starve the I/O. */
		now = mono_ms();
		int64_t limit = next_timer_id;
		while (exit_code < 0) {
			size_t due = ntimers;
			for (size_t i = 0; i < ntimers; i++) {
				if (timers[i].when > now || timers[i].id >= limit)
					continue;
				if (due == ntimers || timers[i].when < timers[due].when ||
				    (timers[i].when == timers[due].when && timers[i].id < timers[due].id))
					due = i;
			}
			if (due == ntimers)
				break;
			JSValue fn = timers[due].fn;
			memmove(&timers[due], &timers[due + 1], (ntimers - due - 1) * sizeof(*timers));
			ntimers--;
			call(ctx, fn, 0, NULL);
			JS_FreeValue(ctx, fn);
		}
	}
	free(pfds);
	return exit_code < 0 ? 0 : exit_code;
}

const JSCFunctionListEntry loop_funcs[] = {
	JS_CFUNC_DEF("watch", 3, js_watch),
	JS_CFUNC_DEF("unwatch", 1, js_unwatch),
	JS_CFUNC_DEF("setTimer", 2, js_set_timer),
	JS_CFUNC_DEF("clearTimer", 1, js_clear_timer),
	JS_CFUNC_DEF("onSignal", 2, js_on_signal),
	JS_CFUNC_DEF("onChild", 1, js_on_child),
	JS_CFUNC_DEF("now", 0, js_now),
	JS_CFUNC_DEF("mono", 0, js_mono),
	JS_CFUNC_DEF("random", 1, js_random),
	JS_CFUNC_DEF("log", 2, js_log),
	JS_CFUNC_DEF("exit", 1, js_exit),
	JS_CFUNC_DEF("gc", 0, js_gc),
	JS_CFUNC_DEF("errnoName", 1, js_errno_name),
	JS_CFUNC_DEF("strerror", 1, js_strerror),
};
const size_t loop_funcs_count = countof(loop_funcs);
