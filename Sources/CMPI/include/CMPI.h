#ifndef CREDENCE_MPI_H
#define CREDENCE_MPI_H

/// Open MPI, loaded at run time.
///
/// Credence builds and runs without MPI: nothing here links against libmpi. When a
/// command is launched by `mpirun`/`srun`, `credence_mpi_load` opens Open MPI's
/// library (`libmpi.so.40`, Open MPI 4.x and 5.x; or the file named by the caller) with
/// `dlopen` and looks up the functions and predefined handles below. Open MPI's handles
/// (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`, ...) are the addresses of global objects
/// (`ompi_mpi_comm_world`, ...), which `dlsym` returns; its `MPI_Status` layout and the
/// constants used here are part of its stable ABI. MPICH-family libraries (integer
/// handles) are refused with a message.
///
/// Every function returns an MPI error code (0: success) unless it says otherwise. All
/// counts are in bytes or elements as named and may exceed INT_MAX: the calls are split.

/// Where a received or probed message came from, its tag and its size in bytes.
typedef struct {
    int source;
    int tag;
    long bytes;
} credence_mpi_status_t;

/// Opens the library (`path`, or NULL for `libmpi.so.40` then `libmpi.so`) and resolves
/// every symbol. Returns 0, or -1 with a one-line reason in `error` (NUL-terminated).
int credence_mpi_load(const char *path, char *error, long capacity);
/// The file `dlopen` opened (after a successful load), or "".
const char *credence_mpi_library_path(void);

/// `MPI_Init_thread` asking for MPI_THREAD_SERIALIZED; `provided` gets the level given
/// (0 single, 1 funneled, 2 serialized, 3 multiple).
int credence_mpi_init(int *rank, int *size, int *provided);
int credence_mpi_finalize(void);
/// `MPI_Abort(MPI_COMM_WORLD, code)`: ends every rank of the job.
int credence_mpi_abort(int code);
/// `MPI_Get_library_version` into `buffer` (NUL-terminated).
int credence_mpi_library_version(char *buffer, long capacity);
/// `MPI_Error_string` into `buffer`.
void credence_mpi_error_string(int code, char *buffer, long capacity);

/// Blocking send of `bytes` bytes to `destination` with `tag` (one message; at most
/// INT_MAX bytes).
int credence_mpi_send(const void *data, long bytes, int destination, int tag);
/// Starts a send of `bytes` bytes (`MPI_Isend`); `*request` is its handle for
/// `credence_mpi_test`. The buffer must stay untouched until the send completes.
int credence_mpi_start_send(const void *data, long bytes, int destination, int tag, void **request);
/// `MPI_Test`: `*done` becomes 1 once the send `*request` started has completed (the
/// handle is then released).
int credence_mpi_test(void **request, int *done);
/// Probes for a message (`source`/`tag` -1: any). `blocking` 0 is `MPI_Iprobe`: `*found`
/// says whether one is waiting; 1 is `MPI_Probe` (`*found` is 1).
int credence_mpi_probe(int source, int tag, int blocking, int *found, credence_mpi_status_t *status);
/// Receives one message of at most `capacity` bytes from `source` with `tag`.
int credence_mpi_receive(void *data, long capacity, int source, int tag, credence_mpi_status_t *status);
/// Sum over every rank, in place, of `count` floats / doubles.
int credence_mpi_allreduce_sum_float(float *data, long count);
int credence_mpi_allreduce_sum_double(double *data, long count);
/// `bytes` bytes from `root` to every rank.
int credence_mpi_broadcast(void *data, long bytes, int root);

#endif
