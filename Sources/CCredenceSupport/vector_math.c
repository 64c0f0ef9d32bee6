// AVX2 + FMA kernels for the per-parameter passes of variational inference (and MC dropout's
// masks), chosen at run time: Swift's auto-vectorised loops (Ops/FastMath.swift) target the
// baseline x86-64 (SSE2, no FMA), and their long dependency chains (exp, then log, then a
// division) leave the cores waiting; here eight lanes per instruction, FMA, and independent
// vectors in flight (two or four per iteration: softplus runs at ≈ 0.9 ns per value and core).
// Same Cephes polynomials as FastMath.exp/log (S. Moshier), same clamping — except softplus's
// log1p, a series of its own (log1p_unit8) — and results agree with the Swift loops to a few
// ulps (FMA rounds once where they round twice; the series within 2.1e-7) — tested.
#include "CCredenceSupport.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 y = _mm256_fmadd_ps(_mm256_set1_ps(1.98756915e-4f), x, _mm256_set1_ps(1.39819995e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3333452e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.16657959e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(0.166666655f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(0.50000001f));
    y = _mm256_add_ps(_mm256_fmadd_ps(y, z, x), _mm256_set1_ps(1.0f));
    __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(scale));
}

// log x for normal positive x.
AVX2 static inline __m256 log8(__m256 x) {
    __m256i bits = _mm256_castps_si256(x);
    __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)),
                                                   _mm256_set1_epi32(0x3F000000)));
    __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    e = _mm256_sub_ps(e, _mm256_and_ps(small, _mm256_set1_ps(1.0f)));
    m = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(small, m)), _mm256_set1_ps(1.0f));
    __m256 z = _mm256_mul_ps(m, m);
    __m256 y = _mm256_fmadd_ps(_mm256_set1_ps(7.0376836e-2f), m, _mm256_set1_ps(-0.1151461f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(0.11676999f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-0.12420141f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(0.14249323f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-0.16668058f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(0.20000715f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-0.24999994f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(0.33333331f));
    y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
    y = _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), z, y);
    return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
}

// log1p(u) for u in [0, 1] as 2·atanh(t) = 2(t + t³/3 + t⁵/5 + … + t¹⁵/15), t = u/(2 + u) ≤ 1/3:
// the series' remainder is below 1.4e-8 of the value, and one division replaces log8's mantissa
// split and its longer polynomial (worst error 2.1e-7 relative, tested).
AVX2 static inline __m256 log1p_unit8(__m256 u) {
    __m256 t = _mm256_div_ps(u, _mm256_add_ps(_mm256_set1_ps(2.0f), u));
    __m256 z = _mm256_mul_ps(t, t);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(2.0f / 15), z, _mm256_set1_ps(2.0f / 13));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.0f / 11));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.0f / 9));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.0f / 7));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.0f / 5));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.0f / 3));
    return _mm256_fmadd_ps(_mm256_mul_ps(t, z), p, _mm256_add_ps(t, t));
}

// u = e^−|ρ|, the one exponential softplus and sigmoid share.
AVX2 static inline __m256 exp_minus_abs8(__m256 rho) {
    return exp8(_mm256_or_ps(_mm256_set1_ps(-0.0f), rho));
}

// softplus(ρ) = max(ρ, 0) + log1p(u).
AVX2 static inline __m256 softplus_of8(__m256 rho, __m256 u) {
    return _mm256_add_ps(_mm256_max_ps(rho, _mm256_setzero_ps()), log1p_unit8(u));
}

// sigmoid(ρ) = (ρ > 0 ? 1 : u)/(1 + u) — every kernel forms it this way, so the sigmoid a pass
// recomputes from ρ is the one `softplus_sigmoid_avx2` stores, bit for bit.
AVX2 static inline __m256 sigmoid_of8(__m256 rho, __m256 u) {
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 positive = _mm256_cmp_ps(rho, _mm256_setzero_ps(), _CMP_GT_OQ);
    return _mm256_div_ps(_mm256_blendv_ps(u, one, positive), _mm256_add_ps(one, u));
}

// softplus (and, when `sigmoid` is not NULL, sigmoid) of eight values at `rho` (`count` ≤ 8 of
// them valid: the rest padded with 0 and not written).
AVX2 static inline void softplus_sigmoid_tail(const float *rho, float *softplus, float *sigmoid, long count) {
    float in[8] = {0}, s[8], g[8];
    for (long j = 0; j < count; j++) in[j] = rho[j];
    __m256 r = _mm256_loadu_ps(in), u = exp_minus_abs8(r);
    _mm256_storeu_ps(s, softplus_of8(r, u));
    _mm256_storeu_ps(g, sigmoid_of8(r, u));
    for (long j = 0; j < count; j++) { softplus[j] = s[j]; if (sigmoid) sigmoid[j] = g[j]; }
}

AVX2 static void softplus_sigmoid_avx2(const float *rho, float *softplus, float *sigmoid, long n) {
    // Four independent vectors per round: each one's chain (exp, a division, the series) is
    // long, and four in flight keep both FMA pipes busy (1.6× the one-vector loop).
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 r[4], u[4];
        for (int k = 0; k < 4; k++) { r[k] = _mm256_loadu_ps(rho + i + 8 * k); u[k] = exp_minus_abs8(r[k]); }
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(softplus + i + 8 * k, softplus_of8(r[k], u[k]));
        if (sigmoid) for (int k = 0; k < 4; k++) _mm256_storeu_ps(sigmoid + i + 8 * k, sigmoid_of8(r[k], u[k]));
    }
    for (; i < n; i += 8) softplus_sigmoid_tail(rho + i, softplus + i, sigmoid ? sigmoid + i : NULL, n - i < 8 ? n - i : 8);
}

