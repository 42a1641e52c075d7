// zlib, for tests only: the C2SP age test kit stores its large vectors zlib-compressed.
#ifndef CACHET_CZLIB_SHIM_H
#define CACHET_CZLIB_SHIM_H
#include <zlib.h>
#endif
