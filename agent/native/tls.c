/* A TLS client (1.2 and 1.3) over a connected non-blocking socket, with
 * mbedTLS. The server's certificate is verified against the system CA
 * bundle, or against exactly one CA file when the caller names one (tests),
 * and its name against the one asked for. Handshake, read and write report
 * "want read/write" instead of blocking; the loop drives them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include "mbedtls/version.h"
#if MBEDTLS_VERSION_MAJOR < 3
#error "meshwrt needs mbedTLS 3 (OpenWrt 24.10 or later ships 3.6)"
#endif
#include "mbedtls/net_sockets.h"
#include "mbedtls/oid.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"
#if defined(MBEDTLS_PSA_CRYPTO_C)
#include "psa/crypto.h"
#endif
#include "runtime.h"

#define DEFAULT_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define MAX_TLS 64
#define MAX_CA 4

/* A parsed CA file, shared by the connections that trust it: the system
 * bundle is some 150 certificates, too slow and big to parse per connection
 * on a router. Freed when its last connection closes. */
struct ca {
	int refs;
	char path[256];
	mbedtls_x509_crt crt;
};

/* Socket bytes read ahead for mbedTLS, which asks for a record's 5-byte
 * header and then its body: one read(2) per chunk instead of two per record. */
#define READ_AHEAD 16384

struct tls {
	int used, fd, err; /* err: the errno of the socket call that failed */
	int pending; /* an mbedTLS result held back while tlsRead returned the data before it */
	int eagain; /* the socket said EAGAIN since the last tlsRead began */
	int drained; /* the last tlsRead returned data and ended at an empty socket */
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	struct ca *ca;
	uint8_t *ahead; /* READ_AHEAD bytes */
	size_t ahead_off, ahead_len;
	char name[256];
};

static struct tls conns[MAX_TLS];
static struct ca cas[MAX_CA];
/* Plaintext of as many records as are ready, up to this, per tlsRead. It
 * is lent to JavaScript as the bytes' own memory, no copy and no allocation
 * (musl maps and unmaps a block of 4 KB and up at each malloc and free), until
 * that ArrayBuffer is freed; a read meanwhile is copied out of the spare. */
static uint8_t rxbuf[65536], rxspare[65536];
static int rx_lent;

static void rx_returned(JSRuntime *rt, void *opaque, void *ptr)
{
	(void)rt; (void)opaque; (void)ptr;
	rx_lent = 0;
}

/* `len` bytes of rxbuf as a Uint8Array over rxbuf itself. */
static JSValue lend_rxbuf(JSContext *ctx, size_t len)
{
	JSValue ab = JS_NewArrayBuffer(ctx, rxbuf, len, rx_returned, NULL, 0);
	if (JS_IsException(ab))
		return ab;
	rx_lent = 1;
	JSValue args[3] = {ab, JS_NewInt32(ctx, 0), JS_NewInt64(ctx, (int64_t)len)};
	JSValue u8 = JS_NewTypedArray(ctx, 3, args, JS_TYPED_ARRAY_UINT8);
	JS_FreeValue(ctx, ab);
	return u8;
}

static int fill_random(unsigned char *out, size_t len)
{
	while (len) {
		ssize_t r = getrandom(out, len, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		out += r;
		len -= r;
	}
	return 0;
}

static int rng(void *p, unsigned char *out, size_t len)
{
	(void)p;
	return fill_random(out, len);
}

#if defined(MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG)
/* PSA crypto (the TLS 1.3 key schedule) draws from getrandom too. */
psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context, uint8_t *output,
					     size_t output_size, size_t *output_length)
{
	(void)context;
	if (fill_random(output, output_size) < 0)
		return PSA_ERROR_INSUFFICIENT_ENTROPY;
	*output_length = output_size;
	return PSA_SUCCESS;
}
#endif

static int bio_send(void *p, const unsigned char *buf, size_t len)
{
	struct tls *t = p;
	ssize_t n = write(t->fd, buf, len);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	t->err = errno;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *p, unsigned char *buf, size_t len)
{
	struct tls *t = p;
	if (t->ahead_off == t->ahead_len) {
		ssize_t n = read(t->fd, t->ahead, READ_AHEAD);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				t->eagain = errno != EINTR;
				return MBEDTLS_ERR_SSL_WANT_READ;
			}
			t->err = errno;
			return MBEDTLS_ERR_NET_RECV_FAILED;
		}
		if (n == 0)
			return 0;
		t->ahead_off = 0;
		t->ahead_len = (size_t)n;
	}
	size_t k = t->ahead_len - t->ahead_off;
	if (k > len)
		k = len;
	memcpy(buf, t->ahead + t->ahead_off, k);
	t->ahead_off += k;
	return (int)k;
}