// (cos 2πt, sin 2πt) for t ∈ [0, 1), as FastMath.cosSinOfTurns: the nearest quarter turn taken
// out, Taylor polynomials to a⁸ on |a| ≤ π/4, then rotated by the quadrant.
AVX2 static inline void cos_sin_turns8(__m256 t, __m256 *cosine, __m256 *sine) {
    __m256 q = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(4.0f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256i quadrant = _mm256_and_si256(_mm256_cvtps_epi32(q), _mm256_set1_epi32(3));
    __m256 a = _mm256_mul_ps(_mm256_fnmadd_ps(q, _mm256_set1_ps(0.25f), t), _mm256_set1_ps(6.28318530717958648f));
    __m256 a2 = _mm256_mul_ps(a, a);
    __m256 s = _mm256_fmadd_ps(a2, _mm256_set1_ps(-1.0f / 5040), _mm256_set1_ps(1.0f / 120));
    s = _mm256_fmadd_ps(s, a2, _mm256_set1_ps(-1.0f / 6));
    s = _mm256_mul_ps(_mm256_fmadd_ps(s, a2, _mm256_set1_ps(1.0f)), a);
    __m256 c = _mm256_fmadd_ps(a2, _mm256_set1_ps(1.0f / 40320), _mm256_set1_ps(-1.0f / 720));
    c = _mm256_fmadd_ps(c, a2, _mm256_set1_ps(1.0f / 24));
    c = _mm256_fmadd_ps(c, a2, _mm256_set1_ps(-0.5f));
    c = _mm256_fmadd_ps(c, a2, _mm256_set1_ps(1.0f));
    __m256 swap = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(quadrant, _mm256_set1_epi32(1)), _mm256_set1_epi32(1)));
    __m256 cc = _mm256_blendv_ps(c, s, swap), ss = _mm256_blendv_ps(s, c, swap);
    __m256i cosineSign = _mm256_slli_epi32(_mm256_and_si256(_mm256_xor_si256(quadrant, _mm256_srli_epi32(quadrant, 1)), _mm256_set1_epi32(1)), 31);
    __m256i sineSign = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(quadrant, 1), _mm256_set1_epi32(1)), 31);
    *cosine = _mm256_xor_ps(cc, _mm256_castsi256_ps(cosineSign));
    *sine = _mm256_xor_ps(ss, _mm256_castsi256_ps(sineSign));
}

// Pairs k = 0..<pairs of 24-bit words (low = u₂'s, high = u₁'s, interleaved as in `words`) to
// out[2k], out[2k+1] = √(−2 log u₁)·(cos, sin)(2πu₂), u₁ = (high + 1)/2²⁴, u₂ = low/2²⁴.
AVX2 static void box_muller_avx2(const int *words, float *out, long pairs) {
    const __m256 scale = _mm256_set1_ps(0x1p-24f);
    long k = 0;
    for (; k + 8 <= pairs; k += 8) {
        // De-interleave 8 (low, high) pairs.
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(words + 2 * k)), w1 = _mm256_loadu_si256((const __m256i *)(words + 2 * k + 8));
        __m256 f0 = _mm256_castsi256_ps(w0), f1 = _mm256_castsi256_ps(w1);
        __m256 lows = _mm256_shuffle_ps(f0, f1, _MM_SHUFFLE(2, 0, 2, 0)), highs = _mm256_shuffle_ps(f0, f1, _MM_SHUFFLE(3, 1, 3, 1));
        // shuffle_ps works per 128-bit lane: the lanes hold pairs (0, 1, 4, 5 | 2, 3, 6, 7).
        __m256 u1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_castps_si256(highs), _mm256_set1_epi32(1))), scale);
        __m256 u2 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_castps_si256(lows)), scale);
        __m256 radius = _mm256_sqrt_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), log8(u1)), _mm256_setzero_ps()));
        __m256 c, s;
        cos_sin_turns8(u2, &c, &s);
        c = _mm256_mul_ps(radius, c);
        s = _mm256_mul_ps(radius, s);
        // Interleaved back per 128-bit lane: unpacklo gives pairs 0–3 in order, unpackhi pairs 4–7.
        _mm256_storeu_ps(out + 2 * k, _mm256_unpacklo_ps(c, s));
        _mm256_storeu_ps(out + 2 * k + 8, _mm256_unpackhi_ps(c, s));
    }
    for (; k < pairs; k += 8) {
        int w[16] = {0};
        float o[16];
        long count = pairs - k < 8 ? pairs - k : 8;
        for (long j = 0; j < 2 * count; j++) w[j] = words[2 * k + j];
        box_muller_avx2(w, o, 8);
        for (long j = 0; j < 2 * count; j++) out[2 * k + j] = o[j];
    }
}

AVX2 static double sum8(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    double total = 0;
    for (int j = 0; j < 8; j++) total += lanes[j];
    return total;
}

// The gradient's lanes i..i+8 formed from one weight sample's shard parts: Σⱼ parts[j], in the
// order given, times the layer noise's derivative `factor` (none: NULL). The plain kernels
// below are these with parts = {gradient} and no factor (the gradient updated in place).
AVX2 static inline __m256 parts_gradient8(const float *const *parts, long count, const float *factor, long i) {
    __m256 sum = _mm256_loadu_ps(parts[0] + i);
    for (long j = 1; j < count; j++) sum = _mm256_add_ps(sum, _mm256_loadu_ps(parts[j] + i));
    return factor ? _mm256_mul_ps(sum, _mm256_loadu_ps(factor + i)) : sum;
}

static inline float parts_gradient(const float *const *parts, long count, const float *factor, long i) {
    float sum = parts[0][i];
    for (long j = 1; j < count; j++) sum += parts[j][i];
    return factor ? sum * factor[i] : sum;
}

// σ's mantissa in [1, 2) (its exponent goes to a separate integer sum).
AVX2 static inline __m256 mantissa8(__m256i bits) {
    return _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F800000)));
}

// The eight 32-bit lanes' sum, widened.
AVX2 static inline long long sum8i(__m256i v) {
    int lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, v);
    long long total = 0;
    for (int j = 0; j < 8; j++) total += lanes[j];
    return total;
}

