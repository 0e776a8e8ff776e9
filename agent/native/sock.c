/* Sockets: UDP and TCP over IPv4 and IPv6, AF_UNIX streams, raw netlink.
 * All non-blocking; EAGAIN is "nothing now" (null or 0), never an error. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "runtime.h"

/* The netlink socket ABI (linux/netlink.h), stated here: musl's toolchain
 * carries no kernel headers. */
struct sockaddr_nl {
	sa_family_t nl_family;
	unsigned short nl_pad;
	uint32_t nl_pid;
	uint32_t nl_groups;
};
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#define NETLINK_ADD_MEMBERSHIP 1
#define NETLINK_EXT_ACK 11

static uint8_t rxbuf[65536];

/* Fills `sa` from an IP string and a port; 0, or -1 when the IP does not parse. */
static int sockaddr_of(const char *ip, int port, struct sockaddr_storage *sa, socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}

static JSValue addr_pair(JSContext *ctx, const struct sockaddr_storage *sa, JSValue first)
{
	char ip[INET6_ADDRSTRLEN] = "";
	int port = 0;
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
	}
	JSValue a = JS_NewArray(ctx);
	JS_SetPropertyUint32(ctx, a, 0, first);
	JS_SetPropertyUint32(ctx, a, 1, JS_NewString(ctx, ip));
	JS_SetPropertyUint32(ctx, a, 2, JS_NewInt32(ctx, port));
	return a;
}

#define ARG_ADDR(call)                                                                   \
	const char *ip = JS_ToCString(ctx, argv[0]);                                       \
	int port = 0;                                                                        \
	struct sockaddr_storage sa;                                                          \
	socklen_t salen;                                                                     \
	char what[80];                                                                       \
	if (!ip || JS_ToInt32(ctx, &port, argv[1])) {                                        \
		JS_FreeCString(ctx, ip);                                                       \
		return JS_EXCEPTION;                                                           \
	}                                                                                    \
	snprintf(what, sizeof(what), strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);       \
	if (sockaddr_of(ip, port, &sa, &salen) < 0 || port < 0 || port > 65535) {            \
		JS_FreeCString(ctx, ip);                                                       \
		return throw_errno(ctx, call, what, EINVAL);                                   \
	}                                                                                    \
	JS_FreeCString(ctx, ip)

/* A socket just bound: [fd, ip, port] of where it ended up (port 0: the kernel's pick). */
static JSValue bound_pair(JSContext *ctx, int fd)
{
	struct sockaddr_storage got;
	socklen_t glen = sizeof(got);
	getsockname(fd, (struct sockaddr *)&got, &glen);
	return addr_pair(ctx, &got, JS_NewInt32(ctx, fd));
}

static JSValue js_udp_bind(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val; (void)argc;
	ARG_ADDR("bind udp");
	int fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return throw_errno(ctx, "socket udp", what, errno);
	/* Dual-stack unless asked for IPv6 only (argv[3]): an IPv6-only socket can
	 * share its port number with an IPv4 socket, as tailscale's pconn4/pconn6. */
	if (sa.ss_family == AF_INET6) {
		int only = argc > 3 && JS_ToBool(ctx, argv[3]);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof(only));
	}
	/* A receive buffer asked for (bytes): past net.core.rmem_max when we may
	 * (root), else as much as the kernel allows. Bursts from the kernel's
	 * WireGuard (a GSO batch is ~45 datagrams) must not overflow the default. */
	int rcvbuf = 0;
	if (argc > 2 && !JS_IsUndefined(argv[2]) && JS_ToInt32(ctx, &rcvbuf, argv[2])) {
		close(fd);
		return JS_EXCEPTION;
	}
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* Transparent (argv[4]): nftables' tproxy may hand it datagrams sent to
	 * another socket's port (the kernel's WireGuard's), which it refuses to
	 * do for any other socket. Needs CAP_NET_ADMIN: the error says so. */
	if (argc > 4 && JS_ToBool(ctx, argv[4])) {
		int on = 1;
		int r = sa.ss_family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &on, sizeof(on))
		                                 : setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &on, sizeof(on));
		if (r < 0) {
			int e = errno;
			close(fd);
			return throw_errno(ctx, "bind udp: IP_TRANSPARENT", what, e);
		}
	}
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
		int e = errno;
		close(fd);
		return throw_errno(ctx, "bind udp", what, e);
	}
	return bound_pair(ctx, fd);
}

