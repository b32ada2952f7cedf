#ifndef CBLAS_SHIM_H
#define CBLAS_SHIM_H
// The only C surface of the project: CBLAS (GEMM and friends), LAPACKE and OpenBLAS thread control.
// Complex numbers are exposed as structs so the Swift importer never sees C99 _Complex.
#define LAPACK_COMPLEX_STRUCTURE
#include <cblas.h>
#include <lapacke.h>
#endif
