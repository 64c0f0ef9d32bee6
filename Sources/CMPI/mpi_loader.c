#define _GNU_SOURCE
#include "CMPI.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Open MPI's ABI (mpi.h of 4.x/5.x): handles are pointers to predefined objects. */
typedef void *MPI_Comm, *MPI_Datatype, *MPI_Op;
typedef struct {
    int MPI_SOURCE;
    int MPI_TAG;
    int MPI_ERROR;
    int _cancelled;
    size_t _ucount;
} MPI_Status;
enum { MPI_THREAD_SERIALIZED = 2 };
#define MPI_IN_PLACE ((void *)1)
#define MPI_MAX_ERROR_STRING 256
#define MPI_MAX_LIBRARY_VERSION_STRING 256

static void *library;
static char library_path[4096];
static MPI_Comm comm_world;
static MPI_Datatype type_byte, type_float, type_double;
static MPI_Op op_sum;

static int (*p_init_thread)(int *, char ***, int, int *);
static int (*p_finalize)(void);
static int (*p_abort)(MPI_Comm, int);
static int (*p_comm_rank)(MPI_Comm, int *);
static int (*p_comm_size)(MPI_Comm, int *);
static int (*p_get_library_version)(char *, int *);
static int (*p_error_string)(int, char *, int *);
static int (*p_send)(const void *, int, MPI_Datatype, int, int, MPI_Comm);
static int (*p_isend)(const void *, int, MPI_Datatype, int, int, MPI_Comm, void **);
static int (*p_test)(void **, int *, MPI_Status *);
static int (*p_recv)(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Status *);
static int (*p_probe)(int, int, MPI_Comm, MPI_Status *);
static int (*p_iprobe)(int, int, MPI_Comm, int *, MPI_Status *);
static int (*p_get_count)(const MPI_Status *, MPI_Datatype, int *);
static int (*p_allreduce)(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
static int (*p_bcast)(void *, int, MPI_Datatype, int, MPI_Comm);

static int resolve(void **slot, const char *name, char *error, long capacity) {
    *slot = dlsym(library, name);
    if (*slot == NULL) {
        snprintf(error, (size_t)capacity, "%s has no symbol %s%s", library_path, name,
                 strncmp(name, "ompi_", 5) == 0
                     ? " (Credence speaks Open MPI's ABI, libmpi.so.40; this looks like another MPI)"
                     : "");
        return -1;
    }
    return 0;
}

int credence_mpi_load(const char *path, char *error, long capacity) {
    if (library != NULL) return 0;
    const char *candidates[] = {path, "libmpi.so.40", "libmpi.so"};
    int first = path != NULL ? 0 : 1, last = path != NULL ? 0 : 2;
    char reasons[1024] = "";
    for (int i = first; i <= last && library == NULL; i++) {
        /* RTLD_GLOBAL: Open MPI's own plugins resolve their symbols against libmpi. */
        library = dlopen(candidates[i], RTLD_NOW | RTLD_GLOBAL);
        if (library == NULL) {
            size_t used = strlen(reasons);
            snprintf(reasons + used, sizeof reasons - used, "%s%s", used ? "; " : "", dlerror());
        } else {
            snprintf(library_path, sizeof library_path, "%s", candidates[i]);
        }
    }
    if (library == NULL) {
        snprintf(error, (size_t)capacity, "%s", reasons);
        return -1;
    }
    struct { void **slot; const char *name; } symbols[] = {
        {(void **)&p_init_thread, "MPI_Init_thread"},
        {(void **)&p_finalize, "MPI_Finalize"},
        {(void **)&p_abort, "MPI_Abort"},
        {(void **)&p_comm_rank, "MPI_Comm_rank"},
        {(void **)&p_comm_size, "MPI_Comm_size"},
        {(void **)&p_get_library_version, "MPI_Get_library_version"},
        {(void **)&p_error_string, "MPI_Error_string"},
        {(void **)&p_send, "MPI_Send"},
        {(void **)&p_isend, "MPI_Isend"},
        {(void **)&p_test, "MPI_Test"},
        {(void **)&p_recv, "MPI_Recv"},
        {(void **)&p_probe, "MPI_Probe"},
        {(void **)&p_iprobe, "MPI_Iprobe"},
        {(void **)&p_get_count, "MPI_Get_count"},
        {(void **)&p_allreduce, "MPI_Allreduce"},
        {(void **)&p_bcast, "MPI_Bcast"},
        {&comm_world, "ompi_mpi_comm_world"},
        {&type_byte, "ompi_mpi_byte"},
        {&type_float, "ompi_mpi_float"},
        {&type_double, "ompi_mpi_double"},
        {&op_sum, "ompi_mpi_op_sum"},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        if (resolve(symbols[i].slot, symbols[i].name, error, capacity) != 0) {
            dlclose(library);
            library = NULL;
            return -1;
        }
    }
    Dl_info info;
    if (dladdr((void *)p_init_thread, &info) && info.dli_fname != NULL) {
        snprintf(library_path, sizeof library_path, "%s", info.dli_fname);
    }
    return 0;
}

const char *credence_mpi_library_path(void) { return library != NULL ? library_path : ""; }

int credence_mpi_init(int *rank, int *size, int *provided) {
    int code = p_init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
    if (code != 0) return code;
    code = p_comm_rank(comm_world, rank);
    if (code != 0) return code;
    return p_comm_size(comm_world, size);
}

int credence_mpi_finalize(void) { return p_finalize(); }

int credence_mpi_abort(int code) { return p_abort(comm_world, code); }

int credence_mpi_library_version(char *buffer, long capacity) {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    int code = p_get_library_version(version, &length);
    if (code != 0) return code;
    snprintf(buffer, (size_t)capacity, "%.*s", length, version);
    return 0;
}

void credence_mpi_error_string(int code, char *buffer, long capacity) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (library == NULL || p_error_string(code, text, &length) != 0) {
        snprintf(buffer, (size_t)capacity, "MPI error %d", code);
    } else {
        snprintf(buffer, (size_t)capacity, "%.*s", length, text);
    }
}

