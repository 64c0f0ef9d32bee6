#ifndef CREDENCE_CZLIB_SHIM_H
#define CREDENCE_CZLIB_SHIM_H
#include <zlib.h>
#endif