// gradient ← (g + c·(δσ − 1/σ))·sigmoid(ρ), g the parts' gradient; Σσ², Σ log σ. sigmoid(ρ) is read
// from `sigmoid`, or when that is NULL formed from `rho` (sigmoid_of8: the same values) — where
// the caller's Adam reads ρ right after, that costs no memory traffic, and the stored sigmoid's
// write and read do.
// Σ log σ without a log per value: log σ = e·log 2 + log m for σ = m·2ᵉ, so the biased exponents
// are summed as integers and the mantissas multiplied, sixteen per lane (a product < 2¹⁶), before
// one log of the product — the log was 40 % of this pass's work.
AVX2 static void gaussian_kl_sigma_parts_avx2(const float *const *parts, long partCount, const float *factor, const float *sigma,
                                              const float *sigmoid, const float *rho, float *gradient, long n, float precision,
                                              float scale, double *sumSquares, double *sumLogs) {
    __m256 d = _mm256_set1_ps(precision), c = _mm256_set1_ps(scale), one = _mm256_set1_ps(1.0f);
    __m256 squares0 = _mm256_setzero_ps(), squares1 = _mm256_setzero_ps(), logs0 = _mm256_setzero_ps(), logs1 = _mm256_setzero_ps();
    __m256 product0 = one, product1 = one;
    // Biased exponents (σ's exponent field is e + 127): sixteen rounds per lane in 32 bits, then
    // into the 64-bit total, so no length overflows.
    __m256i exponents = _mm256_setzero_si256();
    long long exponentSum = 0;
    long i = 0, multiplied = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 s0 = _mm256_loadu_ps(sigma + i), s1 = _mm256_loadu_ps(sigma + i + 8);
        __m256 g0 = parts_gradient8(parts, partCount, factor, i), g1 = parts_gradient8(parts, partCount, factor, i + 8);
        // (g + c·(δσ − 1/σ)) · sigmoid(ρ)
        __m256 h0, h1;
        if (sigmoid) {
            h0 = _mm256_loadu_ps(sigmoid + i); h1 = _mm256_loadu_ps(sigmoid + i + 8);
        } else {
            __m256 r0 = _mm256_loadu_ps(rho + i), r1 = _mm256_loadu_ps(rho + i + 8);
            h0 = sigmoid_of8(r0, exp_minus_abs8(r0)); h1 = sigmoid_of8(r1, exp_minus_abs8(r1));
        }
        g0 = _mm256_mul_ps(_mm256_fmadd_ps(c, _mm256_sub_ps(_mm256_mul_ps(d, s0), _mm256_div_ps(one, s0)), g0), h0);
        g1 = _mm256_mul_ps(_mm256_fmadd_ps(c, _mm256_sub_ps(_mm256_mul_ps(d, s1), _mm256_div_ps(one, s1)), g1), h1);
        _mm256_storeu_ps(gradient + i, g0); _mm256_storeu_ps(gradient + i + 8, g1);
        squares0 = _mm256_fmadd_ps(s0, s0, squares0); squares1 = _mm256_fmadd_ps(s1, s1, squares1);
        __m256i b0 = _mm256_castps_si256(s0), b1 = _mm256_castps_si256(s1);
        exponents = _mm256_add_epi32(exponents, _mm256_add_epi32(_mm256_srli_epi32(b0, 23), _mm256_srli_epi32(b1, 23)));
        product0 = _mm256_mul_ps(product0, mantissa8(b0)); product1 = _mm256_mul_ps(product1, mantissa8(b1));
        if (++multiplied == 16) {
            logs0 = _mm256_add_ps(logs0, log8(product0)); logs1 = _mm256_add_ps(logs1, log8(product1));
            exponentSum += sum8i(exponents);
            product0 = one; product1 = one; exponents = _mm256_setzero_si256(); multiplied = 0;
        }
    }
    logs0 = _mm256_add_ps(logs0, log8(product0)); logs1 = _mm256_add_ps(logs1, log8(product1));
    exponentSum += sum8i(exponents);
    double squares = sum8(squares0) + sum8(squares1);
    double logs = sum8(logs0) + sum8(logs1) + (double)(exponentSum - 127LL * i) * 0.693147180559945309;
    for (; i < n; i += 8) {
        float s[8], g[8], h[8], l[8], r[8];
        long count = n - i < 8 ? n - i : 8;
        for (long j = 0; j < 8; j++) {
            s[j] = j < count ? sigma[i + j] : 1;
            g[j] = j < count ? parts_gradient(parts, partCount, factor, i + j) : 0;
            h[j] = j < count && sigmoid ? sigmoid[i + j] : 0;
            r[j] = j < count && !sigmoid ? rho[i + j] : 0;
        }
        if (!sigmoid) {
            __m256 rv = _mm256_loadu_ps(r);
            _mm256_storeu_ps(h, sigmoid_of8(rv, exp_minus_abs8(rv)));
        }
        __m256 sv = _mm256_loadu_ps(s);
        __m256 gv = _mm256_mul_ps(_mm256_fmadd_ps(c, _mm256_sub_ps(_mm256_mul_ps(d, sv), _mm256_div_ps(one, sv)), _mm256_loadu_ps(g)),
                                  _mm256_loadu_ps(h));
        _mm256_storeu_ps(g, gv);
        _mm256_storeu_ps(l, log8(sv));   // log 1 = 0 in the padding
        for (long j = 0; j < count; j++) { gradient[i + j] = g[j]; squares += (double)s[j] * s[j]; logs += l[j]; }
    }
    *sumSquares = squares;
    *sumLogs = logs;
}

AVX2 static void gaussian_kl_sigma_avx2(const float *sigma, const float *sigmoid, float *gradient, long n, float precision,
                                        float scale, double *sumSquares, double *sumLogs) {
    const float *parts[1] = {gradient};
    gaussian_kl_sigma_parts_avx2(parts, 1, NULL, sigma, sigmoid, NULL, gradient, n, precision, scale, sumSquares, sumLogs);
}

// gradient ← g + c·x, g the parts' sum; Σx².
AVX2 static double add_scaled_parts_avx2(const float *const *parts, long partCount, const float *x, float *gradient, long n, float scale) {
    __m256 c = _mm256_set1_ps(scale), squares0 = _mm256_setzero_ps(), squares1 = _mm256_setzero_ps();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
        _mm256_storeu_ps(gradient + i, _mm256_fmadd_ps(c, x0, parts_gradient8(parts, partCount, NULL, i)));
        _mm256_storeu_ps(gradient + i + 8, _mm256_fmadd_ps(c, x1, parts_gradient8(parts, partCount, NULL, i + 8)));
        squares0 = _mm256_fmadd_ps(x0, x0, squares0); squares1 = _mm256_fmadd_ps(x1, x1, squares1);
    }
    double squares = sum8(squares0) + sum8(squares1);
    for (; i < n; i++) {
        gradient[i] = parts_gradient(parts, partCount, NULL, i) + scale * x[i];
        squares += (double)x[i] * x[i];
    }
    return squares;
}