int credence_mpi_send(const void *data, long bytes, int destination, int tag) {
    if (bytes < 0 || bytes > INT_MAX) return -1;
    return p_send(data, (int)bytes, type_byte, destination, tag, comm_world);
}

int credence_mpi_start_send(const void *data, long bytes, int destination, int tag, void **request) {
    if (bytes < 0 || bytes > INT_MAX) return -1;
    return p_isend(data, (int)bytes, type_byte, destination, tag, comm_world, request);
}

int credence_mpi_test(void **request, int *done) {
    MPI_Status status;
    return p_test(request, done, &status);
}

static int fill_status(const MPI_Status *status, credence_mpi_status_t *out) {
    int count = 0;
    int code = p_get_count(status, type_byte, &count);
    out->source = status->MPI_SOURCE;
    out->tag = status->MPI_TAG;
    out->bytes = count;
    return code;
}

int credence_mpi_probe(int source, int tag, int blocking, int *found, credence_mpi_status_t *status) {
    MPI_Status raw;
    memset(&raw, 0, sizeof raw);
    int code;
    if (blocking) {
        code = p_probe(source, tag, comm_world, &raw);
        *found = 1;
    } else {
        code = p_iprobe(source, tag, comm_world, found, &raw);
    }
    if (code != 0 || !*found) return code;
    return fill_status(&raw, status);
}

int credence_mpi_receive(void *data, long capacity, int source, int tag, credence_mpi_status_t *status) {
    if (capacity < 0 || capacity > INT_MAX) return -1;
    MPI_Status raw;
    memset(&raw, 0, sizeof raw);
    int code = p_recv(data, (int)capacity, type_byte, source, tag, comm_world, &raw);
    if (code != 0) return code;
    return fill_status(&raw, status);
}

static int allreduce(void *data, long count, MPI_Datatype type, size_t size) {
    char *p = data;
    while (count > 0) {
        int chunk = count > INT_MAX / 2 ? INT_MAX / 2 : (int)count;
        int code = p_allreduce(MPI_IN_PLACE, p, chunk, type, op_sum, comm_world);
        if (code != 0) return code;
        p += (size_t)chunk * size;
        count -= chunk;
    }
    return 0;
}

int credence_mpi_allreduce_sum_float(float *data, long count) {
    return allreduce(data, count, type_float, sizeof(float));
}

int credence_mpi_allreduce_sum_double(double *data, long count) {
    return allreduce(data, count, type_double, sizeof(double));
}

int credence_mpi_broadcast(void *data, long bytes, int root) {
    char *p = data;
    while (bytes > 0) {
        int chunk = bytes > INT_MAX / 2 ? INT_MAX / 2 : (int)bytes;
        int code = p_bcast(p, chunk, type_byte, root, comm_world);
        if (code != 0) return code;
        p += chunk;
        bytes -= chunk;
    }
    return 0;
}
