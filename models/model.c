/* model.c — a model's life cycle, checkpoint entries, inference helpers and run metadata
 * (model.h).
 *
 * Checkpoint entries of a model:
 *   "model.name"    bytes: the class name (no NUL)
 *   "model.config"  bytes: bh_config_json as compact JSON text (every key, typed)
 *   "model.data"    bytes: the bh_data_info, fixed little-endian layout of 72 bytes:
 *                   u32 version (1) | i32 c, h, w | u64 n | i32 nclasses, nattrs, nfactors |
 *                   i32 factor_sizes[8] (unused ones 0) | u32 0
 *   "param.<group>.<tensor>"  float32 tensors of every group (bh_ckpt_add_params)
 */
#include "models/model.h"

#include <cblas.h>
#include <errno.h>
#include <gsl/gsl_version.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/error.h"
#include "core/ops.h"

#define INFER_CHUNK 256
#define DATA_BLOB_VERSION 1u
#define DATA_BLOB_SIZE 72

/* ---------------------------------------------------------------- terms */

void bh_terms_clear(bh_terms *t) { t->n = 0; }

void bh_terms_set(bh_terms *t, const char *name, double value) {
  for (int i = 0; i < t->n; i++)
    if (strcmp(t->name[i], name) == 0) {
      t->value[i] = value;
      return;
    }
  if (t->n == BH_TERMS_MAX) return; /* full: a model never names this many terms */
  t->name[t->n] = name;
  t->value[t->n++] = value;
}

double bh_terms_get(const bh_terms *t, const char *name) {
  for (int i = 0; i < t->n; i++)
    if (strcmp(t->name[i], name) == 0) return t->value[i];
  return NAN;
}

void bh_data_info_from_dataset(const bh_dataset *ds, bh_data_info *info) {
  memset(info, 0, sizeof *info);
  info->c = ds->c;
  info->h = ds->h;
  info->w = ds->w;
  info->n = ds->n;
  info->nclasses = ds->nclasses;
  info->nattrs = ds->nattrs;
  info->nfactors = ds->nfactors;
  for (int i = 0; i < ds->nfactors && i < BH_DATASET_MAX_FACTORS; i++)
    info->factor_sizes[i] = ds->factor_sizes[i];
}

/* ---------------------------------------------------------------- life cycle */

/* What create must have filled; BH_EINVAL naming the model and the field otherwise. */
static int model_validate(const bh_model *m) {
  const char *name = m->cls->name;
  if (m->ngroups < 1 || m->ngroups > BH_MODEL_MAX_GROUPS)
    return bh_error(BH_EINVAL, "model %s: %d parameter groups (1..%d)", name, m->ngroups,
                    BH_MODEL_MAX_GROUPS);
  for (int g = 0; g < m->ngroups; g++)
    if (!m->group[g] || !m->group_name[g] || !*m->group_name[g])
      return bh_error(BH_EINVAL, "model %s: group %d has no parameters or no name", name, g);
  if (m->nphases < 1 || m->nphases > BH_MODEL_MAX_PHASES)
    return bh_error(BH_EINVAL, "model %s: %d update phases (1..%d)", name, m->nphases,
                    BH_MODEL_MAX_PHASES);
  for (int p = 0; p < m->nphases; p++)
    if (m->phase_group[p] < 0 || m->phase_group[p] >= m->ngroups)
      return bh_error(BH_EINVAL, "model %s: phase %d trains group %d of %d", name, p,
                      m->phase_group[p], m->ngroups);
  if (m->z_dim < 1) return bh_error(BH_EINVAL, "model %s: z_dim %d < 1", name, m->z_dim);
  if (m->batches_per_step < 1)
    return bh_error(BH_EINVAL, "model %s: %d batches per step", name, m->batches_per_step);
  if (!m->cls->loss || !m->cls->encode || !m->cls->decode)
    return bh_error(BH_EINVAL, "model %s: class lacks loss, encode or decode", name);
  return BH_OK;
}