static JSValue js_udp_send(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	size_t len;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	uint8_t *data = get_bytes(ctx, argv[1], &len);
	if (!data)
		return JS_EXCEPTION;
	argv += 2;
	ARG_ADDR("sendto");
	if (sendto(fd, data, len, 0, (struct sockaddr *)&sa, salen) < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return JS_FALSE;
		return throw_errno(ctx, "sendto", what, errno);
	}
	return JS_TRUE;
}

static JSValue js_udp_recv(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	ssize_t n = recvfrom(fd, rxbuf, sizeof(rxbuf), 0, (struct sockaddr *)&sa, &salen);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return JS_NULL;
		return throw_errno(ctx, "recvfrom", NULL, errno);
	}
	return addr_pair(ctx, &sa, new_bytes(ctx, rxbuf, n));
}

/* Connects a UDP socket: the kernel then drops datagrams from any other
 * address, and read/write/readInto carry datagrams with no address made or
 * parsed (the relay bridge's per-packet path). */
static JSValue js_udp_connect(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	argv += 1;
	ARG_ADDR("connect udp");
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0)
		return throw_errno(ctx, "connect udp", what, errno);
	return JS_UNDEFINED;
}

/* Reads into a Uint8Array from `offset` to its end, with no new buffer: the
 * byte count, or null (nothing now). A datagram longer than the room is cut. */
static JSValue js_read_into(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd, off;
	size_t len;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]) || JS_ToInt32(ctx, &off, argv[2]))
		return JS_EXCEPTION;
	uint8_t *buf = get_bytes(ctx, argv[1], &len);
	if (!buf)
		return JS_EXCEPTION;
	if (off < 0 || (size_t)off > len)
		return throw_errno(ctx, "readInto", "offset", EINVAL);
	ssize_t n = read(fd, buf + off, len - (size_t)off);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return JS_NULL;
		return throw_errno(ctx, "read", NULL, errno);
	}
	return JS_NewInt32(ctx, (int32_t)n);
}

/* SO_MEMINFO's layout (linux/sock_diag.h): the ninth counter is the datagrams
 * the kernel dropped for the socket, its receive buffer full. The option's
 * number is the same on every Linux architecture. */
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#define SK_MEMINFO_DROPS 8

/* Datagrams the kernel dropped for a socket since it was made (a full receive buffer). */
static JSValue js_sock_drops(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	uint32_t mem[SK_MEMINFO_DROPS + 1] = {0};
	socklen_t len = sizeof(mem);
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0)
		return throw_errno(ctx, "getsockopt SO_MEMINFO", NULL, errno);
	return JS_NewUint32(ctx, len == sizeof(mem) ? mem[SK_MEMINFO_DROPS] : 0);
}

static JSValue js_tcp_connect(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val; (void)argc;
	ARG_ADDR("connect");
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return throw_errno(ctx, "socket tcp", what, errno);
	/* Control messages are small and answered: no Nagle delay (as Go does). */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return throw_errno(ctx, "connect", what, e);
	}
	return JS_NewInt32(ctx, fd);
}

/* A listening TCP socket on ip:port (port 0: the kernel picks): [fd, ip, port]. */
static JSValue js_tcp_listen(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val; (void)argc;
	ARG_ADDR("listen tcp");
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return throw_errno(ctx, "socket tcp", what, errno);
	/* A restart must not wait out the last run's TIME_WAIT connections. */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		return throw_errno(ctx, "listen tcp", what, e);
	}
	return bound_pair(ctx, fd);
}

/* Who is at the other end of a connected socket: [fd, ip, port]. */
static JSValue js_peer_addr(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	if (getpeername(fd, (struct sockaddr *)&sa, &salen) < 0)
		return throw_errno(ctx, "getpeername", NULL, errno);
	return addr_pair(ctx, &sa, JS_NewInt32(ctx, fd));
}

