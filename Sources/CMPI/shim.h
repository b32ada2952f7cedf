#ifndef SWIFTALIGN_CMPI_SHIM_H
#define SWIFTALIGN_CMPI_SHIM_H
// The few MPI calls DistributedTraining makes, as plain C functions on MPI_COMM_WORLD.
//
// mpi.h is found only through pkg-config's `ompi-c` (libopenmpi-dev). Without it every function
// here reports "unavailable" instead of failing the build, and nothing links libmpi (the -lmpi
// comes from pkg-config too), so `swift build` works on a machine with no MPI at all; a binary
// built that way refuses to run under mpirun with a message saying how to rebuild.

#include <stdint.h>
#include <stddef.h>

#if __has_include(<mpi.h>)
#include <mpi.h>
#define SALIGN_HAVE_MPI 1
#else
#define SALIGN_HAVE_MPI 0
#endif

/// -1 from every wrapper when this build has no MPI.
#define SALIGN_MPI_UNAVAILABLE (-1)

static inline int salign_mpi_available(void) { return SALIGN_HAVE_MPI; }

/// MPI_Init (once) with errors returned rather than fatal on MPI_COMM_WORLD, then rank and size.
static inline int salign_mpi_init(int *rank, int *size) {
#if SALIGN_HAVE_MPI
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int rc = MPI_Init(NULL, NULL);
        if (rc != MPI_SUCCESS) return rc;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    return MPI_Comm_size(MPI_COMM_WORLD, size);
#else
    (void)rank; (void)size;
    return SALIGN_MPI_UNAVAILABLE;
#endif
}

static inline int salign_mpi_finalize(void) {
#if SALIGN_HAVE_MPI
    int finalized = 0;
    MPI_Finalized(&finalized);
    return finalized ? 0 : MPI_Finalize();
#else
    return SALIGN_MPI_UNAVAILABLE;
#endif
}

static inline int salign_mpi_abort(int code) {
#if SALIGN_HAVE_MPI
    return MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)code;
    return SALIGN_MPI_UNAVAILABLE;
#endif
}

static inline int salign_mpi_barrier(void) {
#if SALIGN_HAVE_MPI
    return MPI_Barrier(MPI_COMM_WORLD);
#else
    return SALIGN_MPI_UNAVAILABLE;
#endif
}

static inline int salign_mpi_bcast_bytes(void *buffer, int count, int root) {
#if SALIGN_HAVE_MPI
    return MPI_Bcast(buffer, count, MPI_BYTE, root, MPI_COMM_WORLD);
#else
    (void)buffer; (void)count; (void)root;
    return SALIGN_MPI_UNAVAILABLE;
#endif
}

static inline int salign_mpi_allgather_int64(const int64_t *send, int64_t *receive) {
#if SALIGN_HAVE_MPI
    return MPI_Allgather(send, 1, MPI_INT64_T, receive, 1, MPI_INT64_T, MPI_COMM_WORLD);
#else
    (void)send; (void)receive;
    return SALIGN_MPI_UNAVAILABLE;
#endif
}

/// Variable-length byte payloads: counts and displacements per rank, in bytes.
static inline int salign_mpi_allgatherv_bytes(const void *send, int count, void *receive, const int *counts, const int *displacements) {
#if SALIGN_HAVE_MPI
    return MPI_Allgatherv(send, count, MPI_BYTE, receive, counts, displacements, MPI_BYTE, MPI_COMM_WORLD);
#else
    (void)send; (void)count; (void)receive; (void)counts; (void)displacements;
    return SALIGN_MPI_UNAVAILABLE;
#endif
}

/// Floats to every rank: counts and displacements per rank, in floats.
static inline int salign_mpi_alltoallv_float(const float *send, const int *sendCounts, const int *sendDisplacements,
                                             float *receive, const int *receiveCounts, const int *receiveDisplacements) {
#if SALIGN_HAVE_MPI
    return MPI_Alltoallv(send, sendCounts, sendDisplacements, MPI_FLOAT, receive, receiveCounts, receiveDisplacements,
                         MPI_FLOAT, MPI_COMM_WORLD);
#else
    (void)send; (void)sendCounts; (void)sendDisplacements; (void)receive; (void)receiveCounts; (void)receiveDisplacements;
    return SALIGN_MPI_UNAVAILABLE;
#endif
}

static inline int salign_mpi_allgatherv_float(const float *send, int count, float *receive, const int *counts, const int *displacements) {
#if SALIGN_HAVE_MPI
    return MPI_Allgatherv(send, count, MPI_FLOAT, receive, counts, displacements, MPI_FLOAT, MPI_COMM_WORLD);
#else
    (void)send; (void)count; (void)receive; (void)counts; (void)displacements;
    return SALIGN_MPI_UNAVAILABLE;
#endif
}

/// MPI's text for an error code, into `buffer` (at least 256 bytes); returns its length.
static inline int salign_mpi_error_string(int code, char *buffer, int capacity) {
#if SALIGN_HAVE_MPI
    if (capacity < MPI_MAX_ERROR_STRING) return 0;
    int length = 0;
    MPI_Error_string(code, buffer, &length);
    return length;
#else
    (void)code; (void)buffer; (void)capacity;
    return 0;
#endif
}

#endif