static struct tls *lookup(JSContext *ctx, JSValueConst v, int *h)
{
	if (JS_ToInt32(ctx, h, v))
		return NULL;
	if (*h < 0 || *h >= MAX_TLS || !conns[*h].used) {
		JS_ThrowTypeError(ctx, "tls: no connection %d", *h);
		return NULL;
	}
	return &conns[*h];
}

/* The parsed CA file PATH, shared; NULL with an exception thrown. */
static struct ca *ca_get(JSContext *ctx, const char *path)
{
	struct ca *free_slot = NULL;
	for (int i = 0; i < MAX_CA; i++) {
		if (cas[i].refs && strcmp(cas[i].path, path) == 0) {
			cas[i].refs++;
			return &cas[i];
		}
		if (!cas[i].refs && !free_slot)
			free_slot = &cas[i];
	}
	if (!free_slot) {
		throw_errno(ctx, "tls ca file", path, EMFILE);
		return NULL;
	}
	/* Says ENOENT or EACCES where mbedTLS would only say "file I/O error". */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		throw_errno(ctx, "tls ca file", path, errno);
		return NULL;
	}
	close(fd);
	mbedtls_x509_crt_init(&free_slot->crt);
	/* A positive result counts certificates that did not parse (curves left
	 * out of this build): the others are used. */
	int rc = mbedtls_x509_crt_parse_file(&free_slot->crt, path);
	if (rc < 0 || free_slot->crt.version == 0) {
		mbedtls_x509_crt_free(&free_slot->crt);
		JS_ThrowInternalError(ctx, "tls ca file %s: no certificate could be read (mbedTLS error -0x%04x)", path,
				      (unsigned)(rc < 0 ? -rc : 0));
		return NULL;
	}
	snprintf(free_slot->path, sizeof(free_slot->path), "%s", path);
	free_slot->refs = 1;
	return free_slot;
}

static void ca_put(struct ca *ca)
{
	if (ca && --ca->refs == 0)
		mbedtls_x509_crt_free(&ca->crt);
}

static void release(struct tls *t)
{
	free(t->ahead);
	t->ahead = NULL;
	mbedtls_ssl_free(&t->ssl);
	mbedtls_ssl_config_free(&t->conf);
	ca_put(t->ca);
	t->ca = NULL;
	t->used = 0;
}

static const char *describe(int rc)
{
	switch (rc) {
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: return "the server sent a fatal alert";
	case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE: return "no parameters in common with the server";
	case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION: return "no protocol version in common with the server";
	case MBEDTLS_ERR_SSL_CONN_EOF: return "connection closed by the server";
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY: return "closed by the server";
	case MBEDTLS_ERR_SSL_INVALID_RECORD: return "invalid record (not TLS?)";
	case MBEDTLS_ERR_SSL_DECODE_ERROR: return "malformed message from the server";
	case MBEDTLS_ERR_SSL_BAD_CERTIFICATE: return "bad certificate from the server";
	case MBEDTLS_ERR_SSL_ALLOC_FAILED: return "out of memory";
	}
	return NULL;
}

/* mbedTLS 3.6 offers RSA-PSS signatures (TLS 1.3 needs them) but refuses
 * them in TLS 1.2, which OpenSSL servers with RSA keys choose. The caller
 * then connects again with tlsOpen's tls12 flag: TLS 1.2 without PSS. */
static const uint16_t tls12_sig_algs[] = {
	/* The TLS 1.3 names of the TLS 1.2 code points (hash << 8 | signature). */
	MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256,
	MBEDTLS_TLS1_3_SIG_ECDSA_SECP384R1_SHA384,
	MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA256,
	MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA384,
	MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA512,
	MBEDTLS_TLS1_3_SIG_NONE,
};

/* An Error with a message and a code the TypeScript side can act on. */
static JSValue throw_coded(JSContext *ctx, const char *code, const char *msg)
{
	JSValue e = JS_NewError(ctx);
	JS_SetPropertyStr(ctx, e, "message", JS_NewString(ctx, msg));
	JS_SetPropertyStr(ctx, e, "code", JS_NewString(ctx, code));
	return JS_Throw(ctx, e);
}

