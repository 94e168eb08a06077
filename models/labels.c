/* labels.c — the label spec of supervised models and probes (grammar in labels.h): parsing and
 * validation against the data, and the labels of one entry for an example or a batch.
 *
 * One entry a reads a raw value r from its source (the class label, attribute index[a], or
 * factor index[a]) and gives y = r (K = nclasses, 2 or the factor size), or, with "=v",
 * y = [r == v] (K = 2).
 */
#include "models/labels.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* the largest index or value a spec may write; anything above is out of range for any data */
#define LABEL_NUM_MAX 100000

static const char *source_name(int source) {
  return source == BH_LABEL_CLASSES ? "class labels"
         : source == BH_LABEL_ATTRS ? "binary attributes"
                                    : "ground-truth factors";
}

/* A non-negative decimal at *p (digits only: no sign, no blanks), advancing *p; -1 if none. */
static long parse_number(const char **p) {
  if (!isdigit((unsigned char)**p)) return -1;
  char *end;
  long v = strtol(*p, &end, 10);
  *p = end;
  return v > LABEL_NUM_MAX ? -1 : v;
}

/* "i[=v],j[=v],..." -> s->index, s->eq, s->n; BH_OK or BH_EINVAL with a message */
static int parse_entries(bh_label_spec *s, const char *list, const char *spec, const char *who,
                         const char *key) {
  const char *p = list;
  if (!*p) return bh_error(BH_EINVAL, "%s: key '%s': no index in '%s'", who, key, spec);
  while (*p) {
    if (s->n == BH_LABEL_MAX)
      return bh_error(BH_EINVAL, "%s: key '%s': too many entries in '%s' (at most %d)", who, key,
                      spec, BH_LABEL_MAX);
    long i = parse_number(&p), v = -1;
    if (i >= 0 && *p == '=') {
      p++;
      v = parse_number(&p);
      if (v < 0) i = -1;
    }
    if (i < 0)
      return bh_error(BH_EINVAL, "%s: key '%s': bad index list in '%s' (non-negative integers "
                      "up to %d, each optionally '=v', comma-separated)", who, key, spec,
                      LABEL_NUM_MAX);
    s->index[s->n] = (int)i, s->eq[s->n] = (int)v, s->n++;
    if (*p == ',' && p[1]) p++;
    else if (*p)
      return bh_error(BH_EINVAL, "%s: key '%s': unexpected '%c' in '%s'", who, key, *p, spec);
  }
  return BH_OK;
}

/* Check the entries against the data and set k[a] */
static int check_entries(bh_label_spec *s, const bh_data_info *d, const char *who,
                         const char *key) {
  int attrs = s->source == BH_LABEL_ATTRS;
  int have = attrs ? d->nattrs : d->nfactors;
  if (have <= 0)
    return bh_error(BH_EINVAL, "%s: key '%s': '%s' but the data has no %s", who, key,
                    attrs ? "attrs:..." : "factors:...", source_name(s->source));
  for (int a = 0; a < s->n; a++) {
    int i = s->index[a];
    if (i >= have)
      return attrs ? bh_error(BH_EINVAL, "%s: key '%s': attribute %d out of range (the data has "
                              "%d binary attributes)", who, key, i, have)
                   : bh_error(BH_EINVAL, "%s: key '%s': factor %d out of range (the data has %d "
                              "factors)", who, key, i, have);
    int size = attrs ? 2 : d->factor_sizes[i]; /* values of the raw source */
    if (size < 2)
      return bh_error(BH_EINVAL, "%s: key '%s': factor %d has %d value(s); need at least 2", who,
                      key, i, size);
    if (s->eq[a] >= size)
      return attrs ? bh_error(BH_EINVAL, "%s: key '%s': attribute %d=%d: a binary attribute is "
                              "0 or 1", who, key, i, s->eq[a])
                   : bh_error(BH_EINVAL, "%s: key '%s': factor %d=%d: the factor's values are "
                              "0..%d", who, key, i, s->eq[a], size - 1);
    s->k[a] = s->eq[a] >= 0 ? 2 : size;
  }
  return BH_OK;
}

/* s->text = the canonical form of the parsed spec */
static int write_text(bh_label_spec *s, const char *who, const char *key) {
  size_t cap = sizeof s->text, len;
  if (s->source == BH_LABEL_CLASSES) {
    snprintf(s->text, cap, "labels");
    return BH_OK;
  }
  len = (size_t)snprintf(s->text, cap, "%s", s->source == BH_LABEL_ATTRS ? "attrs:" : "factors:");
  for (int a = 0; a < s->n && len < cap; a++) {
    len += (size_t)snprintf(s->text + len, cap - len, "%s%d", a ? "," : "", s->index[a]);
    if (s->eq[a] >= 0 && len < cap)
      len += (size_t)snprintf(s->text + len, cap - len, "=%d", s->eq[a]);
  }
  if (len >= cap)
    return bh_error(BH_EINVAL, "%s: key '%s': the spec is too long (at most %zu characters)", who,
                    key, cap - 1);
  return BH_OK;
}

