#ifndef CMALLOC_SHIM_H
#define CMALLOC_SHIM_H
// glibc's malloc tuning (mallopt, M_ARENA_MAX): the Glibc module does not export <malloc.h>.
#include <malloc.h>
#endif
