// The AVX2/FMA code. Each function carries __attribute__((target("avx2,fma"))), so the target
// builds without CPU-specific flags; callers reach it only after cfk_cpu_has_avx2_fma().
//
// Tiles are always-inline functions with constant sizes, so their accumulator arrays live in
// registers: `mm` is the classic 6 x 16 outer-product tile (12 accumulators, two B vectors, one
// broadcast) reading B straight from its rows, without packing; `nt` keeps up to 8 dot products
// over K in flight and reduces them horizontally once at the end.

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>
#include "internal.h"

#define AVX2 __attribute__((target("avx2,fma")))
#define TILE static inline __attribute__((always_inline, target("avx2,fma")))

TILE __m256i tail_mask(long count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

TILE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// MARK: mm, C = alpha · A · B (+ beta · C)

typedef struct {
    const float *a; long rsa, csa;
    const float *b; long ldb;
    float *c; long ldc;
    float alpha, beta;
} mm_args;

/// Rows r0 ..< r0 + R, columns n0 ..< n0 + 8·V (the last vector masked by `mask` when MASKED),
/// summing p over kb ..< ke.
TILE void mm_tile(const int R, const int V, const int MASKED, const mm_args *x,
                  long r0, long n0, long kb, long ke, __m256i mask) {
    __m256 acc[6][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = _mm256_setzero_ps();
    const float *bp = x->b + kb * x->ldb + n0;
    const float *ap = x->a + r0 * x->rsa + kb * x->csa;
    const long rsa = x->rsa, csa = x->csa, ldb = x->ldb;
    for (long p = kb; p < ke; p++) {
        __m256 bv[2];
        for (int v = 0; v < V; v++)
            bv[v] = (MASKED && v == V - 1) ? _mm256_maskload_ps(bp + 8 * v, mask) : _mm256_loadu_ps(bp + 8 * v);
        for (int r = 0; r < R; r++) {
            __m256 av = _mm256_broadcast_ss(ap + r * rsa);
            for (int v = 0; v < V; v++) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
        }
        bp += ldb;
        ap += csa;
    }
    const __m256 alpha = _mm256_set1_ps(x->alpha), beta = _mm256_set1_ps(x->beta);
    for (int r = 0; r < R; r++) {
        float *cp = x->c + (r0 + r) * x->ldc + n0;
        for (int v = 0; v < V; v++) {
            __m256 out = _mm256_mul_ps(acc[r][v], alpha);
            if (MASKED && v == V - 1) {
                if (x->beta != 0) out = _mm256_fmadd_ps(beta, _mm256_maskload_ps(cp + 8 * v, mask), out);
                _mm256_maskstore_ps(cp + 8 * v, mask, out);
            } else {
                if (x->beta != 0) out = _mm256_fmadd_ps(beta, _mm256_loadu_ps(cp + 8 * v), out);
                _mm256_storeu_ps(cp + 8 * v, out);
            }
        }
    }
}

/// Columns n0 ..< min(n0 + 16, n_end) of the R rows at r0.
TILE void mm_panel(const int R, const mm_args *x, long r0, long n0, long n_end, long kb, long ke) {
    const __m256i none = _mm256_setzero_si256();
    long rest = n_end - n0;
    if (rest >= 16) mm_tile(R, 2, 0, x, r0, n0, kb, ke, none);
    else if (rest > 8) mm_tile(R, 2, 1, x, r0, n0, kb, ke, tail_mask(rest - 8));
    else if (rest == 8) mm_tile(R, 1, 0, x, r0, n0, kb, ke, none);
    else if (rest > 0) mm_tile(R, 1, 1, x, r0, n0, kb, ke, tail_mask(rest));
}

AVX2 static void mm_avx2(long m, long n, long k, float alpha, const float *a, long rsa, long csa,
                         const float *b, long ldb, float beta, float *c, long ldc, cfk_limits lim) {
    const mm_args x = { a, rsa, csa, b, ldb, c, ldc, alpha, beta };
    // Column panels outside, row blocks inside: a [k, 16] panel of B stays in cache while every
    // row block passes over it, so B is read from memory once.
    for (long n0 = 0; n0 < n; n0 += 16) {
        for (long r0 = 0; r0 < m; r0 += 6) {
            long r1 = r0 + 6 < m ? r0 + 6 : m;
            long n_end, kb, ke;
            cfk_block_range(lim, r0, r1, n, k, &n_end, &kb, &ke);
            if (n0 >= n_end) continue;
            // Whole panels past a causal limit (up to n): those scores are masked afterwards
            // anyway, and AMD's masked stores are slow.
            if (lim.kind == LIMIT_N_TO_ROW) n_end = n0 + 16 < n ? n0 + 16 : n;
            if (ke < kb) ke = kb;
            switch (r1 - r0) {
            case 6: mm_panel(6, &x, r0, n0, n_end, kb, ke); break;
            case 5: mm_panel(5, &x, r0, n0, n_end, kb, ke); break;
            case 4: mm_panel(4, &x, r0, n0, n_end, kb, ke); break;
            case 3: mm_panel(3, &x, r0, n0, n_end, kb, ke); break;
            case 2: mm_panel(2, &x, r0, n0, n_end, kb, ke); break;
            default: mm_panel(1, &x, r0, n0, n_end, kb, ke); break;
            }
        }
    }
}

// MARK: nt, C = alpha · A · Bᵀ (+ beta · C) by dot products

/// How many tiles ahead `nt` prefetches B's rows. Decoding streams every weight from memory once
/// per token, and the hardware prefetcher alone ran dry with two or eight interleaved row streams:
/// with 4 tiles ahead, 30 SmolLM layers at 4 rows took 0.6-0.7 of OpenBLAS's time instead of 0.9-1.0.
enum { NT_PREFETCH_TILES = 4 };

/// Rows i0 ..< i0 + R of A against rows j0 ..< j0 + N of B, over all k.
TILE void nt_tile(const int R, const int N, const float *a, long lda, const float *b, long ldb, long k,
                  float alpha, float beta, float *c, long ldc, long i0, long j0) {
    __m256 acc[4][8];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < N; j++) acc[r][j] = _mm256_setzero_ps();
    const float *ap = a + i0 * lda, *bp = b + j0 * ldb;
    long p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 av[4];
        for (int r = 0; r < R; r++) av[r] = _mm256_loadu_ps(ap + r * lda + p);
        for (int j = 0; j < N; j++) {
            _mm_prefetch((const char *)(bp + (j + NT_PREFETCH_TILES * N) * ldb + p), _MM_HINT_T0);
            __m256 bv = _mm256_loadu_ps(bp + j * ldb + p);
            for (int r = 0; r < R; r++) acc[r][j] = _mm256_fmadd_ps(av[r], bv, acc[r][j]);
        }
    }
    if (p < k) {
        __m256i mask = tail_mask(k - p);
        __m256 av[4];
        for (int r = 0; r < R; r++) av[r] = _mm256_maskload_ps(ap + r * lda + p, mask);
        for (int j = 0; j < N; j++) {
            __m256 bv = _mm256_maskload_ps(bp + j * ldb + p, mask);
            for (int r = 0; r < R; r++) acc[r][j] = _mm256_fmadd_ps(av[r], bv, acc[r][j]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < N; j++) {
            float *cp = c + (i0 + r) * ldc + j0 + j;
            float s = alpha * hsum(acc[r][j]);
            *cp = beta == 0 ? s : s + beta * *cp;
        }
}

/// Rows i0 ..< i0 + R (R <= 4) against the columns below n_end, in blocks of N.
#define NT_COLUMNS(R, N)                                                                          \
    do {                                                                                          \
        long j0 = 0;                                                                              \
        for (; j0 + (N) <= n_end; j0 += (N)) nt_tile(R, N, a, lda, b, ldb, k, alpha, beta, c, ldc, i0, j0); \
        for (; j0 < n_end; j0++) nt_tile(R, 1, a, lda, b, ldb, k, alpha, beta, c, ldc, i0, j0); \
    } while (0)

AVX2 static void nt_avx2(long m, long n, long k, float alpha, const float *a, long lda,
                         const float *b, long ldb, float beta, float *c, long ldc, cfk_limits lim) {
    if (m <= 4) {
        long n_end, kb, ke, i0 = 0;
        cfk_block_range(lim, 0, m, n, k, &n_end, &kb, &ke);
        if (m == 1) NT_COLUMNS(1, 8);
        else if (m == 2) NT_COLUMNS(2, 4);
        else if (m == 3) NT_COLUMNS(3, 2);
        else NT_COLUMNS(4, 2);
        return;
    }
    if (lim.kind != LIMIT_NONE) {
        // Row blocks of up to four, each to its own causal limit.
        for (long i = 0; i < m; i += 4) {
            long rows = m - i < 4 ? m - i : 4;
            cfk_limits shifted = { lim.kind, lim.shift + i };
            nt_avx2(rows, n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc, shifted);
        }
        return;
    }
    // Many rows: each pair of B rows (a weight's output rows) stays in L1 while every block of A
    // rows passes over it, so B is read from memory once.
    long j0 = 0;
    for (; j0 + 2 <= n; j0 += 2) {
        long i0 = 0;
        for (; i0 + 4 <= m; i0 += 4) nt_tile(4, 2, a, lda, b, ldb, k, alpha, beta, c, ldc, i0, j0);
        switch (m - i0) {
        case 3: nt_tile(3, 2, a, lda, b, ldb, k, alpha, beta, c, ldc, i0, j0); break;
        case 2: nt_tile(2, 2, a, lda, b, ldb, k, alpha, beta, c, ldc, i0, j0); break;
        case 1: nt_tile(1, 2, a, lda, b, ldb, k, alpha, beta, c, ldc, i0, j0); break;
        default: break;
        }
    }
    if (j0 < n) {
        long i0 = 0;
        for (; i0 + 4 <= m; i0 += 4) nt_tile(4, 1, a, lda, b, ldb, k, alpha, beta, c, ldc, i0, j0);
        for (; i0 < m; i0++) nt_tile(1, 1, a, lda, b, ldb, k, alpha, beta, c, ldc, i0, j0);
    }
}

// MARK: softmax rows

/// FastMath's exp (n·ln2 reduction, degree-6 polynomial, expf's limits) with FMA.
TILE __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.7f);
    // Selects, not min/max, so that a NaN stays NaN.
    __m256 below = _mm256_cmp_ps(x, lo, _CMP_LT_OQ), above = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
    __m256 cl = _mm256_blendv_ps(_mm256_blendv_ps(x, lo, below), hi, above);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 shifted = _mm256_fmadd_ps(cl, _mm256_set1_ps(1.44269504f), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.69314575f), cl);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.4286068e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted),
                                                                    _mm256_set1_epi32(0x4B400000)),
                                                   _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), below);
    return _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(88.72283f), _CMP_GT_OQ));
}

