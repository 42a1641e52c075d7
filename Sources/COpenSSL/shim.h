// The OpenSSL 3 headers CachetCrypto uses, plus the few helpers Swift cannot call directly
// (OpenSSL's allocation macros expand to functions taking __FILE__/__LINE__).
#ifndef CACHET_COPENSSL_SHIM_H
#define CACHET_COPENSSL_SHIM_H

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// EVP_PKEY_CTX_set0_rsa_oaep_label takes ownership of its buffer on success, so the label must be
// a copy made with OpenSSL's allocator (and freed by us only when the call fails).
static inline void *cachet_openssl_malloc(size_t size) {
    return OPENSSL_malloc(size);
}

static inline void cachet_openssl_free(void *pointer) {
    OPENSSL_free(pointer);
}

// Scratch space on OpenSSL's secure heap (locked, never swapped, excluded from core dumps): an arena allocation
// with no system calls, for short-lived secret buffers on the hot path. Freed with a cleanse.
static inline void *cachet_secure_scratch(size_t size) {
    return OPENSSL_secure_zalloc(size);
}

static inline void cachet_secure_scratch_free(void *pointer, size_t size) {
    OPENSSL_secure_clear_free(pointer, size);
}

#endif