AVX2 static double add_scaled_sum_squares_avx2(const float *x, float *gradient, long n, float scale) {
    const float *parts[1] = {gradient};
    return add_scaled_parts_avx2(parts, 1, x, gradient, n, scale);
}

AVX2 static void psgld_update_avx2(float *theta, float *v, const float *g, const float *z, long n, float alpha, float lambda,
                                   float s, float epsilon) {
    __m256 a = _mm256_set1_ps(alpha), b = _mm256_set1_ps(1.0f - alpha), l = _mm256_set1_ps(lambda), sc = _mm256_set1_ps(s);
    __m256 e = _mm256_set1_ps(epsilon), e2 = _mm256_set1_ps(2.0f * epsilon), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i), scaled = _mm256_mul_ps(sc, gi);
        __m256 vi = _mm256_fmadd_ps(a, _mm256_loadu_ps(v + i), _mm256_mul_ps(b, _mm256_mul_ps(scaled, scaled)));
        _mm256_storeu_ps(v + i, vi);
        __m256 p = _mm256_div_ps(one, _mm256_add_ps(l, _mm256_sqrt_ps(_mm256_max_ps(vi, zero))));
        __m256 step = _mm256_fmadd_ps(_mm256_mul_ps(e, p), gi, _mm256_mul_ps(_mm256_sqrt_ps(_mm256_mul_ps(e2, p)), _mm256_loadu_ps(z + i)));
        _mm256_storeu_ps(theta + i, _mm256_add_ps(_mm256_loadu_ps(theta + i), step));
    }
    for (; i < n; i++) {
        float scaled = s * g[i];
        v[i] = alpha * v[i] + (1.0f - alpha) * scaled * scaled;
        float p = 1.0f / (lambda + sqrtf(v[i] > 0 ? v[i] : 0));
        theta[i] += epsilon * p * g[i] + sqrtf(2.0f * epsilon * p) * z[i];
    }
}

// Adam's step with its learning rate on n weights — the chain (AddWeightDecay →) ScaleByAdam →
// ScaleByLearningRate → θ += u of Optimizer.swift in one pass, eight lanes at a time: g = Σ parts
// (in order) (+ λ·θ when `decayed`), m ← β₁m + (1−β₁)g, v ← β₂v + ((1−β₂)g)g, θ ← θ + ((m·c₁) / (√max(v, 0)·c₂ + ε))·s. The same
// operations in the same order, each rounded once (no FMA), so the numbers are the chain's bit
// for bit; the tail goes through the same lanes, padded.
AVX2 static inline void adam8(float *theta, float *m, float *v, __m256 g, __m256 b1, __m256 b1c, __m256 b2, __m256 b2c, __m256 c1,
                              __m256 c2, __m256 eps, __m256 s) {
    __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m)), _mm256_mul_ps(b1c, g));
    __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v)), _mm256_mul_ps(_mm256_mul_ps(b2c, g), g));
    _mm256_storeu_ps(m, mi);
    _mm256_storeu_ps(v, vi);
    // max(0, v): NaN stays NaN, as Swift.max(v, 0) keeps it (−0 becomes −0, not +0: no matter after + ε).
    __m256 root = _mm256_sqrt_ps(_mm256_max_ps(_mm256_setzero_ps(), vi));
    __m256 u = _mm256_div_ps(_mm256_mul_ps(mi, c1), _mm256_add_ps(_mm256_mul_ps(root, c2), eps));
    _mm256_storeu_ps(theta, _mm256_add_ps(_mm256_loadu_ps(theta), _mm256_mul_ps(u, s)));
}

// Σθ² of θ before the step goes to *sumSquares when it is not NULL (eight float lanes, then
// double) — a prior's value on the weights the step reads anyway.
AVX2 static void adam_update_avx2(float *theta, float *m, float *v, const float *const *parts, long partCount, long n, float beta1,
                                  float beta2, float c1, float sqrtC2, float epsilon, float scale, float decay, int decayed,
                                  double *sumSquares) {
    const __m256 b1 = _mm256_set1_ps(beta1), b1c = _mm256_set1_ps(1.0f - beta1), b2 = _mm256_set1_ps(beta2);
    const __m256 b2c = _mm256_set1_ps(1.0f - beta2), cv = _mm256_set1_ps(c1), c2 = _mm256_set1_ps(sqrtC2);
    const __m256 eps = _mm256_set1_ps(epsilon), s = _mm256_set1_ps(scale), d = _mm256_set1_ps(decay);
    __m256 squares = _mm256_setzero_ps();
    double tailSquares = 0;
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = parts_gradient8(parts, partCount, NULL, i);
        if (decayed || sumSquares) {
            __m256 t = _mm256_loadu_ps(theta + i);
            if (decayed) g = _mm256_add_ps(g, _mm256_mul_ps(d, t));
            if (sumSquares) squares = _mm256_fmadd_ps(t, t, squares);
        }
        adam8(theta + i, m + i, v + i, g, b1, b1c, b2, b2c, cv, c2, eps, s);
    }
    if (sumSquares) for (long j = i; j < n; j++) tailSquares += (double)theta[j] * theta[j];
    if (i < n) {
        float t[8] = {0}, mm[8] = {0}, vv[8] = {0}, g[8] = {0};
        long count = n - i;
        for (long j = 0; j < count; j++) { t[j] = theta[i + j]; mm[j] = m[i + j]; vv[j] = v[i + j]; g[j] = parts[0][i + j]; }
        __m256 gv = _mm256_loadu_ps(g);
        for (long k = 1; k < partCount; k++) {
            float more[8] = {0};
            for (long j = 0; j < count; j++) more[j] = parts[k][i + j];
            gv = _mm256_add_ps(gv, _mm256_loadu_ps(more));
        }
        if (decayed) gv = _mm256_add_ps(gv, _mm256_mul_ps(d, _mm256_loadu_ps(t)));
        adam8(t, mm, vv, gv, b1, b1c, b2, b2c, cv, c2, eps, s);
        for (long j = 0; j < count; j++) { theta[i + j] = t[j]; m[i + j] = mm[j]; v[i + j] = vv[j]; }
    }
    if (sumSquares) *sumSquares = sum8(squares) + tailSquares;
}

