// The entry points: CPU detection, the small-M GEMM (A Bᵀ) and the per-head attention driver, which runs
// the same steps on either primitive table (AVX2 or portable).

#include <stdlib.h>
#include "CFusedKernels.h"
#include "internal.h"

int cfk_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    // Both builtins also check that the OS saves the YMM registers.
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static const cfk_ops *ops(int use_avx2) { return use_avx2 ? &cfk_ops_avx2 : &cfk_ops_portable; }

static const cfk_limits no_limits = { LIMIT_NONE, 0 };

void cfk_sgemm_abt_small(int use_avx2, long m, long n, long k, float alpha, const float *a, long lda,
                         const float *b, long ldb, float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0) return;  /* nothing to write; the AVX2 tiles assume at least one row */
    ops(use_avx2)->nt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, no_limits);
}

/// Up to this many query rows, scores are dot products against k's rows; above it, k is
/// transposed once so the outer-product tile can run (decoding has one query row per sequence).
enum { DOT_PRODUCT_ROWS = 4 };

/// dst [cols, rows] = src [rows, cols]ᵀ, src with row stride ld.
static void transpose(const float *src, long ld, long rows, long cols, float *dst) {
    for (long i0 = 0; i0 < rows; i0 += 8) {
        long i1 = i0 + 8 < rows ? i0 + 8 : rows;
        for (long j = 0; j < cols; j++)
            for (long i = i0; i < i1; i++) dst[j * rows + i] = src[i * ld + j];
    }
}

/// Products with the query row as output row (scores, att · V, dS · K) and with the key row as
/// output row (attᵀ · dY, dSᵀ · Q), masked or not.
static void limits(int causal, long tq, long tk, cfk_limits *by_query_n, cfk_limits *by_query_k, cfk_limits *by_key) {
    long shift = tk - tq;
    cfk_limits none = { LIMIT_NONE, 0 };
    cfk_limits qn = { LIMIT_N_TO_ROW, shift }, qk = { LIMIT_K_END_TO_ROW, shift }, kq = { LIMIT_K_BEGIN_FROM_ROW, shift };
    *by_query_n = causal ? qn : none;
    *by_query_k = causal ? qk : none;
    *by_key = causal ? kq : none;
}

static long visible(int causal, long i, long tq, long tk) {
    long v = i + tk - tq + 1;
    return causal ? (v < tk ? v : tk) : tk;
}

/// out [tq, tk] = alpha · x [tq, hd] · w [tk, hd]ᵀ within `lim`; `scratch` holds hd · tk floats.
static void scores(const cfk_ops *o, long tq, long tk, long hd, float alpha, const float *x, long ldx,
                   const float *w, long ldw, float *out, cfk_limits lim, float *scratch) {
    if (tq <= DOT_PRODUCT_ROWS) {
        o->nt(tq, tk, hd, alpha, x, ldx, w, ldw, 0, out, tk, lim);
    } else {
        transpose(w, ldw, tk, hd, scratch);
        o->mm(tq, tk, hd, alpha, x, ldx, 1, scratch, tk, 0, out, tk, lim);
    }
}

int cfk_attention_forward(int use_avx2, long tq, long tk, long hd, float scale, int causal,
                          const float *q, long ldq, const float *k, long ldk, const float *v, long ldv,
                          float *att, float *y, long ldy) {
    if (tq <= 0) return 0;  /* no query rows: nothing to write */
    const cfk_ops *o = ops(use_avx2);
    cfk_limits qn, qk, kq;
    limits(causal, tq, tk, &qn, &qk, &kq);
    float *kt = NULL;
    if (tq > DOT_PRODUCT_ROWS && !(kt = malloc(sizeof(float) * (size_t)(hd * tk + 1)))) return -1;
    scores(o, tq, tk, hd, scale, q, ldq, k, ldk, att, qn, kt);
    free(kt);
    for (long i = 0; i < tq; i++) o->softmax_row(att + i * tk, visible(causal, i, tq, tk), tk);
    o->mm(tq, hd, tk, 1, att, tk, 1, v, ldv, 0, y, ldy, qk);
    return 0;
}

int cfk_attention_backward(int use_avx2, long tq, long tk, long hd, float scale, int causal,
                           const float *q, long ldq, const float *k, long ldk, const float *v, long ldv,
                           const float *att, const float *dy, long ldg,
                           float *dq, long lddq, float *dk, long lddk, float *dv, long lddv) {
    const cfk_ops *o = ops(use_avx2);
    cfk_limits qn, qk, kq;
    limits(causal, tq, tk, &qn, &qk, &kq);
    float *ds = malloc(sizeof(float) * (size_t)(tq * tk + hd * tk + 1));
    if (!ds) return -1;
    // dV = attᵀ dY
    o->mm(tk, hd, tq, 1, att, 1, tk, dy, ldg, 0, dv, lddv, kq);
    // dAtt = dY Vᵀ, then dS = att · (dAtt - rowsum(dAtt · att)) · scale in place
    scores(o, tq, tk, hd, 1, dy, ldg, v, ldv, ds, qn, ds + tq * tk);
    for (long i = 0; i < tq; i++) o->softmax_grad_row(att + i * tk, ds + i * tk, visible(causal, i, tq, tk), tk, scale);
    // dQ = dS K; dK = dSᵀ Q
    o->mm(tq, hd, tk, 1, ds, tk, 1, k, ldk, 0, dq, lddq, qk);
    o->mm(tk, hd, tq, 1, ds, 1, tk, q, ldq, 0, dk, lddk, kq);
    free(ds);
    return 0;
}
