/* labels.h — which per-example labels a supervised model (or a probe) predicts, from a
 * configuration string, and the labels of a batch.
 *
 * Spec grammar (key "attributes" of guidedvae-sup and bhivae-sup, eval --probe-target):
 *   "labels"              the class label (MNIST, Fashion-MNIST): K = nclasses
 *   "attrs:i,j,..."       binary attributes by index (CelebA): K = 2 each
 *   "factors:i,j,..."     ground-truth factors by index (dSprites): K = factor size each
 *   an index may carry "=v" ("factors:0=2", "attrs:8=1"): the binary one-vs-rest label
 *                         [value == v], K = 2 (the ablation's binary attribute on dSprites)
 *   "auto"                resolved by the caller's default (bh_label_spec_parse's auto_spec)
 * Up to BH_LABEL_MAX entries.  All entries of one spec come from one source.
 */
#ifndef BH_MODELS_LABELS_H
#define BH_MODELS_LABELS_H

#include "core/graph.h"
#include "models/model.h"

#define BH_LABEL_MAX 16

enum { BH_LABEL_CLASSES = 1, BH_LABEL_ATTRS, BH_LABEL_FACTORS };

typedef struct bh_label_spec {
  int source;              /* BH_LABEL_CLASSES, BH_LABEL_ATTRS, BH_LABEL_FACTORS */
  int n;                   /* entries */
  int index[BH_LABEL_MAX]; /* attribute / factor index (0 for class labels) */
  int eq[BH_LABEL_MAX];    /* -1, or v for the binary label [value == v] */
  int k[BH_LABEL_MAX];     /* classes of entry a (2 when eq[a] >= 0) */
  char text[128];          /* the resolved spec, for result files ("factors:0,1,2") */
} bh_label_spec;

/* Parse spec for data d.  "auto" is replaced by auto_spec (NULL: "auto" is an error).  `who`
 * and `key` name the model and key in messages ("bhivae-sup: key 'attributes': ...").  BH_OK, or
 * BH_EINVAL with one line (unknown form, empty or malformed list, more than BH_LABEL_MAX entries,
 * index out of range, a factor with < 2 values, a value v outside the factor's range or, for an
 * attribute, not 0/1, data lacking the source).  s->text: the canonical spec ("auto" resolved). */
int bh_label_spec_parse(bh_label_spec *s, const char *spec, const char *auto_spec,
                        const bh_data_info *d, const char *who, const char *key);

/* Entry a's label of one example from raw per-example fields (any may be NULL when the source
 * does not use it): label (class), attrs (nattrs 0/1 values), factors (nfactors indices).
 * -1 when the field is missing or the value is out of 0..k[a]-1.  Under "=v" the result is 0/1
 * and only a negative value (or an attribute other than 0/1) gives -1: the factor's size is not in
 * s; bh_label_spec_batch checks every raw value against the data's range. */
int bh_label_spec_value(const bh_label_spec *s, int a, int label, const uint8_t *attrs,
                        int nattrs, const int *factors, int nfactors);

/* Entry a's labels of a batch [b->n ints] in ctx's arena; NULL with one line naming `who` when
 * the batch lacks the source or a value is out of range. */
int *bh_label_spec_batch(const bh_label_spec *s, int a, const bh_data_info *d, bh_ctx *ctx,
                         const bh_batch *b, const char *who);

#endif