// An SG-MCMC gradient over one chunk from two shard parts and a Gaussian prior term (the
// samplers' ScaledGradient.form): out = (a + b)·s + c·θ, and Σθ² in double — eight partial sums,
// element i into sum i mod 8, combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), then
// the tail in order: the Swift loops' numbers bit for bit (no FMA; each product rounded once).
AVX2 static double two_part_gradient_avx2(const float *a, const float *b, const float *theta, float *out, long n, float scale,
                                          float prior) {
    const __m256 s = _mm256_set1_ps(scale), c = _mm256_set1_ps(prior);
    __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 t = _mm256_loadu_ps(theta + i);
        __m256 sum = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_mul_ps(sum, s), _mm256_mul_ps(c, t)));
        __m256d t0 = _mm256_cvtps_pd(_mm256_castps256_ps128(t)), t1 = _mm256_cvtps_pd(_mm256_extractf128_ps(t, 1));
        low = _mm256_add_pd(low, _mm256_mul_pd(t0, t0));
        high = _mm256_add_pd(high, _mm256_mul_pd(t1, t1));
    }
    double l[4], h[4];
    _mm256_storeu_pd(l, low);
    _mm256_storeu_pd(h, high);
    double total = ((l[0] + l[1]) + (l[2] + l[3])) + ((h[0] + h[1]) + (h[2] + h[3]));
    for (; i < n; i++) {
        __m256 sum = _mm256_add_ps(_mm256_set1_ps(a[i]), _mm256_set1_ps(b[i]));
        out[i] = _mm256_cvtss_f32(_mm256_add_ps(_mm256_mul_ps(sum, s), _mm256_mul_ps(c, _mm256_set1_ps(theta[i]))));
        __m256d t = _mm256_set1_pd((double)theta[i]);
        total = _mm256_cvtsd_f64(_mm256_add_pd(_mm256_set1_pd(total), _mm256_mul_pd(t, t)));
    }
    return total;
}

// Four xoshiro256** generators in the four 64-bit lanes (state: s0 of the four, then s1, s2,
// s3), `quads` rounds; each draw v stored as the two 24-bit words (v & 0xFFFFFF, v >> 40) —
// FastMath.fillNormalNoise's interleaved stream, pair k of a round from generator k.
AVX2 static void xoshiro_words4_avx2(unsigned long long *state, int *words, long quads) {
    __m256i s0 = _mm256_loadu_si256((const __m256i *)state), s1 = _mm256_loadu_si256((const __m256i *)(state + 4));
    __m256i s2 = _mm256_loadu_si256((const __m256i *)(state + 8)), s3 = _mm256_loadu_si256((const __m256i *)(state + 12));
    __m256i low = _mm256_set1_epi64x(0xFFFFFF), high = _mm256_set1_epi64x(0xFFFFFFLL << 32);
    for (long q = 0; q < quads; q++) {
        __m256i five = _mm256_add_epi64(_mm256_slli_epi64(s1, 2), s1);                              // s1·5
        __m256i rotated = _mm256_or_si256(_mm256_slli_epi64(five, 7), _mm256_srli_epi64(five, 57));  // rotl(·, 7)
        __m256i v = _mm256_add_epi64(_mm256_slli_epi64(rotated, 3), rotated);                        // ·9
        __m256i t = _mm256_slli_epi64(s1, 17);
        s2 = _mm256_xor_si256(s2, s0); s3 = _mm256_xor_si256(s3, s1);
        s1 = _mm256_xor_si256(s1, s2); s0 = _mm256_xor_si256(s0, s3);
        s2 = _mm256_xor_si256(s2, t);
        s3 = _mm256_or_si256(_mm256_slli_epi64(s3, 45), _mm256_srli_epi64(s3, 19));
        __m256i out = _mm256_or_si256(_mm256_and_si256(v, low), _mm256_and_si256(_mm256_srli_epi64(v, 8), high));
        _mm256_storeu_si256((__m256i *)(words + 8 * q), out);
    }
    _mm256_storeu_si256((__m256i *)state, s0); _mm256_storeu_si256((__m256i *)(state + 4), s1);
    _mm256_storeu_si256((__m256i *)(state + 8), s2); _mm256_storeu_si256((__m256i *)(state + 12), s3);
}

// The keep masks of pairs first + k … first + k + 7 of a dropout pattern (DropoutNoise.hash: each
// pair's low 16 bits keep its first element, its high 16 bits its second, when below threshold),
// in element order: *elements0 covers elements 2k … 2k + 7, *elements8 2k + 8 … 2k + 15 (all ones
// where kept).
AVX2 static inline void dropout_keep8(unsigned first, long k, unsigned key, unsigned threshold, __m256 *elements0, __m256 *elements8) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), keys = _mm256_set1_epi32((int)key);
    const __m256i limit = _mm256_set1_epi32((int)threshold), low16 = _mm256_set1_epi32(0xFFFF);
    const __m256i m1 = _mm256_set1_epi32(0x7FEB352D), m2 = _mm256_set1_epi32((int)0x846CA68B);
    __m256i x = _mm256_xor_si256(_mm256_add_epi32(_mm256_set1_epi32((int)(first + (unsigned)k)), lane), keys);
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, m1);
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
    x = _mm256_mullo_epi32(x, m2);
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    // Both halves are < 2¹⁶ and threshold ≤ 2¹⁶, so a signed comparison is exact.
    __m256i keepLow = _mm256_cmpgt_epi32(limit, _mm256_and_si256(x, low16));
    __m256i keepHigh = _mm256_cmpgt_epi32(limit, _mm256_srli_epi32(x, 16));
    // Per 128-bit lane: unpacklo gives pairs (0, 1 | 4, 5), unpackhi (2, 3 | 6, 7).
    __m256i a = _mm256_unpacklo_epi32(keepLow, keepHigh), b = _mm256_unpackhi_epi32(keepLow, keepHigh);
    *elements0 = _mm256_castsi256_ps(_mm256_permute2x128_si256(a, b, 0x20));
    *elements8 = _mm256_castsi256_ps(_mm256_permute2x128_si256(a, b, 0x31));
}

