#ifndef CREDENCE_CLAPACKE_SHIM_H
#define CREDENCE_CLAPACKE_SHIM_H
#include <lapacke.h>
#endif