bh_model *bh_model_create(const bh_model_class *cls, bh_config *cfg, const bh_data_info *data,
                          bh_rng *rng) {
  if (!cls || !cfg || !data) {
    bh_config_free(cfg);
    bh_error(BH_EINVAL, "bh_model_create: NULL class, configuration or data shape");
    return NULL;
  }
  if (!cls->create) {
    bh_config_free(cfg);
    bh_error(BH_EINVAL, "model %s is not available", cls->name);
    return NULL;
  }
  if (data->c < 1 || data->h < 1 || data->w < 1) {
    bh_config_free(cfg);
    bh_error(BH_EINVAL, "model %s: bad image shape %d×%d×%d", cls->name, data->c, data->h,
             data->w);
    return NULL;
  }
  bh_model *m = calloc(1, sizeof *m);
  if (!m) {
    bh_config_free(cfg);
    bh_error(BH_ENOMEM, "model %s: out of memory", cls->name);
    return NULL;
  }
  m->cls = cls;
  m->cfg = cfg;
  m->data = *data;
  m->batches_per_step = 1;
  gsl_rng *init = NULL;
  if (rng && !(init = bh_rng_stream(rng, "init"))) {
    bh_model_free(m);
    return NULL;
  }
  if (cls->create(m, init) != BH_OK || model_validate(m) != BH_OK) {
    bh_model_free(m); /* keeps the message: freeing sets no error */
    return NULL;
  }
  return m;
}

void bh_model_free(bh_model *m) {
  if (!m) return;
  if (m->cls && m->cls->destroy && m->impl) m->cls->destroy(m);
  for (int g = 0; g < BH_MODEL_MAX_GROUPS; g++) bh_params_free(m->group[g]);
  bh_config_free(m->cfg);
  if (m->infer_ctx) bh_ctx_free(m->infer_ctx);
  free(m);
}

size_t bh_model_group_param_count(const bh_model *m, int g) {
  return m && g >= 0 && g < m->ngroups && m->group[g] ? bh_params_count(m->group[g]) : 0;
}

size_t bh_model_param_count(const bh_model *m) {
  size_t n = 0;
  for (int g = 0; m && g < m->ngroups; g++) n += bh_model_group_param_count(m, g);
  return n;
}

/* ---------------------------------------------------------------- checkpoints */

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void data_blob_put(const bh_data_info *d, unsigned char *b) {
  memset(b, 0, DATA_BLOB_SIZE);
  put_u32(b, DATA_BLOB_VERSION);
  put_u32(b + 4, (uint32_t)d->c);
  put_u32(b + 8, (uint32_t)d->h);
  put_u32(b + 12, (uint32_t)d->w);
  put_u64(b + 16, (uint64_t)d->n);
  put_u32(b + 24, (uint32_t)d->nclasses);
  put_u32(b + 28, (uint32_t)d->nattrs);
  put_u32(b + 32, (uint32_t)d->nfactors);
  for (int i = 0; i < BH_DATASET_MAX_FACTORS; i++)
    put_u32(b + 36 + 4 * i, (uint32_t)d->factor_sizes[i]);
}

/* BH_OK, or BH_EFORMAT (message naming `what`) for a blob of another size, version or with
 * out-of-range fields. */
static int data_blob_get(const unsigned char *b, size_t len, bh_data_info *d, const char *what) {
  if (len != DATA_BLOB_SIZE || get_u32(b) != DATA_BLOB_VERSION)
    return bh_error(BH_EFORMAT, "%s: model.data is not a version %u data shape of %d bytes",
                    what, DATA_BLOB_VERSION, DATA_BLOB_SIZE);
  memset(d, 0, sizeof *d);
  int32_t v[8 + BH_DATASET_MAX_FACTORS];
  for (int i = 0; i < 3; i++) v[i] = (int32_t)get_u32(b + 4 + 4 * i);
  for (int i = 0; i < 3 + BH_DATASET_MAX_FACTORS; i++)
    v[3 + i] = (int32_t)get_u32(b + 24 + 4 * i);
  uint64_t n = get_u64(b + 16);
  d->c = v[0], d->h = v[1], d->w = v[2];
  d->n = (size_t)n;
  d->nclasses = v[3], d->nattrs = v[4], d->nfactors = v[5];
  int bad = d->c < 1 || d->h < 1 || d->w < 1 || d->c > 64 || d->h > 4096 || d->w > 4096 ||
            d->nclasses < 0 || d->nattrs < 0 || d->nfactors < 0 ||
            d->nfactors > BH_DATASET_MAX_FACTORS || (uint64_t)d->n != n;
  for (int i = 0; i < BH_DATASET_MAX_FACTORS; i++) {
    d->factor_sizes[i] = v[6 + i];
    if (d->factor_sizes[i] < 0 || (i < d->nfactors && d->factor_sizes[i] < 1)) bad = 1;
  }
  if (bad) return bh_error(BH_EFORMAT, "%s: model.data holds an impossible data shape", what);
  return BH_OK;
}