// Inverted dropout (DropoutNoise.apply), after a ReLU when `rectify` (max(x, 0), which is the
// ReLU's x > 0 ? x : 0 bit for bit): pair k of the pattern hashes first + k with `key`;
// the low 16 bits keep element 2k, the high 16 bits element 2k + 1 when below `threshold`.
// Eight pairs a round: the hashes in eight 32-bit lanes, the two masks interleaved back into
// element order, kept values src·scale (or scale alone when src is NULL), dropped ones +0 —
// the Swift loop's numbers bit for bit. Whole rounds only; the caller does the rest.
AVX2 static long dropout_pairs_avx2(const float *src, float *dst, long pairs, unsigned first, unsigned key, unsigned threshold,
                                    float scale, int rectify) {
    const __m256 s = _mm256_set1_ps(scale);
    long k = 0;
    for (; k + 8 <= pairs; k += 8) {
        __m256 first8, second8;
        dropout_keep8(first, k, key, threshold, &first8, &second8);
        __m256 v0 = s, v1 = s;
        if (src) {
            __m256 x0 = _mm256_loadu_ps(src + 2 * k), x1 = _mm256_loadu_ps(src + 2 * k + 8);
            if (rectify) { x0 = _mm256_max_ps(x0, _mm256_setzero_ps()); x1 = _mm256_max_ps(x1, _mm256_setzero_ps()); }
            v0 = _mm256_mul_ps(x0, s); v1 = _mm256_mul_ps(x1, s);
        }
        _mm256_storeu_ps(dst + 2 * k, _mm256_and_ps(first8, v0));
        _mm256_storeu_ps(dst + 2 * k + 8, _mm256_and_ps(second8, v1));
    }
    return k;
}

// Wellons' lowbias32 of v ^ key (DropoutNoise.hash).
static inline unsigned dropout_hash(unsigned v, unsigned key) {
    unsigned x = v ^ key;
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

// The set bits of a 4-bit mask as bytes (positions of the bits, lowest first), and their count.
static const unsigned nibble_positions[16] = {0x00000000, 0x00000000, 0x00000001, 0x00000100, 0x00000002, 0x00000200, 0x00000201, 0x00020100, 0x00000003, 0x00000300, 0x00000301, 0x00030100, 0x00000302, 0x00030200, 0x00030201, 0x03020100};
static const unsigned char nibble_counts[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};

// One row of credence_dropped_units_dense: the units of h (in of them, pairs from `first`) that
// the pattern drops and that are not zero, as indices (room for in + 4: each group of four
// writes four) and coefficients h·scale; returns their count. Branch-free: each four elements'
// mask picks their positions from a table (a loop over the set bits mispredicted a branch
// every round — a third of the kernel's time at rate 0.1).
AVX2 static long dropped_units_avx2(const float *h, long in, unsigned first, unsigned key, unsigned threshold, float scale,
                                    int *indices, float *coefficients) {
    long pairs = in / 2, k = 0, count = 0;
    for (; k + 8 <= pairs; k += 8) {
        __m256 first8, second8;
        dropout_keep8(first, k, key, threshold, &first8, &second8);
        unsigned kept = (unsigned)_mm256_movemask_ps(first8) | (unsigned)_mm256_movemask_ps(second8) << 8;
        __m256 zero = _mm256_setzero_ps();
        unsigned nonzero = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(h + 2 * k), zero, _CMP_NEQ_UQ))
                         | (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(h + 2 * k + 8), zero, _CMP_NEQ_UQ)) << 8;
        unsigned bits = ~kept & nonzero;
        for (int q = 0; q < 4; q++) {
            unsigned m = (bits >> (4 * q)) & 15;
            __m128i positions = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)nibble_positions[m]));
            _mm_storeu_si128((__m128i *)(indices + count), _mm_add_epi32(positions, _mm_set1_epi32((int)(2 * k + 4 * q))));
            count += nibble_counts[m];
        }
    }
    for (; k < pairs; k++) {
        unsigned x = dropout_hash(first + (unsigned)k, key);
        if ((x & 0xFFFF) >= threshold && h[2 * k] != 0) indices[count++] = (int)(2 * k);
        if ((x >> 16) >= threshold && h[2 * k + 1] != 0) indices[count++] = (int)(2 * k + 1);
    }
    for (long j = 0; j < count; j++) coefficients[j] = h[indices[j]] * scale;
    return count;
}