/* The outcome of a non-blocking connect: 0, or the errno it failed with. */
static JSValue js_sock_error(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd, err = 0;
	socklen_t len = sizeof(err);
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	return JS_NewInt32(ctx, err);
}

static int unix_addr(JSContext *ctx, JSValueConst v, struct sockaddr_un *su, char *path, size_t pathlen)
{
	const char *p = JS_ToCString(ctx, v);
	if (!p)
		return -1;
	snprintf(path, pathlen, "%s", p);
	JS_FreeCString(ctx, p);
	memset(su, 0, sizeof(*su));
	su->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(su->sun_path))
		return -2;
	strcpy(su->sun_path, path);
	return 0;
}

static JSValue js_unix_connect(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	struct sockaddr_un su;
	char path[256];
	(void)this_val; (void)argc;
	int r = unix_addr(ctx, argv[0], &su, path, sizeof(path));
	if (r == -1)
		return JS_EXCEPTION;
	if (r == -2)
		return throw_errno(ctx, "connect unix", path, ENAMETOOLONG);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return throw_errno(ctx, "socket unix", path, errno);
	if (connect(fd, (struct sockaddr *)&su, sizeof(su)) < 0) {
		int e = errno;
		close(fd);
		return throw_errno(ctx, "connect unix", path, e);
	}
	loop_set_nonblock(fd);
	return JS_NewInt32(ctx, fd);
}

static JSValue js_unix_listen(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	struct sockaddr_un su;
	char path[256];
	(void)this_val; (void)argc;
	int r = unix_addr(ctx, argv[0], &su, path, sizeof(path));
	if (r == -1)
		return JS_EXCEPTION;
	if (r == -2)
		return throw_errno(ctx, "listen unix", path, ENAMETOOLONG);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return throw_errno(ctx, "socket unix", path, errno);
	unlink(path); /* a socket file left by a previous run */
	if (bind(fd, (struct sockaddr *)&su, sizeof(su)) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		return throw_errno(ctx, "listen unix", path, e);
	}
	return JS_NewInt32(ctx, fd);
}

static JSValue js_accept(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)
			return JS_NULL;
		return throw_errno(ctx, "accept", NULL, errno);
	}
	return JS_NewInt32(ctx, c);
}

static JSValue js_read(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd, max;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]) || JS_ToInt32(ctx, &max, argv[1]))
		return JS_EXCEPTION;
	if (max <= 0 || max > (int)sizeof(rxbuf))
		max = sizeof(rxbuf);
	ssize_t n = read(fd, rxbuf, max);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return JS_NULL;
		return throw_errno(ctx, "read", NULL, errno);
	}
	return new_bytes(ctx, rxbuf, n);
}

static JSValue js_write(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	size_t len;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	uint8_t *data = get_bytes(ctx, argv[1], &len);
	if (!data)
		return JS_EXCEPTION;
	ssize_t n = write(fd, data, len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return JS_NewInt32(ctx, 0);
		return throw_errno(ctx, "write", NULL, errno);
	}
	return JS_NewInt64(ctx, n);
}

static JSValue js_close(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	if (fd >= 0)
		close(fd);
	return JS_UNDEFINED;
}

static JSValue js_netlink_open(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int proto;
	uint32_t groups;
	char what[32];
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &proto, argv[0]) || JS_ToUint32(ctx, &groups, argv[1]))
		return JS_EXCEPTION;
	snprintf(what, sizeof(what), "protocol %d", proto);
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return throw_errno(ctx, "socket netlink", what, errno);
	/* Big enough for a dump of a thousand peers without ENOBUFS. FORCE
	 * passes net.core.rmem_max (root); otherwise the kernel caps it there. */
	int one = 1, rcvbuf = 1 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK, .nl_groups = groups};
	if (bind(fd, (struct sockaddr *)&nl, sizeof(nl)) < 0) {
		int e = errno;
		close(fd);
		return throw_errno(ctx, "bind netlink", what, e);
	}
	return JS_NewInt32(ctx, fd);
}

static JSValue js_netlink_join(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd, group;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]) || JS_ToInt32(ctx, &group, argv[1]))
		return JS_EXCEPTION;
	if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
		return throw_errno(ctx, "netlink add membership", NULL, errno);
	return JS_UNDEFINED;
}