AVX2 static void softmax_row_avx2(float *row, long visible, long n) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 mx = ninf;
    long j = 0;
    // A NaN never replaces the running maximum (as rowMax skips it); it reaches the output
    // through its own exp.
    for (; j + 8 <= visible; j += 8) {
        __m256 v = _mm256_loadu_ps(row + j);
        mx = _mm256_blendv_ps(mx, v, _mm256_cmp_ps(v, mx, _CMP_GT_OQ));
    }
    __m256i tm = tail_mask(visible - j);
    if (j < visible) {
        __m256 v = _mm256_blendv_ps(ninf, _mm256_maskload_ps(row + j, tm), _mm256_castsi256_ps(tm));
        mx = _mm256_blendv_ps(mx, v, _mm256_cmp_ps(v, mx, _CMP_GT_OQ));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const __m256 shift = _mm256_set1_ps(_mm_cvtss_f32(m4));
    __m256 sum = _mm256_setzero_ps();
    for (j = 0; j + 8 <= visible; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j), shift));
        _mm256_storeu_ps(row + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (j < visible) {
        __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(row + j, tm), shift)), _mm256_castsi256_ps(tm));
        _mm256_maskstore_ps(row + j, tm, e);
        sum = _mm256_add_ps(sum, e);
    }
    const __m256 inv = _mm256_set1_ps(1 / hsum(sum));
    for (j = 0; j + 8 <= visible; j += 8) _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inv));
    if (j < visible) _mm256_maskstore_ps(row + j, tm, _mm256_mul_ps(_mm256_maskload_ps(row + j, tm), inv));
    for (j = visible; j < n; j++) row[j] = 0;
}