// z = base − Σⱼ coefficients[j]·weightT[indices[j], :] over columns c..<c + 8·chunks (chunks 8 or 1).
AVX2 static inline void subtract_rows_columns(const float *weightT, long stride, long c, int chunks, const float *base, float *z,
                                             const int *indices, const float *coefficients, long count) {
    if (chunks == 8) {
        // Written out: an array of accumulators is kept in memory by the compiler.
        __m256 a0 = _mm256_loadu_ps(base + c), a1 = _mm256_loadu_ps(base + c + 8), a2 = _mm256_loadu_ps(base + c + 16),
               a3 = _mm256_loadu_ps(base + c + 24), a4 = _mm256_loadu_ps(base + c + 32), a5 = _mm256_loadu_ps(base + c + 40),
               a6 = _mm256_loadu_ps(base + c + 48), a7 = _mm256_loadu_ps(base + c + 56);
        for (long j = 0; j < count; j++) {
            const float *w = weightT + (long)indices[j] * stride + c;
            __m256 f = _mm256_set1_ps(coefficients[j]);
            a0 = _mm256_fnmadd_ps(f, _mm256_loadu_ps(w), a0);
            a1 = _mm256_fnmadd_ps(f, _mm256_loadu_ps(w + 8), a1);
            a2 = _mm256_fnmadd_ps(f, _mm256_loadu_ps(w + 16), a2);
            a3 = _mm256_fnmadd_ps(f, _mm256_loadu_ps(w + 24), a3);
            a4 = _mm256_fnmadd_ps(f, _mm256_loadu_ps(w + 32), a4);
            a5 = _mm256_fnmadd_ps(f, _mm256_loadu_ps(w + 40), a5);
            a6 = _mm256_fnmadd_ps(f, _mm256_loadu_ps(w + 48), a6);
            a7 = _mm256_fnmadd_ps(f, _mm256_loadu_ps(w + 56), a7);
        }
        _mm256_storeu_ps(z + c, a0); _mm256_storeu_ps(z + c + 8, a1); _mm256_storeu_ps(z + c + 16, a2);
        _mm256_storeu_ps(z + c + 24, a3); _mm256_storeu_ps(z + c + 32, a4); _mm256_storeu_ps(z + c + 40, a5);
        _mm256_storeu_ps(z + c + 48, a6); _mm256_storeu_ps(z + c + 56, a7);
    } else {
        __m256 acc = _mm256_loadu_ps(base + c);
        for (long j = 0; j < count; j++)
            acc = _mm256_fnmadd_ps(_mm256_set1_ps(coefficients[j]), _mm256_loadu_ps(weightT + (long)indices[j] * stride + c), acc);
        _mm256_storeu_ps(z + c, acc);
    }
}

AVX2 static int dropped_units_dense_avx2(const float *h, long rows, long in, const float *weightT, long stride, long out,
                                         const float *base, float *z, unsigned first, unsigned key, unsigned threshold, float scale) {
    int *indices = malloc(sizeof(int) * (in + 4));
    float *coefficients = malloc(sizeof(float) * in);
    if (!indices || !coefficients) { free(indices); free(coefficients); return 0; }
    for (long i = 0; i < rows; i++) {
        long count = dropped_units_avx2(h + i * in, in, first + (unsigned)(i * (in / 2)), key, threshold, scale, indices, coefficients);
        const float *b = base + i * out;
        float *zi = z + i * out;
        long c = 0;
        for (; c + 64 <= out; c += 64) subtract_rows_columns(weightT, stride, c, 8, b, zi, indices, coefficients, count);
        for (; c + 8 <= out; c += 8) subtract_rows_columns(weightT, stride, c, 1, b, zi, indices, coefficients, count);
        for (; c < out; c++) {
            float acc = b[c];
            for (long j = 0; j < count; j++) acc = fmaf(-coefficients[j], weightT[(long)indices[j] * stride + c], acc);
            zi[c] = acc;
        }
    }
    free(indices);
    free(coefficients);
    return 1;
}

// Signs ±1: out[64w + j] = 1.0 with its sign bit set where bit j of draws[w] is 0 (the bit
// inverted), for n values — FastMath.fillRandomSigns's law, bit for bit. Eight lanes shift one
// 32-bit half of the word right by their bit positions (AVX2's per-lane shift, which the
// baseline x86-64 build of the Swift loop lacks).
AVX2 static void random_signs_avx2(const unsigned long long *draws, float *out, long n) {
    const __m256i one = _mm256_set1_epi32(0x3F800000), lowBit = _mm256_set1_epi32(1);
    const __m256i positions = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    long i = 0;
    for (; i + 64 <= n; i += 64) {
        unsigned long long inverted = ~draws[i / 64];
        __m256i halves[2] = {_mm256_set1_epi32((int)(unsigned)inverted), _mm256_set1_epi32((int)(unsigned)(inverted >> 32))};
        for (int k = 0; k < 8; k++) {
            __m256i shift = _mm256_add_epi32(positions, _mm256_set1_epi32(8 * (k & 3)));
            __m256i bit = _mm256_and_si256(_mm256_srlv_epi32(halves[k >> 2], shift), lowBit);
            _mm256_storeu_si256((__m256i *)(out + i + 8 * k), _mm256_or_si256(one, _mm256_slli_epi32(bit, 31)));
        }
    }
    if (i < n) {
        unsigned long long inverted = ~draws[i / 64];
        for (long j = 0; i + j < n; j++) {
            unsigned bits = 0x3F800000u | (unsigned)((inverted >> j) & 1) << 31;
            memcpy(out + i + j, &bits, 4);
        }
    }
}

static int vector_math_available(void) {
    static int available = -1;
    if (available < 0) {
        credence_cpu_features_t f = credence_cpu_features();
        available = f.avx2 && f.fma;
    }
    return available;
}

int credence_vector_math_available(void) { return vector_math_available(); }

int credence_softplus_sigmoid(const float *rho, float *softplus, float *sigmoid, long n) {
    if (!vector_math_available()) return 0;
    softplus_sigmoid_avx2(rho, softplus, sigmoid, n);
    return 1;
}

int credence_gaussian_kl_sigma(const float *sigma, const float *sigmoid, float *gradient, long n, float precision, float scale,
                               double *sumSquares, double *sumLogs) {
    if (!vector_math_available()) return 0;
    gaussian_kl_sigma_avx2(sigma, sigmoid, gradient, n, precision, scale, sumSquares, sumLogs);
    return 1;
}

int credence_box_muller(const int *words, float *out, long pairs) {
    if (!vector_math_available()) return 0;
    box_muller_avx2(words, out, pairs);
    return 1;
}

int credence_add_scaled_sum_squares(const float *x, float *gradient, long n, float scale, double *sumSquares) {
    if (!vector_math_available()) return 0;
    *sumSquares = add_scaled_sum_squares_avx2(x, gradient, n, scale);
    return 1;
}

int credence_psgld_update(float *theta, float *v, const float *g, const float *z, long n, float alpha, float lambda, float s,
                          float epsilon) {
    if (!vector_math_available()) return 0;
    psgld_update_avx2(theta, v, g, z, n, alpha, lambda, s, epsilon);
    return 1;
}

