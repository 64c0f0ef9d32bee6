#include "CCredenceSupport.h"
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

void credence_flush_subnormals_to_zero(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ | DAZ */
#endif
}

unsigned int credence_enter_flush_to_zero(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int old = _mm_getcsr();
    _mm_setcsr(old | 0x8040); /* FTZ | DAZ */
    return old;
#else
    return 0;
#endif
}

void credence_restore_floating_point_mode(unsigned int mode) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(mode);
#else
    (void)mode;
#endif
}

static _Thread_local int parallel_depth = 0;
int credence_parallel_depth(void) { return parallel_depth; }
void credence_parallel_enter(void) { parallel_depth += 1; }
void credence_parallel_leave(void) { parallel_depth -= 1; }

void credence_keep_large_blocks_on_heap(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

void credence_return_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
