/* Errors as JS exceptions: "connect 127.0.0.1:9: ECONNREFUSED (Connection
 * refused)". Names come from this build's errno values, which differ on
 * MIPS, so TypeScript compares names, never numbers. */
#include <errno.h>
#include <string.h>
#include "runtime.h"

static const struct { int no; const char *name; } names[] = {
	{EPERM, "EPERM"}, {ENOENT, "ENOENT"}, {ESRCH, "ESRCH"}, {EINTR, "EINTR"}, {EIO, "EIO"},
	{ENXIO, "ENXIO"}, {E2BIG, "E2BIG"}, {ENOEXEC, "ENOEXEC"}, {EBADF, "EBADF"}, {ECHILD, "ECHILD"},
	{EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"}, {EACCES, "EACCES"}, {EFAULT, "EFAULT"}, {EBUSY, "EBUSY"},
	{EEXIST, "EEXIST"}, {EXDEV, "EXDEV"}, {ENODEV, "ENODEV"}, {ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"},
	{EINVAL, "EINVAL"}, {ENFILE, "ENFILE"}, {EMFILE, "EMFILE"}, {ENOSPC, "ENOSPC"}, {EPIPE, "EPIPE"},
	{ERANGE, "ERANGE"}, {ENAMETOOLONG, "ENAMETOOLONG"}, {ENOSYS, "ENOSYS"}, {ENOTEMPTY, "ENOTEMPTY"},
	{ENOBUFS, "ENOBUFS"}, {EOPNOTSUPP, "EOPNOTSUPP"}, {EAFNOSUPPORT, "EAFNOSUPPORT"},
	{EPROTONOSUPPORT, "EPROTONOSUPPORT"}, {EADDRINUSE, "EADDRINUSE"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
	{ENETDOWN, "ENETDOWN"}, {ENETUNREACH, "ENETUNREACH"}, {ECONNABORTED, "ECONNABORTED"},
	{ECONNRESET, "ECONNRESET"}, {EISCONN, "EISCONN"}, {ENOTCONN, "ENOTCONN"}, {ETIMEDOUT, "ETIMEDOUT"},
	{ECONNREFUSED, "ECONNREFUSED"}, {EHOSTUNREACH, "EHOSTUNREACH"}, {EALREADY, "EALREADY"},
	{EINPROGRESS, "EINPROGRESS"}, {EMSGSIZE, "EMSGSIZE"}, {ENOTSUP, "ENOTSUP"}, {ENODATA, "ENODATA"},
	{EPROTO, "EPROTO"}, {ENOTSOCK, "ENOTSOCK"},
};

const char *errno_name(int err)
{
	for (size_t i = 0; i < countof(names); i++)
		if (names[i].no == err)
			return names[i].name;
	return "E?";
}

JSValue throw_errno(JSContext *ctx, const char *call, const char *what, int err)
{
	JSValue e = JS_NewError(ctx);
	char msg[512];
	if (what && *what)
		snprintf(msg, sizeof(msg), "%s %s: %s (%s)", call, what, errno_name(err), strerror(err));
	else
		snprintf(msg, sizeof(msg), "%s: %s (%s)", call, errno_name(err), strerror(err));
	JS_SetPropertyStr(ctx, e, "message", JS_NewString(ctx, msg));
	JS_SetPropertyStr(ctx, e, "errno", JS_NewInt32(ctx, err));
	JS_SetPropertyStr(ctx, e, "code", JS_NewString(ctx, errno_name(err)));
	return JS_Throw(ctx, e);
}

JSValue js_errno_name(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int err = 0;
	(void)this_val; (void)argc;
	JS_ToInt32(ctx, &err, argv[0]);
	return JS_NewString(ctx, errno_name(err));
}

JSValue js_strerror(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int err = 0;
	char msg[256];
	(void)this_val; (void)argc;
	JS_ToInt32(ctx, &err, argv[0]);
	snprintf(msg, sizeof(msg), "%s (%s)", errno_name(err), strerror(err));
	return JS_NewString(ctx, msg);
}