int bh_label_spec_parse(bh_label_spec *s, const char *spec, const char *auto_spec,
                        const bh_data_info *d, const char *who, const char *key) {
  memset(s, 0, sizeof *s);
  if (!spec) spec = "";
  if (strcmp(spec, "auto") == 0) {
    if (!auto_spec)
      return bh_error(BH_EINVAL, "%s: key '%s': 'auto' has no default here (labels, "
                      "attrs:i,j,..., factors:i,j,...)", who, key);
    spec = auto_spec;
  }
  if (strcmp(spec, "labels") == 0) {
    if (d->nclasses < 2)
      return bh_error(BH_EINVAL, "%s: key '%s': 'labels' needs class labels (at least 2 "
                      "classes; the data has %d)", who, key, d->nclasses);
    s->source = BH_LABEL_CLASSES, s->n = 1, s->index[0] = 0, s->eq[0] = -1;
    s->k[0] = d->nclasses;
    return write_text(s, who, key);
  }
  const char *list = NULL;
  if (strncmp(spec, "attrs:", 6) == 0) s->source = BH_LABEL_ATTRS, list = spec + 6;
  else if (strncmp(spec, "factors:", 8) == 0) s->source = BH_LABEL_FACTORS, list = spec + 8;
  else
    return bh_error(BH_EINVAL, "%s: key '%s': unknown value '%s' (%slabels, attrs:i,j,..., "
                    "factors:i,j,...; an index may carry =v)", who, key, spec,
                    auto_spec ? "auto, " : "");
  int st = parse_entries(s, list, spec, who, key);
  if (st == BH_OK) st = check_entries(s, d, who, key);
  if (st == BH_OK) st = write_text(s, who, key);
  return st;
}

int bh_label_spec_value(const bh_label_spec *s, int a, int label, const uint8_t *attrs,
                        int nattrs, const int *factors, int nfactors) {
  if (a < 0 || a >= s->n) return -1;
  int r; /* the raw value */
  if (s->source == BH_LABEL_CLASSES) r = label;
  else if (s->source == BH_LABEL_ATTRS) {
    if (!attrs || s->index[a] >= nattrs) return -1;
    r = attrs[s->index[a]];
    if (r > 1) return -1;
  } else if (s->source == BH_LABEL_FACTORS) {
    if (!factors || s->index[a] >= nfactors) return -1;
    r = factors[s->index[a]];
  } else
    return -1;
  if (r < 0) return -1;
  if (s->eq[a] >= 0) return r == s->eq[a];
  return r < s->k[a] ? r : -1;
}

int *bh_label_spec_batch(const bh_label_spec *s, int a, const bh_data_info *d, bh_ctx *ctx,
                         const bh_batch *b, const char *who) {
  if (a < 0 || a >= s->n) {
    bh_error(BH_EINVAL, "%s: no label entry %d in '%s' (%d entries)", who, a, s->text, s->n);
    return NULL;
  }
  const void *src = s->source == BH_LABEL_CLASSES ? (const void *)b->labels
                    : s->source == BH_LABEL_ATTRS ? (const void *)b->attrs
                                                  : (const void *)b->factors;
  if (!src) {
    bh_error(BH_EINVAL, "%s: the batch has no %s (labels '%s')", who, source_name(s->source),
             s->text);
    return NULL;
  }
  /* the raw range: the data's, so that a bad value is caught under "=v" too */
  int size = s->source == BH_LABEL_CLASSES ? d->nclasses
             : s->source == BH_LABEL_ATTRS ? 2
                                           : d->factor_sizes[s->index[a]];
  int *y = bh_ctx_push(ctx, (size_t)(b->n > 0 ? b->n : 1) * sizeof(int));
  if (!y) return NULL;
  for (int i = 0; i < b->n; i++) {
    const uint8_t *at = b->attrs ? b->attrs + (size_t)i * d->nattrs : NULL;
    const int *fa = b->factors ? b->factors + (size_t)i * d->nfactors : NULL;
    int label = b->labels ? b->labels[i] : -1;
    int r = s->source == BH_LABEL_CLASSES ? label
            : s->source == BH_LABEL_ATTRS ? at[s->index[a]]
                                          : fa[s->index[a]];
    y[i] = r < size ? bh_label_spec_value(s, a, label, at, d->nattrs, fa, d->nfactors) : -1;
    if (y[i] < 0) {
      bh_error(BH_EINVAL, "%s: example %d: %s value %d out of 0..%d (labels '%s', entry %d)", who,
               i, s->source == BH_LABEL_CLASSES ? "class" : s->source == BH_LABEL_ATTRS
                                                                ? "attribute"
                                                                : "factor",
               r, size - 1, s->text, a);
      return NULL;
    }
  }
  return y;
}