static JSValue fail(JSContext *ctx, struct tls *t, const char *step, int rc)
{
	char call[64], detail[512] = "", msg[1024];
	snprintf(call, sizeof(call), "tls %s with", step);
	if ((rc == MBEDTLS_ERR_NET_SEND_FAILED || rc == MBEDTLS_ERR_NET_RECV_FAILED) && t->err)
		return throw_errno(ctx, call, t->name, t->err);
	if (rc == MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER && mbedtls_ssl_get_version_number(&t->ssl) == MBEDTLS_SSL_VERSION_TLS1_2) {
		snprintf(msg, sizeof(msg), "%s %s: the server signed with RSA-PSS in TLS 1.2, which mbedTLS refuses (mbedTLS -0x%04x)",
			 call, t->name, (unsigned)-rc);
		return throw_coded(ctx, "TLS12_PSS", msg);
	}
	/* A chain with a certificate whose signature mbedTLS cannot parse (Go's
	 * derper adds an Ed25519 one for IP addresses): TLS 1.2 skips such a
	 * certificate when a prior one is trusted, TLS 1.3 fails the handshake.
	 * The caller then connects again with TLS 1.2. */
	if (rc == MBEDTLS_ERR_X509_UNKNOWN_SIG_ALG + MBEDTLS_ERR_OID_NOT_FOUND &&
	    mbedtls_ssl_get_version_number(&t->ssl) == MBEDTLS_SSL_VERSION_TLS1_3) {
		snprintf(msg, sizeof(msg), "%s %s: a certificate of the server's chain has a signature algorithm mbedTLS does not know (mbedTLS -0x%04x)",
			 call, t->name, (unsigned)-rc);
		return throw_coded(ctx, "TLS13_UNKNOWN_SIG_ALG", msg);
	}
	uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);
	if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags && flags != (uint32_t)-1) {
		mbedtls_x509_crt_verify_info(detail, sizeof(detail), "", flags);
		for (char *p = detail; *p; p++)
			if (*p == '\n')
				*p = *(p + 1) ? ';' : '\0';
		return JS_ThrowInternalError(ctx, "%s %s: certificate not trusted: %s", call, t->name, detail);
	}
	const char *d = describe(rc);
	if (d)
		return JS_ThrowInternalError(ctx, "%s %s: %s (mbedTLS -0x%04x)", call, t->name, d, (unsigned)-rc);
	return JS_ThrowInternalError(ctx, "%s %s: mbedTLS error -0x%04x", call, t->name, (unsigned)-rc);
}

static JSValue js_tls_open(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int fd, h, rc;
	(void)this_val; (void)argc;
	if (JS_ToInt32(ctx, &fd, argv[0]))
		return JS_EXCEPTION;
#if defined(MBEDTLS_PSA_CRYPTO_C)
	static int psa_ready;
	if (!psa_ready) {
		if (psa_crypto_init() != PSA_SUCCESS)
			return JS_ThrowInternalError(ctx, "tls: PSA crypto does not start");
		psa_ready = 1;
	}
#endif
	for (h = 0; h < MAX_TLS && conns[h].used; h++)
		;
	if (h == MAX_TLS)
		return throw_errno(ctx, "tls", "too many connections", EMFILE);
	const char *name = JS_ToCString(ctx, argv[1]);
	if (!name)
		return JS_EXCEPTION;
	int tls12 = argc > 3 && JS_ToBool(ctx, argv[3]);
	const char *cafile = JS_IsString(argv[2]) ? JS_ToCString(ctx, argv[2]) : NULL;
	struct ca *ca = ca_get(ctx, cafile ? cafile : DEFAULT_CA_BUNDLE);
	if (cafile)
		JS_FreeCString(ctx, cafile);
	if (!ca) {
		JS_FreeCString(ctx, name);
		return JS_EXCEPTION;
	}
	struct tls *t = &conns[h];
	memset(t, 0, sizeof(*t));
	t->ahead = malloc(READ_AHEAD);
	if (!t->ahead) {
		JS_FreeCString(ctx, name);
		ca_put(ca);
		return throw_errno(ctx, "tls", "read buffer", ENOMEM);
	}
	t->used = 1;
	t->fd = fd;
	t->ca = ca;
	snprintf(t->name, sizeof(t->name), "%s", name);
	JS_FreeCString(ctx, name);
	mbedtls_ssl_init(&t->ssl);
	mbedtls_ssl_config_init(&t->conf);
	JSValue err = JS_UNDEFINED;
	if ((rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
					      MBEDTLS_SSL_PRESET_DEFAULT))) {
		err = fail(ctx, t, "setup", rc);
	} else {
		mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
		mbedtls_ssl_conf_ca_chain(&t->conf, &ca->crt, NULL);
		mbedtls_ssl_conf_rng(&t->conf, rng, NULL);
		if (tls12) {
			mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
			mbedtls_ssl_conf_sig_algs(&t->conf, tls12_sig_algs);
		}
		/* The name is both SNI and what the certificate must match. */
		if ((rc = mbedtls_ssl_setup(&t->ssl, &t->conf)) || (rc = mbedtls_ssl_set_hostname(&t->ssl, t->name)))
			err = fail(ctx, t, "setup", rc);
		else
			mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
	}
	if (!JS_IsUndefined(err)) {
		release(t);
		return err;
	}
	return JS_NewInt32(ctx, h);
}

