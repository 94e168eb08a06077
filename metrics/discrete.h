/* discrete.h — disentanglement_lib's histogram discretisation and plug-in discrete information
 * measures (nats), shared by the MIG (and any other count-table metric).
 *
 * Labels are small non-negative ints; every measure runs in O(n + table) with one count table.
 * Strided inputs let callers read one column of a row-major n × d array in place.
 */
#ifndef BH_DISCRETE_H
#define BH_DISCRETE_H

#include <stddef.h>

/* dlib utils._histogram_discretize on one column: edges = np.histogram(x, bins)[1] (bins + 1
 * equal-width edges over min..max built in double, rounded to float as numpy does for float32
 * codes; [min − 0.5, max + 0.5] for a constant column), label = np.digitize(x, edges[:-1]) =
 * number of the first `bins` edges ≤ x, in 1..bins.  x[i·stride], i < n; labels contiguous.
 * BH_EINVAL (message) for bins < 1, n == 0 or a non-finite value. */
int bh_discretize_histogram(const float *x, size_t n, size_t stride, int bins, int *labels);

/* Dense relabelling of non-negative class values y[i·stride] into 0..K−1 in increasing value
 * order; *ncls = K.  If `values` is not NULL it receives the K distinct values (caller gives room
 * for n).  BH_EINVAL for a negative value, BH_ENOMEM. */
int bh_discrete_relabel(const int *y, size_t n, size_t stride, int *out, int *ncls, int *values);

/* sklearn.metrics.mutual_info_score(a, b) in nats for labels a[i] in [0, na), b[i] in [0, nb)
 * (contiguous, n > 0): Σ (n_ab/N) ln(N n_ab / (n_a n_b)), terms below DBL_EPSILON in magnitude
 * zeroed, sum clipped at 0, and 0 when either variable takes a single value.  `table` holds
 * na·nb + na + nb ints of scratch. */
double bh_discrete_mutual_info(const int *a, int na, const int *b, int nb, size_t n, int *table);

/* dlib discrete_entropy = mutual_info_score(a, a): −Σ (n_a/N) ln(n_a/N) (0 for a single value).
 * `table` holds na ints of scratch. */
double bh_discrete_entropy(const int *a, int na, size_t n, int *table);

/* JSON helpers the count-table metrics share (defined in metric.c): a row-major rows × cols
 * matrix as a list of lists, and a vector as a list (new references). */
#include <jansson.h>
json_t *bh_metric_json_matrix(const double *m, int rows, int cols);
json_t *bh_metric_json_vector(const double *v, int n);

#endif