int bh_model_save(const bh_model *m, bh_ckpt_writer *w) {
  int st = bh_ckpt_add_bytes(w, "model.name", m->cls->name, strlen(m->cls->name));
  json_t *cfg = bh_config_json(m->cfg);
  char *text = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
  json_decref(cfg);
  if (!text) return bh_error(BH_ENOMEM, "model %s: cannot write its configuration", m->cls->name);
  if (!st) st = bh_ckpt_add_bytes(w, "model.config", text, strlen(text));
  free(text);
  unsigned char blob[DATA_BLOB_SIZE];
  data_blob_put(&m->data, blob);
  if (!st) st = bh_ckpt_add_bytes(w, "model.data", blob, sizeof blob);
  for (int g = 0; g < m->ngroups && !st; g++) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "param.%s.", m->group_name[g]);
    st = bh_ckpt_add_params(w, prefix, m->group[g]);
  }
  return st;
}

/* Prefix the current message with `what` unless it already names it. */
static void error_prefix(const char *what) {
  const char *msg = bh_error_message();
  if (strstr(msg, what)) return;
  char copy[512];
  snprintf(copy, sizeof copy, "%s", msg);
  bh_error(bh_error_code() ? bh_error_code() : BH_EFORMAT, "%s: %s", what, copy);
}

bh_model *bh_model_load(const bh_ckpt *ck, const char *what) {
  if (!what) what = "checkpoint";
  size_t len = 0;
  const void *p = bh_ckpt_find_bytes(ck, "model.name", &len);
  if (!p) {
    bh_error(BH_EFORMAT, "%s: no model.name entry (not a model checkpoint)", what);
    return NULL;
  }
  char name[64];
  if (len == 0 || len >= sizeof name || memchr(p, '\0', len)) {
    bh_error(BH_EFORMAT, "%s: model.name is not a model name", what);
    return NULL;
  }
  memcpy(name, p, len);
  name[len] = '\0';
  const bh_model_class *cls = bh_model_class_find(name);
  if (!cls) {
    error_prefix(what);
    return NULL;
  }

  const void *text = bh_ckpt_find_bytes(ck, "model.config", &len);
  if (!text) {
    bh_error(BH_EFORMAT, "%s: no model.config entry", what);
    return NULL;
  }
  json_error_t je;
  json_t *obj = json_loadb(text, len, 0, &je);
  if (!obj) {
    bh_error(BH_EFORMAT, "%s: model.config is not JSON: %s", what, je.text);
    return NULL;
  }
  bh_config *cfg = bh_model_config_new(cls);
  char origin[600];
  snprintf(origin, sizeof origin, "%.500s: model.config", what);
  int st = cfg ? bh_config_set_json(cfg, obj, origin) : BH_ENOMEM;
  json_decref(obj);
  if (st) {
    bh_config_free(cfg);
    error_prefix(what);
    return NULL;
  }

  const void *blob = bh_ckpt_find_bytes(ck, "model.data", &len);
  bh_data_info data;
  if (!blob) {
    bh_config_free(cfg);
    bh_error(BH_EFORMAT, "%s: no model.data entry", what);
    return NULL;
  }
  if (data_blob_get(blob, len, &data, what)) {
    bh_config_free(cfg);
    return NULL;
  }

  bh_model *m = bh_model_create(cls, cfg, &data, NULL);
  if (!m) {
    error_prefix(what);
    return NULL;
  }
  for (int g = 0; g < m->ngroups; g++) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "param.%s.", m->group_name[g]);
    if (bh_ckpt_load_params(ck, prefix, m->group[g])) {
      error_prefix(what);
      bh_model_free(m);
      return NULL;
    }
  }
  return m;
}

const char *bh_model_checkpoint_path(const char *path, char *out, size_t cap) {
  struct stat sb;
  int n;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    n = snprintf(out, cap, "%.*s/model.ckpt", (int)len, path);
  } else {
    n = snprintf(out, cap, "%s", path);
  }
  if (n < 0 || (size_t)n >= cap) {
    bh_error(BH_EINVAL, "%s: path too long", path);
    return NULL;
  }
  return out;
}

