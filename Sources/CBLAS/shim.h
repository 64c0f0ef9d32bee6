#ifndef CREDENCE_CBLAS_SHIM_H
#define CREDENCE_CBLAS_SHIM_H
// Debian's libopenblas-dev installs cblas.h (with openblas_set_num_threads).
#include <cblas.h>
#endif