/* 0: done; 1: wants to read; 2: wants to write. */
static JSValue js_tls_handshake(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int h;
	(void)this_val; (void)argc;
	struct tls *t = lookup(ctx, argv[0], &h);
	if (!t)
		return JS_EXCEPTION;
	int rc = mbedtls_ssl_handshake(&t->ssl);
	if (rc == 0) {
		/* The trust anchors verify the server's chain and nothing after it
		 * (this build has no renegotiation): let them go. A system bundle is
		 * ~0.5 MB parsed, and DERP's connection is open all the time. */
		mbedtls_ssl_conf_ca_chain(&t->conf, NULL, NULL);
		ca_put(t->ca);
		t->ca = NULL;
		return JS_NewInt32(ctx, 0);
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_READ)
		return JS_NewInt32(ctx, 1);
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return JS_NewInt32(ctx, 2);
	return fail(ctx, t, "handshake", rc);
}

/* Bytes, null when nothing is ready, an empty array at the end. */
static JSValue js_tls_read(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int h;
	(void)this_val; (void)argc;
	struct tls *t = lookup(ctx, argv[0], &h);
	if (!t)
		return JS_EXCEPTION;
	/* Every record that is ready, in one call: a burst of relayed packets
	 * crosses into JavaScript once. An end or an error after some data waits
	 * for the next call. */
	size_t got = 0;
	int n = t->pending;
	t->pending = 0;
	/* The caller reads until null: after data that ended at an empty socket,
	 * the null comes without the read(2) that would say so again (a syscall
	 * per relayed burst). Bytes mbedTLS or we hold, that poll cannot see,
	 * are read as ever. */
	if (t->drained && n == 0 && t->ahead_off == t->ahead_len && !mbedtls_ssl_check_pending(&t->ssl)) {
		t->drained = 0;
		return JS_NULL;
	}
	t->drained = t->eagain = 0;
	uint8_t *buf = rx_lent ? rxspare : rxbuf;
	while (n == 0 && got < sizeof(rxbuf)) {
		n = mbedtls_ssl_read(&t->ssl, buf + got, sizeof(rxbuf) - got);
		if (n > 0) {
			got += (size_t)n;
			n = 0;
		} else if (n == 0) {
			n = MBEDTLS_ERR_SSL_CONN_EOF;
		}
	}
	if (got) {
		if (n != MBEDTLS_ERR_SSL_WANT_READ && n != MBEDTLS_ERR_SSL_WANT_WRITE)
			t->pending = n;
		t->drained = n == MBEDTLS_ERR_SSL_WANT_READ && t->eagain;
		return buf == rxbuf ? lend_rxbuf(ctx, got) : new_bytes(ctx, buf, got);
	}
	if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
		return JS_NULL;
	/* A TCP close without close_notify ends the stream too: the protocols
	 * above frame their messages and notice a cut. */
	if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || n == MBEDTLS_ERR_SSL_CONN_EOF)
		return new_bytes(ctx, buf, 0);
	return fail(ctx, t, "read", n);
}

/* Bytes taken; 0 when the socket is full. */
static JSValue js_tls_write(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int h;
	size_t len;
	(void)this_val; (void)argc;
	struct tls *t = lookup(ctx, argv[0], &h);
	if (!t)
		return JS_EXCEPTION;
	uint8_t *data = get_bytes(ctx, argv[1], &len);
	if (!data)
		return JS_EXCEPTION;
	int n = mbedtls_ssl_write(&t->ssl, data, len);
	if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
		return JS_NewInt32(ctx, 0);
	if (n < 0)
		return fail(ctx, t, "write", n);
	return JS_NewInt32(ctx, n);
}

/* The negotiated version, "TLSv1.2" or "TLSv1.3". */
static JSValue js_tls_version(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int h;
	(void)this_val; (void)argc;
	struct tls *t = lookup(ctx, argv[0], &h);
	if (!t)
		return JS_EXCEPTION;
	return JS_NewString(ctx, mbedtls_ssl_get_version(&t->ssl));
}

/* Forgets the TLS state; the caller closes the socket. */
static JSValue js_tls_close(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
	int h;
	(void)this_val; (void)argc;
	struct tls *t = lookup(ctx, argv[0], &h);
	if (!t)
		return JS_EXCEPTION;
	mbedtls_ssl_close_notify(&t->ssl);
	release(t);
	return JS_UNDEFINED;
}

const JSCFunctionListEntry tls_funcs[] = {
	JS_CFUNC_DEF("tlsOpen", 4, js_tls_open),
	JS_CFUNC_DEF("tlsHandshake", 1, js_tls_handshake),
	JS_CFUNC_DEF("tlsRead", 1, js_tls_read),
	JS_CFUNC_DEF("tlsWrite", 2, js_tls_write),
	JS_CFUNC_DEF("tlsVersion", 1, js_tls_version),
	JS_CFUNC_DEF("tlsClose", 1, js_tls_close),
};
const size_t tls_funcs_count = countof(tls_funcs);
