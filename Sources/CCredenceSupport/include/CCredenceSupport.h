#ifndef CREDENCE_SUPPORT_H
#define CREDENCE_SUPPORT_H

/// Sets flush-to-zero and denormals-are-zero on the calling thread (x86 MXCSR;
/// a no-op elsewhere). Optimizer state decays into subnormals, which are 10-100x
/// slower on x86; every worker thread calls this once.
void credence_flush_subnormals_to_zero(void);

/// Sets FTZ | DAZ on the calling thread and returns the previous mode, for
/// `credence_restore_floating_point_mode` (workers borrowed from a shared pool must
/// hand the thread back as they found it).
unsigned int credence_enter_flush_to_zero(void);
void credence_restore_floating_point_mode(unsigned int mode);

/// Per-thread nesting depth of Credence's own parallel regions. Kernels split work
/// across cores only at depth 0, so a batch already split over two threads does not
/// split its GEMMs again.
int credence_parallel_depth(void);
void credence_parallel_enter(void);
void credence_parallel_leave(void);

/// glibc only: raise the mmap and trim thresholds so large freed blocks are reused
/// instead of being unmapped (and page-faulted in again on the next allocation).
void credence_keep_large_blocks_on_heap(void);

/// Hands the allocator's free memory back to the system (glibc `malloc_trim(0)`; a no-op
/// elsewhere), so a resident-memory peak measured next starts from what is really in use.
void credence_return_free_memory(void);

/// The CPU's vector features as CPUID and XGETBV report them (x86; all zero elsewhere).
/// A feature counts only when the OS saves its registers too (XCR0), so AVX-512 on a
/// kernel without ZMM state support reads as absent.
typedef struct {
    char vendor[13];        /* "GenuineIntel", "AuthenticAMD", ... (NUL-terminated) */
    int family, model;      /* display family and model */
    int sse3, avx, avx2, fma;
    int avx512f, avx512bw, avx512dq, avx512vl, avx512bf16;
} credence_cpu_features_t;

credence_cpu_features_t credence_cpu_features(void);

/// Replaces the process image with `/proc/self/exe` and `argv` (Linux); returns only on
/// failure, with errno set.
int credence_reexec_self(char *const argv[]);


/// Whether the AVX2 + FMA kernels below run on this CPU (each returns 0 without doing
/// anything when they do not, and the caller uses its portable loop).
int credence_vector_math_available(void);
/// softplus(ρ) and sigmoid(ρ) of n values (`softplus` may alias `rho`; `sigmoid` may be NULL: not formed).
int credence_softplus_sigmoid(const float *rho, float *softplus, float *sigmoid, long n);
/// The σ coordinates of the Gaussian prior's KL in VI: gradient ← (gradient + scale·(δσ − 1/σ))·sigmoid,
/// and Σσ², Σ log σ.
int credence_gaussian_kl_sigma(const float *sigma, const float *sigmoid, float *gradient, long n, float precision, float scale,
                               double *sumSquares, double *sumLogs);
/// Box–Muller: pairs of 24-bit words (low, high) to out[2k], out[2k+1] = √(−2 log u₁)·(cos, sin)(2πu₂)
/// with u₁ = (high + 1)/2²⁴, u₂ = low/2²⁴ (FastMath.fillNormalNoise).
int credence_box_muller(const int *words, float *out, long pairs);
/// As `credence_gaussian_kl_sigma` with the gradient formed first from one weight sample's
/// shard parts and the sigmoid formed from ρ (σ = softplus(ρ)): gradient ←
/// ((Σⱼ parts[j])·factor + scale·(δσ − 1/σ))·sigmoid(ρ) (gradient is written, not read; factor
/// may be NULL: 1), and Σσ², Σ log σ. The sigmoid is `credence_softplus_sigmoid`'s, bit for bit.
int credence_gaussian_kl_sigma_parts(const float *const *parts, long partCount, const float *factor, const float *sigma,
                                     const float *rho, float *gradient, long n, float precision, float scale,
                                     double *sumSquares, double *sumLogs);
