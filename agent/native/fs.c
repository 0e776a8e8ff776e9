/* Files: read whole, write atomically (temp file, fsync, rename, fsync of
 * the directory; in a child, off the loop), mkdir,
 * chmod, unlink. Missing files read as null rather than throwing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime.h"

#define MAX_FILE (16 << 20)

static JSValue path_arg(JSContext *ctx, JSValueConst v, const char **p)
{
	*p = JS_ToCString(ctx, v);
	return *p ? JS_UNDEFINED : JS_EXCEPTION;
}

static JSValue js_read_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	const char *path;
	(void)this_val; (void)argc;
	if (JS_IsException(path_arg(ctx, argv[0], &path)))
		return JS_EXCEPTION;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		JSValue r = e == ENOENT ? JS_NULL : throw_errno(ctx, "open", path, e);
		JS_FreeCString(ctx, path);
		return r;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	if (!buf) {
		close(fd);
		JSValue r = throw_errno(ctx, "read", path, ENOMEM);
		JS_FreeCString(ctx, path);
		return r;
	}
	JSValue r = JS_UNDEFINED;
	for (;;) {
		if (len == cap) {
			uint8_t *b = cap < MAX_FILE ? realloc(buf, cap * 2) : NULL;
			if (!b) {
				r = throw_errno(ctx, "read", path, cap < MAX_FILE ? ENOMEM : EFBIG);
				break;
			}
			buf = b;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = throw_errno(ctx, "read", path, errno);
			break;
		}
		if (n == 0) {
			r = new_bytes(ctx, buf, len);
			break;
		}
		len += n;
	}
	close(fd);
	free(buf);
	JS_FreeCString(ctx, path);
	return r;
}

/* Writes PATH.tmp, fsyncs it and renames it over PATH: a power cut leaves
 * the old file or the new, never half. Returns 0, or errno with the call in
 * *call and the path it failed on in tmp (the temporary file's name, a
 * buffer of tmpsize bytes). */
static int write_atomic(const char *path, const uint8_t *data, size_t len, int mode, const char **call, char *tmp, size_t tmpsize)
{
	snprintf(tmp, tmpsize, "%s.tmp", path);
	*call = "open";
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return errno;
	fchmod(fd, mode);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			*call = "write";
			close(fd);
			unlink(tmp);
			return e;
		}
		off += n;
	}
	int e = fsync(fd) < 0 ? errno : 0;
	if (close(fd) < 0 && !e)
		e = errno;
	if (e) {
		*call = "fsync";
		unlink(tmp);
		return e;
	}
	if (rename(tmp, path) < 0) {
		e = errno;
		*call = "rename";
		unlink(tmp);
		snprintf(tmp, tmpsize, "%s", path);
		return e;
	}
	/* The rename itself lasts once the directory is on disk too. */
	char *slash = strrchr(tmp, '/');
	if (slash)
		*(slash == tmp ? slash + 1 : slash) = '\0';
	int dfd = open(slash ? tmp : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

struct write_job {
	const char *path;
	const uint8_t *data;
	size_t len;
	int mode;
};

/* The atomic write in a child (fork_job): on flash, or a disk busy with
 * other writes, an fsync takes hundreds of milliseconds. The child reports
 * nothing when the file is in place, or "call path: ENAME (reason)". */
static int write_job(int report, void *arg)
{
	const struct write_job *w = arg;
	const char *call;
	char where[4096];
	int e = write_atomic(w->path, w->data, w->len, w->mode, &call, where, sizeof(where));
	if (e)
		dprintf(report, "%s %s: %s (%s)", call, where, errno_name(e), strerror(e));
	return e ? 1 : 0;
}

/* [pid, fd] of the write's child. */
static JSValue js_write_file_start(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	struct write_job w;
	(void)this_val; (void)argc;
	w.data = get_bytes(ctx, argv[1], &w.len);
	if (!w.data || JS_ToInt32(ctx, &w.mode, argv[2]) || JS_IsException(path_arg(ctx, argv[0], &w.path)))
		return JS_EXCEPTION;
	JSValue r = fork_job(ctx, "write", w.path, write_job, &w);
	JS_FreeCString(ctx, w.path);
	return r;
}

static JSValue js_mkdir(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	const char *path;
	int mode;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &mode, argv[1]) || JS_IsException(path_arg(ctx, argv[0], &path)))
		return JS_EXCEPTION;
	JSValue r = JS_UNDEFINED;
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		r = throw_errno(ctx, "mkdir", path, errno);
	else if (chmod(path, mode) < 0)
		r = throw_errno(ctx, "chmod", path, errno);
	JS_FreeCString(ctx, path);
	return r;
}

static JSValue js_chmod(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	const char *path;
	int mode;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &mode, argv[1]) || JS_IsException(path_arg(ctx, argv[0], &path)))
		return JS_EXCEPTION;
	JSValue r = chmod(path, mode) < 0 ? throw_errno(ctx, "chmod", path, errno) : JS_UNDEFINED;
	JS_FreeCString(ctx, path);
	return r;
}

static JSValue js_unlink(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	const char *path;
	(void)this_val; (void)argc;
	if (JS_IsException(path_arg(ctx, argv[0], &path)))
		return JS_EXCEPTION;
	JSValue r = unlink(path) < 0 && errno != ENOENT ? throw_errno(ctx, "unlink", path, errno) : JS_UNDEFINED;
	JS_FreeCString(ctx, path);
	return r;
}

/* [mode, size] of a path, or null when it does not exist. */
static JSValue js_stat(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	const char *path;
	struct stat st;
	(void)this_val; (void)argc;
	if (JS_IsException(path_arg(ctx, argv[0], &path)))
		return JS_EXCEPTION;
	JSValue r;
	if (stat(path, &st) < 0) {
		r = errno == ENOENT ? JS_NULL : throw_errno(ctx, "stat", path, errno);
	} else {
		r = JS_NewArray(ctx);
		JS_SetPropertyUint32(ctx, r, 0, JS_NewInt32(ctx, st.st_mode));
		JS_SetPropertyUint32(ctx, r, 1, JS_NewInt64(ctx, st.st_size));
	}
	JS_FreeCString(ctx, path);
	return r;
}

const JSCFunctionListEntry fs_funcs[] = {
	JS_CFUNC_DEF("readFile", 1, js_read_file),
	JS_CFUNC_DEF("writeFileStart", 3, js_write_file_start),
	JS_CFUNC_DEF("mkdir", 2, js_mkdir),
	JS_CFUNC_DEF("chmod", 2, js_chmod),
	JS_CFUNC_DEF("unlink", 1, js_unlink),
	JS_CFUNC_DEF("stat", 1, js_stat),
};
const size_t fs_funcs_count = countof(fs_funcs);
