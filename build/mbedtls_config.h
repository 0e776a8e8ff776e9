/* mbedTLS for meshwrt: a TLS 1.2 and 1.3 client that verifies the server
 * against a CA bundle, with the key exchanges and ciphers current servers
 * offer (Go's crypto/tls, nginx, Caddy): ECDHE with X25519 or P-256, RSA or
 * ECDSA certificates, AES-GCM or ChaCha20-Poly1305. Nothing else, to stay
 * small: no server side, no PSK, no session tickets, no renegotiation. */
#ifndef MESHWRT_MBEDTLS_CONFIG_H
#define MESHWRT_MBEDTLS_CONFIG_H

#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
#define MBEDTLS_PLATFORM_C
/* Randomness comes straight from getrandom(2): no entropy pool or DRBG here.
 * TLS 1.3 runs on PSA crypto, which takes it through
 * mbedtls_psa_external_get_random (agent/native/tls.c). */
#define MBEDTLS_FS_IO
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG
#define MBEDTLS_PSA_KEY_SLOT_COUNT 8

#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED

#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
/* TLS 1.3 servers with RSA keys sign with RSA-PSS (rsa_pss_rsae_*). */
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C

#define MBEDTLS_BIGNUM_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
/* Size over speed (the 1 MiB budget on MIPS): the generic modular reduction
 * instead of NIST_OPTIM's unrolled one, no precomputed fixed-point tables.
 * Handshakes are rare (the control server and a few DERP relays). */
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0

#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_MD_C
#define MBEDTLS_HKDF_C
#define MBEDTLS_SHA1_C
#define MBEDTLS_SHA224_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C

#define MBEDTLS_AES_ROM_TABLES
/* One AES table instead of four, and the looped SHA-2 compressions: about
 * 20 KB less code on MIPS, for slower TLS records on a low-volume channel. */
#define MBEDTLS_AES_FEWER_TABLES
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_SHA512_SMALLER
#define MBEDTLS_SSL_MAX_CONTENT_LEN 16384
/* ChaCha20-Poly1305 first: AES here is software (no AES-NI, one table), and
 * the relay carries bulk traffic over this TLS; a Go server (derper) that
 * sees ChaCha first picks it, as for any client without AES hardware. */
#define MBEDTLS_SSL_CIPHERSUITES \
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, \
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256, \
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384, \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, \
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, \
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, \
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384

#endif