/// gradient ← Σⱼ parts[j] + scale·x (written, not read), and Σx².
int credence_add_scaled_parts(const float *const *parts, long partCount, const float *x, float *gradient, long n, float scale,
                              double *sumSquares);
/// Signs ±1.0 for n values: out[64w + j] is negative where bit j of draws[w] is 0 (⌈n/64⌉ draws).
int credence_random_signs(const unsigned long long *draws, float *out, long n);
/// Four xoshiro256** generators side by side (state: the four s0, then s1, s2, s3; updated),
/// `quads` rounds of one draw each, every draw v stored as the words (v & 0xFFFFFF, v >> 40 & 0xFFFFFF).
int credence_xoshiro_words4(unsigned long long *state, int *words, long quads);
/// gradient ← gradient + scale·x, and Σx².
int credence_add_scaled_sum_squares(const float *x, float *gradient, long n, float scale, double *sumSquares);
/// One pSGLD update of n weights: v ← αv + (1−α)(s·g)², P = 1/(λ + √v),
/// θ ← θ + εP·g + √(2εP)·z (PreconditionedLangevinDynamics.step).
int credence_psgld_update(float *theta, float *v, const float *g, const float *z, long n, float alpha, float lambda, float s,
                          float epsilon);
/// Adam's step with learning-rate scale s on n weights (Optimizer's chain (AddWeightDecay →)
/// ScaleByAdam → ScaleByLearningRate → θ += u, bit for bit): g = Σⱼ parts[j] in order, plus
/// decay·θ when `decayed`, m ← β₁m + (1−β₁)g, v ← β₂v + ((1−β₂)g)g, θ ← θ + ((m·c₁)/(√max(v, 0)·c₂ + ε))·s;
/// Σθ² before the step to *sumSquares unless it is NULL.
int credence_adam_update(float *theta, float *m, float *v, const float *const *parts, long partCount, long n, float beta1, float beta2,
                         float c1, float sqrtC2, float epsilon, float scale, float decay, int decayed, double *sumSquares);
/// out = (a + b)·scale + prior·θ over n values and Σθ² in double (eight partial sums by index
/// mod 8, then the tail) — ScaledGradient.form's two-shard loop and sumOfSquares, bit for bit.
int credence_two_part_gradient(const float *a, const float *b, const float *theta, float *out, long n, float scale, float prior,
                               double *sumSquares);
/// Inverted dropout over the first pairs of a pattern (DropoutNoise.apply): pair k hashes
/// first + k with key; its low 16 bits keep dst[2k], its high 16 bits dst[2k + 1] when below
/// threshold, as src·scale (scale when src is NULL; max(src, 0)·scale when `rectify`: a ReLU
/// first), else +0. Returns how many pairs it did (a multiple of 8; 0 without the vector
/// kernels) — the caller does the rest.
long credence_dropout_pairs(const float *src, float *dst, long pairs, unsigned first, unsigned key, unsigned threshold, float scale,
                            int rectify);

/// One dense layer's outputs after dropout, for `rows` rows of its input h ([rows, in], in even),
/// from the product without dropout: z[i] = base[i] − Σ (h[i][u]·scale)·weightT[u] over the units u
/// the pattern drops (DropoutNoise: row i's pairs start at first + i·in/2) where h[i][u] ≠ 0 —
/// weightT is [in, out] with rows `stride` ≥ out floats apart, base and z are [rows, out]. Returns 0
/// without the vector kernels (or for odd `in`, or when its scratch cannot be allocated): the
/// caller does it.
int credence_dropped_units_dense(const float *h, long rows, long in, const float *weightT, long stride, long out, const float *base,
                                 float *z, unsigned first, unsigned key, unsigned threshold, float scale);

#endif