static JSValue js_netlink_send(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	size_t len;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	uint8_t *data = get_bytes(ctx, argv[1], &len);
	if (!data)
		return JS_EXCEPTION;
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
	if (sendto(fd, data, len, 0, (struct sockaddr *)&nl, sizeof(nl)) < 0)
		return throw_errno(ctx, "send netlink", NULL, errno);
	return JS_UNDEFINED;
}

/* One whole datagram, sized first with MSG_PEEK|MSG_TRUNC: dumps exceed any fixed buffer. */
static JSValue js_netlink_recv(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
	ssize_t n = recv(fd, rxbuf, 1, MSG_PEEK | MSG_TRUNC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return JS_NULL;
		int e = errno;
		if (e == ENOBUFS)
			return throw_errno(ctx, "recv netlink", "(events were lost)", e);
		return throw_errno(ctx, "recv netlink", NULL, e);
	}
	uint8_t *buf = n <= (ssize_t)sizeof(rxbuf) ? rxbuf : malloc(n);
	if (!buf)
		return throw_errno(ctx, "recv netlink", NULL, ENOMEM);
	ssize_t got = recv(fd, buf, n, 0);
	JSValue r = got < 0 ? throw_errno(ctx, "recv netlink", NULL, errno) : new_bytes(ctx, buf, got);
	if (buf != rxbuf)
		free(buf);
	return r;
}

/* Name lookup through the C library, in a child (fork_job): getaddrinfo
 * blocks for as long as the resolver does not answer. The child writes one
 * address per line, or "!" and the reason. */
static int resolve_job(int report, void *arg)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int r = getaddrinfo(arg, NULL, &hints, &res);
	if (r != 0) {
		dprintf(report, "!%s\n", gai_strerror(r));
		return 1;
	}
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		char ip[INET6_ADDRSTRLEN];
		const void *src = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
							 : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
		if (inet_ntop(a->ai_family, src, ip, sizeof(ip)))
			dprintf(report, "%s\n", ip);
	}
	return 0;
}

/* [pid, fd] of the lookup's child. */
static JSValue js_resolve_start(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val; (void)argc;
	const char *host = JS_ToCString(ctx, argv[0]);
	if (!host)
		return JS_EXCEPTION;
	JSValue r = fork_job(ctx, "resolve", host, resolve_job, (void *)host);
	JS_FreeCString(ctx, host);
	return r;
}

const JSCFunctionListEntry sock_funcs[] = {
	JS_CFUNC_DEF("udpBind", 5, js_udp_bind),
	JS_CFUNC_DEF("udpSend", 4, js_udp_send),
	JS_CFUNC_DEF("udpRecv", 1, js_udp_recv),
	JS_CFUNC_DEF("udpConnect", 3, js_udp_connect),
	JS_CFUNC_DEF("readInto", 3, js_read_into),
	JS_CFUNC_DEF("sockDrops", 1, js_sock_drops),
	JS_CFUNC_DEF("tcpConnect", 2, js_tcp_connect),
	JS_CFUNC_DEF("tcpListen", 2, js_tcp_listen),
	JS_CFUNC_DEF("peerAddr", 1, js_peer_addr),
	JS_CFUNC_DEF("sockError", 1, js_sock_error),
	JS_CFUNC_DEF("unixConnect", 1, js_unix_connect),
	JS_CFUNC_DEF("unixListen", 1, js_unix_listen),
	JS_CFUNC_DEF("accept", 1, js_accept),
	JS_CFUNC_DEF("read", 2, js_read),
	JS_CFUNC_DEF("write", 2, js_write),
	JS_CFUNC_DEF("close", 1, js_close),
	JS_CFUNC_DEF("netlinkOpen", 2, js_netlink_open),
	JS_CFUNC_DEF("netlinkJoin", 2, js_netlink_join),
	JS_CFUNC_DEF("netlinkSend", 2, js_netlink_send),
	JS_CFUNC_DEF("netlinkRecv", 1, js_netlink_recv),
	JS_CFUNC_DEF("resolveStart", 1, js_resolve_start),
};
const size_t sock_funcs_count = countof(sock_funcs);
