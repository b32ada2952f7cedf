#ifndef CFUSEDKERNELS_H
#define CFUSEDKERNELS_H

// Hand-written kernels for the products OpenBLAS runs slowly because its packing dominates: GEMMs
// with a few rows (KV-cache decoding) and the per-(batch, head) attention of short sequences.
// Every entry point takes `use_avx2`: nonzero runs the AVX2/FMA code (compiled per function with
// __attribute__((target)), so the library needs no CPU-specific flags); the caller passes it only
// when cfk_cpu_has_avx2_fma() said so. Zero runs the portable C code. Matrices are row-major
// float32 with explicit leading dimensions.

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the CPU (and OS) run AVX2 and FMA instructions, else 0.
int cfk_cpu_has_avx2_fma(void);

/// C[m, n] = alpha * A[m, k] * B[n, k]ᵀ + beta * C by dot products over k, without packing: a
/// few rows times a linear layer's [out, in] weight (KV-cache decoding). beta = 0 never reads C.
void cfk_sgemm_abt_small(int use_avx2, long m, long n, long k, float alpha, const float *a, long lda,
                         const float *b, long ldb, float beta, float *c, long ldc);

/// One (batch, head) of scaled dot-product attention: att = softmax(q kᵀ · scale [causal mask])
/// and y = att v, for q [tq, hd], k and v [tk, hd] (row strides ldq, ldk, ldv, unit column
/// stride). With `causal`, query i sees keys 0 ... i + tk - tq (tk >= tq). att is a contiguous
/// [tq, tk] matrix (masked entries written as 0); y has row stride ldy.
/// Returns 0, or -1 when scratch memory could not be allocated.
int cfk_attention_forward(int use_avx2, long tq, long tk, long hd, float scale, int causal,
                          const float *q, long ldq, const float *k, long ldk, const float *v, long ldv,
                          float *att, float *y, long ldy);

/// The gradients of cfk_attention_forward for the output gradient dy [tq, hd] (row stride ldg),
/// given the kept att: dq [tq, hd], dk and dv [tk, hd] with row strides lddq, lddk, lddv.
/// Returns 0, or -1 when scratch memory could not be allocated.
int cfk_attention_backward(int use_avx2, long tq, long tk, long hd, float scale, int causal,
                           const float *q, long ldq, const float *k, long ldk, const float *v, long ldv,
                           const float *att, const float *dy, long ldg,
                           float *dq, long lddq, float *dk, long lddk, float *dv, long lddv);

#ifdef __cplusplus
}
#endif

#endif