AVX2 static void softmax_grad_row_avx2(const float *p, float *d, long visible, long n, float scale) {
    __m256 acc = _mm256_setzero_ps();
    long j = 0;
    for (; j + 8 <= visible; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + j), _mm256_loadu_ps(d + j), acc);
    __m256i tm = tail_mask(visible - j);
    if (j < visible) acc = _mm256_fmadd_ps(_mm256_maskload_ps(p + j, tm), _mm256_maskload_ps(d + j, tm), acc);
    const __m256 dot = _mm256_set1_ps(hsum(acc)), s = _mm256_set1_ps(scale);
    for (j = 0; j + 8 <= visible; j += 8) {
        __m256 g = _mm256_mul_ps(_mm256_loadu_ps(p + j), _mm256_sub_ps(_mm256_loadu_ps(d + j), dot));
        _mm256_storeu_ps(d + j, _mm256_mul_ps(g, s));
    }
    if (j < visible) {
        __m256 g = _mm256_mul_ps(_mm256_maskload_ps(p + j, tm), _mm256_sub_ps(_mm256_maskload_ps(d + j, tm), dot));
        _mm256_maskstore_ps(d + j, tm, _mm256_mul_ps(g, s));
    }
    for (j = visible; j < n; j++) d[j] = 0;
}

const cfk_ops cfk_ops_avx2 = { mm_avx2, nt_avx2, softmax_row_avx2, softmax_grad_row_avx2 };

#endif