int credence_gaussian_kl_sigma_parts(const float *const *parts, long partCount, const float *factor, const float *sigma,
                                     const float *rho, float *gradient, long n, float precision, float scale,
                                     double *sumSquares, double *sumLogs) {
    if (!vector_math_available()) return 0;
    gaussian_kl_sigma_parts_avx2(parts, partCount, factor, sigma, NULL, rho, gradient, n, precision, scale, sumSquares, sumLogs);
    return 1;
}

int credence_add_scaled_parts(const float *const *parts, long partCount, const float *x, float *gradient, long n, float scale,
                              double *sumSquares) {
    if (!vector_math_available()) return 0;
    *sumSquares = add_scaled_parts_avx2(parts, partCount, x, gradient, n, scale);
    return 1;
}

int credence_adam_update(float *theta, float *m, float *v, const float *const *parts, long partCount, long n, float beta1, float beta2,
                         float c1, float sqrtC2, float epsilon, float scale, float decay, int decayed, double *sumSquares) {
    if (!vector_math_available()) return 0;
    adam_update_avx2(theta, m, v, parts, partCount, n, beta1, beta2, c1, sqrtC2, epsilon, scale, decay, decayed, sumSquares);
    return 1;
}

int credence_two_part_gradient(const float *a, const float *b, const float *theta, float *out, long n, float scale, float prior,
                               double *sumSquares) {
    if (!vector_math_available()) return 0;
    *sumSquares = two_part_gradient_avx2(a, b, theta, out, n, scale, prior);
    return 1;
}

int credence_xoshiro_words4(unsigned long long *state, int *words, long quads) {
    if (!vector_math_available()) return 0;
    xoshiro_words4_avx2(state, words, quads);
    return 1;
}

int credence_random_signs(const unsigned long long *draws, float *out, long n) {
    if (!vector_math_available()) return 0;
    random_signs_avx2(draws, out, n);
    return 1;
}

long credence_dropout_pairs(const float *src, float *dst, long pairs, unsigned first, unsigned key, unsigned threshold, float scale,
                            int rectify) {
    if (!vector_math_available()) return 0;
    return dropout_pairs_avx2(src, dst, pairs, first, key, threshold, scale, rectify);
}

int credence_dropped_units_dense(const float *h, long rows, long in, const float *weightT, long stride, long out, const float *base,
                                 float *z, unsigned first, unsigned key, unsigned threshold, float scale) {
    if (!vector_math_available() || in % 2 != 0) return 0;
    return dropped_units_dense_avx2(h, rows, in, weightT, stride, out, base, z, first, key, threshold, scale);
}

#else

int credence_random_signs(const unsigned long long *draws, float *out, long n) {
    (void)draws; (void)out; (void)n;
    return 0;
}
int credence_vector_math_available(void) { return 0; }
int credence_softplus_sigmoid(const float *rho, float *softplus, float *sigmoid, long n) {
    (void)rho; (void)softplus; (void)sigmoid; (void)n;
    return 0;
}
int credence_gaussian_kl_sigma(const float *sigma, const float *sigmoid, float *gradient, long n, float precision, float scale,
                               double *sumSquares, double *sumLogs) {
    (void)sigma; (void)sigmoid; (void)gradient; (void)n; (void)precision; (void)scale; (void)sumSquares; (void)sumLogs;
    return 0;
}
int credence_box_muller(const int *words, float *out, long pairs) {
    (void)words; (void)out; (void)pairs;
    return 0;
}
int credence_add_scaled_sum_squares(const float *x, float *gradient, long n, float scale, double *sumSquares) {
    (void)x; (void)gradient; (void)n; (void)scale; (void)sumSquares;
    return 0;
}
int credence_psgld_update(float *theta, float *v, const float *g, const float *z, long n, float alpha, float lambda, float s,
                          float epsilon) {
    (void)theta; (void)v; (void)g; (void)z; (void)n; (void)alpha; (void)lambda; (void)s; (void)epsilon;
    return 0;
}

int credence_gaussian_kl_sigma_parts(const float *const *parts, long partCount, const float *factor, const float *sigma,
                                     const float *rho, float *gradient, long n, float precision, float scale,
                                     double *sumSquares, double *sumLogs) {
    (void)parts; (void)partCount; (void)factor; (void)sigma; (void)rho; (void)gradient; (void)n; (void)precision; (void)scale;
    (void)sumSquares; (void)sumLogs;
    return 0;
}
int credence_add_scaled_parts(const float *const *parts, long partCount, const float *x, float *gradient, long n, float scale,
                              double *sumSquares) {
    (void)parts; (void)partCount; (void)x; (void)gradient; (void)n; (void)scale; (void)sumSquares;
    return 0;
}
int credence_xoshiro_words4(unsigned long long *state, int *words, long quads) {
    (void)state; (void)words; (void)quads;
    return 0;
}
int credence_two_part_gradient(const float *a, const float *b, const float *theta, float *out, long n, float scale, float prior,
                               double *sumSquares) {
    (void)a; (void)b; (void)theta; (void)out; (void)n; (void)scale; (void)prior; (void)sumSquares;
    return 0;
}
int credence_adam_update(float *theta, float *m, float *v, const float *const *parts, long partCount, long n, float beta1, float beta2,
                         float c1, float sqrtC2, float epsilon, float scale, float decay, int decayed, double *sumSquares) {
    (void)theta; (void)m; (void)v; (void)parts; (void)partCount; (void)n; (void)beta1; (void)beta2; (void)c1; (void)sqrtC2; (void)epsilon;
    (void)scale; (void)decay; (void)decayed; (void)sumSquares;
    return 0;
}
long credence_dropout_pairs(const float *src, float *dst, long pairs, unsigned first, unsigned key, unsigned threshold, float scale,
                            int rectify) {
    (void)src; (void)dst; (void)pairs; (void)first; (void)key; (void)threshold; (void)scale; (void)rectify;
    return 0;
}

int credence_dropped_units_dense(const float *h, long rows, long in, const float *weightT, long stride, long out, const float *base,
                                 float *z, unsigned first, unsigned key, unsigned threshold, float scale) {
    (void)h; (void)rows; (void)in; (void)weightT; (void)stride; (void)out; (void)base; (void)z; (void)first; (void)key; (void)threshold;
    (void)scale;
    return 0;
}

#endif
