// The portable C code behind every entry point: what runs on a CPU without AVX2/FMA, and what the
// tests compare the AVX2 code with. Plain loops the compiler may vectorise with baseline SSE.

#include <math.h>
#include <string.h>
#include "internal.h"

enum { COLUMN_CHUNK = 256 };

static void mm_portable(long m, long n, long k, float alpha, const float *a, long rsa, long csa,
                        const float *b, long ldb, float beta, float *c, long ldc, cfk_limits lim) {
    float acc[COLUMN_CHUNK];
    for (long i = 0; i < m; i++) {
        long n_end, kb, ke;
        cfk_block_range(lim, i, i + 1, n, k, &n_end, &kb, &ke);
        for (long j0 = 0; j0 < n_end; j0 += COLUMN_CHUNK) {
            long w = n_end - j0 < COLUMN_CHUNK ? n_end - j0 : COLUMN_CHUNK;
            memset(acc, 0, sizeof(float) * (size_t)w);
            for (long p = kb; p < ke; p++) {
                float av = a[i * rsa + p * csa];
                const float *br = b + p * ldb + j0;
                for (long j = 0; j < w; j++) acc[j] += av * br[j];
            }
            float *cr = c + i * ldc + j0;
            if (beta == 0) {
                for (long j = 0; j < w; j++) cr[j] = alpha * acc[j];
            } else {
                for (long j = 0; j < w; j++) cr[j] = alpha * acc[j] + beta * cr[j];
            }
        }
    }
}

static void nt_portable(long m, long n, long k, float alpha, const float *a, long lda,
                        const float *b, long ldb, float beta, float *c, long ldc, cfk_limits lim) {
    for (long i = 0; i < m; i++) {
        long n_end, kb, ke;
        cfk_block_range(lim, i, i + 1, n, k, &n_end, &kb, &ke);
        const float *ar = a + i * lda;
        for (long j = 0; j < n_end; j++) {
            const float *br = b + j * ldb;
            // Eight partial sums (element p in lane p % 8), as the vector code keeps them.
            float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            long p = 0;
            for (; p + 8 <= k; p += 8)
                for (int l = 0; l < 8; l++) s[l] += ar[p + l] * br[p + l];
            for (; p < k; p++) s[p % 8] += ar[p] * br[p];
            float total = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
            c[i * ldc + j] = beta == 0 ? alpha * total : alpha * total + beta * c[i * ldc + j];
        }
    }
}

/// exp as TensorCore's FastMath computes it (degree-6 polynomial after n·ln2 reduction), scalar.
static float exp_portable(float x) {
    if (x != x) return x;
    if (x < -87.3f) return 0;
    if (x > 88.72283f) return INFINITY;
    float cl = x > 88.7f ? 88.7f : x;
    float shifted = cl * 1.44269504f + 12582912.0f;
    float n = shifted - 12582912.0f;
    float r = (cl - n * 0.69314575f) - n * 1.4286068e-6f;
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1;
    p = p * r + 1;
    return ldexpf(p, (int)n);
}

static void softmax_row_portable(float *row, long visible, long n) {
    float mx = -INFINITY;
    for (long j = 0; j < visible; j++) if (row[j] > mx) mx = row[j];
    float sum = 0;
    for (long j = 0; j < visible; j++) { row[j] = exp_portable(row[j] - mx); sum += row[j]; }
    float inv = 1 / sum;
    for (long j = 0; j < visible; j++) row[j] *= inv;
    for (long j = visible; j < n; j++) row[j] = 0;
}

static void softmax_grad_row_portable(const float *p, float *d, long visible, long n, float scale) {
    float dot = 0;
    for (long j = 0; j < visible; j++) dot += p[j] * d[j];
    for (long j = 0; j < visible; j++) d[j] = p[j] * (d[j] - dot) * scale;
    for (long j = visible; j < n; j++) d[j] = 0;
}

const cfk_ops cfk_ops_portable = { mm_portable, nt_portable, softmax_row_portable, softmax_grad_row_portable };

#if !(defined(__x86_64__) || defined(__i386__))
// No AVX2 code on other architectures; cfk_cpu_has_avx2_fma() is 0 there.
const cfk_ops cfk_ops_avx2 = { mm_portable, nt_portable, softmax_row_portable, softmax_grad_row_portable };
#endif