bh_model *bh_model_load_path(const char *path, bh_ckpt **ck_out) {
  char file[4096];
  if (ck_out) *ck_out = NULL;
  if (!bh_model_checkpoint_path(path, file, sizeof file)) return NULL;
  bh_ckpt *ck = bh_ckpt_read(file);
  if (!ck) return NULL;
  bh_model *m = bh_model_load(ck, file);
  if (m && ck_out) *ck_out = ck;
  else bh_ckpt_free(ck);
  return m;
}

/* ---------------------------------------------------------------- inference helpers */

static bh_ctx *infer_ctx(bh_model *m) {
  if (!m->infer_ctx) {
    m->infer_ctx = bh_ctx_alloc((size_t)1 << 22);
    if (!m->infer_ctx) return NULL;
    bh_ctx_set_grad(m->infer_ctx, 0);
  }
  return m->infer_ctx;
}

static int shape_is(const bh_tensor *t, int rows, size_t cols) {
  return t && bh_tensor_rows(t) == rows && bh_tensor_cols(t) == cols;
}

int bh_model_encode_images(bh_model *m, const float *images, size_t n, float *mu, float *logvar) {
  bh_ctx *ctx = infer_ctx(m);
  if (!ctx) return bh_error_code();
  int chw = m->data.c * m->data.h * m->data.w, d = m->z_dim;
  for (size_t i0 = 0; i0 < n; i0 += INFER_CHUNK) {
    int k = (int)(n - i0 < INFER_CHUNK ? n - i0 : INFER_CHUNK);
    bh_ctx_reset(ctx);
    int shape[2] = {k, chw};
    bh_tensor *x = bh_tensor_view(ctx, (float *)images + i0 * (size_t)chw, 2, shape);
    bh_tensor *mt = NULL, *lt = NULL;
    int st = x ? m->cls->encode(m, ctx, x, &mt, &lt) : bh_error_code();
    if (st) return st;
    if (!shape_is(mt, k, (size_t)d) || (lt && !shape_is(lt, k, (size_t)d)))
      return bh_error(BH_EINVAL, "model %s: encode did not return %d × %d codes", m->cls->name,
                      k, d);
    memcpy(mu + i0 * (size_t)d, mt->data, (size_t)k * d * sizeof *mu);
    if (logvar) {
      if (lt) memcpy(logvar + i0 * (size_t)d, lt->data, (size_t)k * d * sizeof *logvar);
      else memset(logvar + i0 * (size_t)d, 0, (size_t)k * d * sizeof *logvar);
    }
  }
  bh_ctx_reset(ctx);
  return BH_OK;
}

int bh_model_decode_codes(bh_model *m, const float *z, size_t n, float *out) {
  bh_ctx *ctx = infer_ctx(m);
  if (!ctx) return bh_error_code();
  size_t chw = (size_t)m->data.c * m->data.h * m->data.w;
  int d = m->z_dim;
  for (size_t i0 = 0; i0 < n; i0 += INFER_CHUNK) {
    int k = (int)(n - i0 < INFER_CHUNK ? n - i0 : INFER_CHUNK);
    bh_ctx_reset(ctx);
    int shape[2] = {k, d};
    bh_tensor *zt = bh_tensor_view(ctx, (float *)z + i0 * (size_t)d, 2, shape);
    bh_tensor *logits = zt ? m->cls->decode(m, ctx, zt) : NULL;
    if (!logits) return bh_error_code() ? bh_error_code() : BH_EINVAL;
    if (!shape_is(logits, k, chw))
      return bh_error(BH_EINVAL, "model %s: decode did not return %d × %zu logits",
                      m->cls->name, k, chw);
    bh_tensor *p = bh_sigmoid(ctx, logits);
    if (!p) return bh_error_code();
    memcpy(out + i0 * chw, p->data, (size_t)k * chw * sizeof *out);
  }
  bh_ctx_reset(ctx);
  return BH_OK;
}

static int repr_fn(void *user, const float *images, size_t n, float *codes) {
  return bh_model_encode_images(user, images, n, codes, NULL);
}

bh_repr bh_model_repr(bh_model *m) {
  bh_repr r = {m->z_dim, repr_fn, m};
  return r;
}

/* ---------------------------------------------------------------- run metadata */

json_t *bh_versions_json(void) {
  const char *ob = openblas_get_config();
  const char *png = png_get_libpng_ver(NULL);
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "openblas", ob ? ob : "?", "gsl",
                   gsl_version, "jansson", JANSSON_VERSION, "zlib", zlibVersion(), "libpng",
                   png ? png : "?", "compiler", __VERSION__, "bhivae", PACKAGE_VERSION);
}
