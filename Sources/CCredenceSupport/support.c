#include "CCredenceSupport.h"
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#include <cpuid.h>
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

#if defined(__x86_64__) || defined(__i386__)
static unsigned long long credence_xgetbv0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

credence_cpu_features_t credence_cpu_features(void) {
    credence_cpu_features_t f;
    memset(&f, 0, sizeof f);
#if defined(__x86_64__) || defined(__i386__)
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return f;
    unsigned int maxLeaf = eax;
    memcpy(f.vendor, &ebx, 4); memcpy(f.vendor + 4, &edx, 4); memcpy(f.vendor + 8, &ecx, 4);
    f.vendor[12] = 0;
    __get_cpuid(1, &eax, &ebx, &ecx, &edx);
    int family = (eax >> 8) & 0xf, model = (eax >> 4) & 0xf;
    if (family == 0xf) family += (eax >> 20) & 0xff;
    if (family == 0x6 || family >= 0xf) model += ((eax >> 16) & 0xf) << 4;
    f.family = family; f.model = model;
    f.sse3 = (ecx >> 0) & 1;
    int osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1, fma = (ecx >> 12) & 1;
    unsigned long long xcr0 = osxsave ? credence_xgetbv0() : 0;
    int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
    f.avx = avx && ymm;
    f.fma = fma && ymm;
    if (maxLeaf >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        f.avx2 = ((ebx >> 5) & 1) && ymm;
        f.avx512f = ((ebx >> 16) & 1) && zmm;
        f.avx512dq = ((ebx >> 17) & 1) && zmm;
        f.avx512bw = ((ebx >> 30) & 1) && zmm;
        f.avx512vl = ((ebx >> 31) & 1) && zmm;
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        f.avx512bf16 = ((eax >> 5) & 1) && zmm;
    }
#endif
    return f;
}

int credence_reexec_self(char *const argv[]) {
#if defined(__linux__)
    return execv("/proc/self/exe", argv);
#else
    (void)argv;
    return -1;
#endif
}
