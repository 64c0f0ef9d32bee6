#ifndef CREDENCE_CSQLITE_SHIM_H
#define CREDENCE_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
