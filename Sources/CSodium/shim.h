// libsodium: randomness and guarded memory for CachetCrypto (X25519 and ChaCha20-Poly1305 for v2 later).
#ifndef CACHET_CSODIUM_SHIM_H
#define CACHET_CSODIUM_SHIM_H
#include <sodium.h>
#endif
