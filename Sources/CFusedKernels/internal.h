#ifndef CFUSEDKERNELS_INTERNAL_H
#define CFUSEDKERNELS_INTERNAL_H

// What the AVX2 and the portable code share: the causal limits of a product and the table of
// primitives the attention driver runs on.

/// Which part of a product a block of output rows [r0, r1) needs under a causal mask with
/// query i seeing keys 0 ... i + shift:
/// - LIMIT_N_TO_ROW: columns below r1 + shift (scores; columns past it may or may not be written);
/// - LIMIT_K_END_TO_ROW: the sum over p stops before r1 + shift (att · V, dS · K);
/// - LIMIT_K_BEGIN_FROM_ROW: the sum over p starts at r0 - shift (attᵀ · dY, dSᵀ · Q).
/// The skipped terms are masked probabilities, exact zeros, so only whole blocks differ.
enum { LIMIT_NONE = 0, LIMIT_N_TO_ROW, LIMIT_K_END_TO_ROW, LIMIT_K_BEGIN_FROM_ROW };
typedef struct { int kind; long shift; } cfk_limits;

static inline void cfk_block_range(cfk_limits lim, long r0, long r1, long n, long k,
                                   long *n_end, long *k_begin, long *k_end) {
    *n_end = n; *k_begin = 0; *k_end = k;
    switch (lim.kind) {
    case LIMIT_N_TO_ROW: *n_end = r1 + lim.shift < n ? r1 + lim.shift : n; break;
    case LIMIT_K_END_TO_ROW: *k_end = r1 + lim.shift < k ? r1 + lim.shift : k; break;
    case LIMIT_K_BEGIN_FROM_ROW: *k_begin = r0 - lim.shift > 0 ? (r0 - lim.shift < k ? r0 - lim.shift : k) : 0; break;
    default: break;
    }
    if (*n_end < 0) *n_end = 0;
    if (*k_end < 0) *k_end = 0;
}

typedef struct {
    /// C = alpha · A · B (+ beta · C), A(i, p) = a[i·rsa + p·csa], B [k, n] row-major.
    void (*mm)(long m, long n, long k, float alpha, const float *a, long rsa, long csa,
               const float *b, long ldb, float beta, float *c, long ldc, cfk_limits lim);
    /// C = alpha · A · Bᵀ (+ beta · C), A [m, k] and B [n, k] row-major (dot products).
    void (*nt)(long m, long n, long k, float alpha, const float *a, long lda,
               const float *b, long ldb, float beta, float *c, long ldc, cfk_limits lim);
    /// row[0..<visible] = softmax(row[0..<visible]); row[visible..<n] = 0.
    void (*softmax_row)(float *row, long visible, long n);
    /// d[j] = p[j] · (d[j] - Σ p·d) · scale for j < visible, 0 after (d holds dP, then dS).
    void (*softmax_grad_row)(const float *p, float *d, long visible, long n, float scale);
} cfk_ops;

extern const cfk_ops cfk_ops_portable;
extern const cfk_ops cfk_ops_avx2;

#endif
