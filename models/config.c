/* config.c — typed configuration keys (see config.h).
 *
 * Each declared key keeps its declaration (name, type, default, doc, all owned copies) and its
 * value as text: the default until set, NULL when there is neither.  Values are checked when set
 * and parsed again by the getters, so the text is the single source of truth and what a result
 * file records is exactly what was used.  Booleans and integers are stored in a canonical
 * spelling ("true"/"false", "%ld") and lists without spaces; numbers keep the text as written.
 */
#include "models/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

typedef struct cfg_entry {
  bh_cfg_key k; /* k.key, k.def, k.doc owned */
  char *value;  /* current value as text; NULL: no default and not set */
  int set;      /* set explicitly (not the default) */
} cfg_entry;

struct bh_config {
  int n, cap;
  cfg_entry *e;
};

/* ---------------------------------------------------------------- helpers */

static char *cfg_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static const char *cfg_origin(const char *origin) { return origin ? origin : "config"; }

static const char *cfg_type_name(bh_cfg_type t) {
  switch (t) {
  case BH_CFG_INT: return "int";
  case BH_CFG_NUM: return "number";
  case BH_CFG_STR: return "string";
  case BH_CFG_BOOL: return "bool";
  case BH_CFG_INTLIST: return "int list";
  }
  return "?";
}

static int cfg_find(const bh_config *c, const char *key) {
  for (int i = 0; i < c->n; i++)
    if (strcmp(c->e[i].k.key, key) == 0) return i;
  return -1;
}

/* Copy s[0..len-1] without leading/trailing white space into a new string. */
static char *cfg_trimmed(const char *s, size_t len) {
  while (len && isspace((unsigned char)*s)) s++, len--;
  while (len && isspace((unsigned char)s[len - 1])) len--;
  char *d = malloc(len + 1);
  if (!d) return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

/* A decimal integer filling the whole text: 0, -1 (not an integer) or -2 (out of range). */
static int cfg_parse_long(const char *s, long *out) {
  if (!*s || isspace((unsigned char)*s)) return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end) return -1;
  if (errno == ERANGE) return -2;
  *out = v;
  return 0;
}

/* A finite number filling the whole text: 0, -1 (not a number) or -2 (NaN/Inf/overflow). */
static int cfg_parse_double(const char *s, double *out) {
  if (!*s || isspace((unsigned char)*s)) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end) return -1;
  if (!isfinite(v)) return -2;
  *out = v;
  return 0;
}

static int cfg_parse_bool(const char *s, int *out) {
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) return *out = 1, 0;
    if (strcasecmp(s, no[i]) == 0) return *out = 0, 0;
  }
  return -1;
}

/* "1200, 1200" -> count and values; a negative status with why in *why. */
static int cfg_parse_intlist(const char *s, int *out, const char **why, long *bad) {
  int n = 0;
  const char *p = s;
  while (isspace((unsigned char)*p)) p++;
  if (!*p) return *why = "empty list", -1;
  for (;;) {
    const char *q = p;
    while (*q && *q != ',') q++;
    char *item = cfg_trimmed(p, (size_t)(q - p));
    if (!item) return *why = "out of memory", -1;
    long v;
    int st = cfg_parse_long(item, &v);
    free(item);
    if (st == -1) return *why = "not a list of positive integers", -1;
    if (st == -2 || v > INT_MAX) return *why = "an entry is out of range", -1;
    if (v <= 0) return *bad = v, *why = "non-positive entry", -1;
    if (n == BH_CFG_INTLIST_MAX) return *why = "too many entries", -1;
    out[n++] = (int)v;
    if (!*q) break;
    p = q + 1;
  }
  return n;
}

/* Check text against a type; on success *canon is the text to store (new string). */
static int cfg_check(const char *origin, const char *key, bh_cfg_type type, const char *text,
                     char **canon) {
  char buf[32 + 12 * BH_CFG_INTLIST_MAX];
  const char *o = cfg_origin(origin);
  *canon = NULL;
  switch (type) {
  case BH_CFG_INT: {
    long v;
    int st = cfg_parse_long(text, &v);
    if (st == -1) return bh_error(BH_EINVAL, "%s: %s: '%s' is not an integer", o, key, text);
    if (st == -2) return bh_error(BH_EINVAL, "%s: %s: '%s' is out of range", o, key, text);
    snprintf(buf, sizeof buf, "%ld", v);
    *canon = cfg_strdup(buf);
    break;
  }
  case BH_CFG_NUM: {
    double v;
    int st = cfg_parse_double(text, &v);
    if (st == -1) return bh_error(BH_EINVAL, "%s: %s: '%s' is not a number", o, key, text);
    if (st == -2) return bh_error(BH_ENUM, "%s: %s: '%s' is not a finite number", o, key, text);
    *canon = cfg_strdup(text);
    break;
  }
  case BH_CFG_STR: *canon = cfg_strdup(text); break;
  case BH_CFG_BOOL: {
    int v;
    if (cfg_parse_bool(text, &v))
      return bh_error(BH_EINVAL,
                      "%s: %s: '%s' is not a boolean (0/1, true/false, yes/no, on/off)", o, key,
                      text);
    *canon = cfg_strdup(v ? "true" : "false");
    break;
  }
  case BH_CFG_INTLIST: {
    int v[BH_CFG_INTLIST_MAX];
    const char *why = "";
    long bad = 0;
    int n = cfg_parse_intlist(text, v, &why, &bad);
    if (n < 0 && strcmp(why, "non-positive entry") == 0)
      return bh_error(BH_EINVAL, "%s: %s: '%s' has a non-positive entry %ld", o, key, text, bad);
    if (n < 0 && strcmp(why, "too many entries") == 0)
      return bh_error(BH_EINVAL, "%s: %s: '%s' has more than %d entries", o, key, text,
                      BH_CFG_INTLIST_MAX);
    if (n < 0) return bh_error(BH_EINVAL, "%s: %s: '%s': %s", o, key, text, why);
    size_t len = 0;
    for (int i = 0; i < n; i++)
      len += (size_t)snprintf(buf + len, sizeof buf - len, i ? ",%d" : "%d", v[i]);
    *canon = cfg_strdup(buf);
    break;
  }
  default: return bh_error(BH_EINVAL, "%s: %s: unknown key type %d", o, key, (int)type);
  }
  return *canon ? BH_OK : bh_error(BH_ENOMEM, "%s: %s: out of memory", o, key);
}

/* A programming error in a getter: say so and stop. */
static const cfg_entry *cfg_get(const bh_config *c, const char *key, const char *fn, int want1,
                                int want2) {
  int i = c && key ? cfg_find(c, key) : -1;
  if (i < 0) {
    fprintf(stderr, "%s: undeclared configuration key '%s'\n", fn, key ? key : "(null)");
    abort();
  }
  const cfg_entry *e = &c->e[i];
  if (want1 && (int)e->k.type != want1 && (int)e->k.type != want2) {
    fprintf(stderr, "%s: configuration key '%s' is of type %s\n", fn, key,
            cfg_type_name(e->k.type));
    abort();
  }
  if (want1 && !e->value) {
    fprintf(stderr, "%s: configuration key '%s' has no value\n", fn, key);
    abort();
  }
  return e;
}

/* ---------------------------------------------------------------- life cycle */

bh_config *bh_config_alloc(void) {
  bh_config *c = calloc(1, sizeof *c);
  if (!c) bh_error(BH_ENOMEM, "config: out of memory");
  return c;
}

static void cfg_entry_clear(cfg_entry *e) {
  free((char *)e->k.key);
  free((char *)e->k.def);
  free((char *)e->k.doc);
  free(e->value);
}

void bh_config_free(bh_config *c) {
  if (!c) return;
  for (int i = 0; i < c->n; i++) cfg_entry_clear(&c->e[i]);
  free(c->e);
  free(c);
}

bh_config *bh_config_copy(const bh_config *c) {
  bh_config *d = bh_config_alloc();
  if (!d || !c) return d;
  d->e = calloc(c->n ? (size_t)c->n : 1, sizeof *d->e);
  if (!d->e) {
    free(d);
    bh_error(BH_ENOMEM, "config: out of memory");
    return NULL;
  }
  d->cap = c->n;
  for (int i = 0; i < c->n; i++) {
    const cfg_entry *s = &c->e[i];
    cfg_entry *e = &d->e[d->n++];
    e->k.type = s->k.type;
    e->k.key = cfg_strdup(s->k.key);
    e->k.def = cfg_strdup(s->k.def);
    e->k.doc = cfg_strdup(s->k.doc);
    e->value = cfg_strdup(s->value);
    e->set = s->set;
    if (!e->k.key || (s->k.def && !e->k.def) || (s->k.doc && !e->k.doc) ||
        (s->value && !e->value)) {
      bh_config_free(d);
      bh_error(BH_ENOMEM, "config: out of memory");
      return NULL;
    }
  }
  return d;
}

/* ---------------------------------------------------------------- declaring */

static int cfg_declare_one(bh_config *c, const bh_cfg_key *k) {
  if (!*k->key) return bh_error(BH_EINVAL, "config: empty key name");
  if (k->type < BH_CFG_INT || k->type > BH_CFG_INTLIST)
    return bh_error(BH_EINVAL, "config: key '%s' has an unknown type %d", k->key, (int)k->type);
  char *def = NULL;
  if (k->def) {
    if (cfg_check("config (default)", k->key, k->type, k->def, &def)) return bh_error_code();
  }
  int i = cfg_find(c, k->key);
  if (i < 0) {
    if (c->n == c->cap) {
      int cap = c->cap ? 2 * c->cap : 32;
      cfg_entry *e = realloc(c->e, (size_t)cap * sizeof *e);
      if (!e) return free(def), bh_error(BH_ENOMEM, "config: out of memory");
      c->e = e;
      c->cap = cap;
    }
    cfg_entry *e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    e->k.key = cfg_strdup(k->key);
    if (!e->k.key) return free(def), bh_error(BH_ENOMEM, "config: out of memory");
    c->n++;
    i = c->n - 1;
  }
  cfg_entry *e = &c->e[i];
  char *doc = cfg_strdup(k->doc ? k->doc : "");
  char *defcopy = k->def ? cfg_strdup(k->def) : NULL;
  if (!doc || (k->def && !defcopy)) {
    free(doc), free(defcopy), free(def);
    return bh_error(BH_ENOMEM, "config: out of memory");
  }
  char *value = def;
  if (e->set) {
    /* keep the value set earlier, if it still fits the (possibly new) type */
    if (cfg_check("config", k->key, k->type, e->value, &value)) {
      free(doc), free(defcopy), free(def);
      return bh_error_code();
    }
    free(def);
  }
  free((char *)e->k.def);
  free((char *)e->k.doc);
  free(e->value);
  e->k.type = k->type;
  e->k.def = defcopy;
  e->k.doc = doc;
  e->value = value;
  return BH_OK;
}

int bh_config_declare(bh_config *c, const bh_cfg_key *keys) {
  if (!c) return bh_error(BH_EINVAL, "config: NULL configuration");
  for (const bh_cfg_key *k = keys; k && k->key; k++) {
    int st = cfg_declare_one(c, k);
    if (st) return st;
  }
  return BH_OK;
}

int bh_config_has(const bh_config *c, const char *key) {
  return c && key && cfg_find(c, key) >= 0;
}

/* ---------------------------------------------------------------- setting */

static int cfg_unknown(const bh_config *c, const char *key, const char *origin) {
  char known[400];
  size_t len = 0;
  known[0] = '\0';
  for (int i = 0; i < c->n && len < sizeof known; i++)
    len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "",
                            c->e[i].k.key);
  if (len >= sizeof known) strcpy(known + sizeof known - 5, " ...");
  return bh_error(BH_EINVAL, "%s: unknown key '%s' (known: %s)", cfg_origin(origin), key, known);
}

int bh_config_set(bh_config *c, const char *key, const char *value, const char *origin) {
  if (!c || !key || !value) return bh_error(BH_EINVAL, "%s: NULL key or value", cfg_origin(origin));
  int i = cfg_find(c, key);
  if (i < 0) return cfg_unknown(c, key, origin);
  char *canon;
  int st = cfg_check(origin, key, c->e[i].k.type, value, &canon);
  if (st) return st;
  free(c->e[i].value);
  c->e[i].value = canon;
  c->e[i].set = 1;
  return BH_OK;
}

int bh_config_set_assignment(bh_config *c, const char *assignment, const char *origin) {
  const char *eq = assignment ? strchr(assignment, '=') : NULL;
  if (!eq)
    return bh_error(BH_EINVAL, "%s: '%s' is not key=value", cfg_origin(origin),
                    assignment ? assignment : "(null)");
  char *key = cfg_trimmed(assignment, (size_t)(eq - assignment));
  char *value = cfg_trimmed(eq + 1, strlen(eq + 1));
  int st;
  if (!key || !value) st = bh_error(BH_ENOMEM, "%s: out of memory", cfg_origin(origin));
  else if (!*key)
    st = bh_error(BH_EINVAL, "%s: '%s' is not key=value", cfg_origin(origin), assignment);
  else st = bh_config_set(c, key, value, origin);
  free(key);
  free(value);
  return st;
}

/* A JSON value as the text bh_config_set takes; NULL (message set) for objects, nested arrays,
 * non-integer list entries. */
static char *cfg_json_text(const json_t *v, const char *origin, const char *key) {
  char buf[64];
  switch (json_typeof(v)) {
  case JSON_STRING: return cfg_strdup(json_string_value(v));
  case JSON_INTEGER:
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return cfg_strdup(buf);
  case JSON_REAL: {
    /* the shortest text that reads back as the same double (1e-4, not 0.00010000000000000000) */
    double x = json_real_value(v);
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(buf, sizeof buf, "%.*g", prec, x);
      if (strtod(buf, NULL) == x) break;
    }
    return cfg_strdup(buf);
  }
  case JSON_TRUE: return cfg_strdup("true");
  case JSON_FALSE: return cfg_strdup("false");
  case JSON_ARRAY: {
    size_t n = json_array_size(v), len = 0;
    if (n == 0) {
      bh_error(BH_EINVAL, "%s: %s: empty list", origin, key);
      return NULL;
    }
    char *s = malloc(n * 24 + 1);
    if (!s) return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
      const json_t *x = json_array_get(v, i);
      if (!json_is_integer(x)) {
        free(s);
        bh_error(BH_EINVAL, "%s: %s: list entry %zu is not an integer", origin, key, i);
        return NULL;
      }
      len += (size_t)sprintf(s + len, i ? ",%" JSON_INTEGER_FORMAT : "%" JSON_INTEGER_FORMAT,
                             json_integer_value(x));
    }
    return s;
  }
  default: bh_error(BH_EINVAL, "%s: %s: not a number, string, boolean or list", origin, key);
  }
  return NULL;
}

int bh_config_set_json(bh_config *c, const json_t *obj, const char *origin) {
  const char *o = cfg_origin(origin);
  if (!c) return bh_error(BH_EINVAL, "%s: NULL configuration", o);
  if (!json_is_object(obj)) return bh_error(BH_EINVAL, "%s: not a JSON object", o);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    int i = cfg_find(c, key);
    if (i < 0) return cfg_unknown(c, key, origin);
    /* null: "no value", acceptable only for a key that has none (a round trip) */
    if (json_is_null(v)) {
      if (c->e[i].value) return bh_error(BH_EINVAL, "%s: %s: null is not a value", o, key);
      continue;
    }
    char *text = cfg_json_text(v, o, key);
    if (!text) return bh_error_code() ? bh_error_code() : bh_error(BH_ENOMEM, "%s: out of memory", o);
    int st = bh_config_set(c, key, text, origin);
    free(text);
    if (st) return st;
  }
  return BH_OK;
}

/* "key = value" lines, '#' comments, blank lines. */
static int cfg_load_lines(bh_config *c, const char *path, const char *text) {
  int line = 0;
  const char *p = text;
  char origin[1100];
  while (*p) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    line++;
    const char *hash = memchr(p, '#', len);
    char *s = cfg_trimmed(p, hash ? (size_t)(hash - p) : len);
    if (!s) return bh_error(BH_ENOMEM, "%s: out of memory", path);
    snprintf(origin, sizeof origin, "%.1000s:%d", path, line);
    int st = BH_OK;
    if (*s) {
      char *eq = strchr(s, '=');
      char *key = eq ? cfg_trimmed(s, (size_t)(eq - s)) : NULL;
      char *value = eq ? cfg_trimmed(eq + 1, strlen(eq + 1)) : NULL;
      if (!eq || (key && !*key))
        st = bh_error(BH_EINVAL, "%s: expected 'key = value', not '%s'", origin, s);
      else if (!key || !value) st = bh_error(BH_ENOMEM, "%s: out of memory", origin);
      else {
        /* a value in double quotes loses them ("a b" for a string with spaces is the same) */
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
          memmove(value, value + 1, vl - 2);
          value[vl - 2] = '\0';
        }
        st = bh_config_set(c, key, value, origin);
      }
      free(key);
      free(value);
    }
    free(s);
    if (st) return st;
    if (!end) break;
    p = end + 1;
  }
  return BH_OK;
}

int bh_config_load_file(bh_config *c, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return bh_error(BH_EIO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 4096, len = 0;
  char *text = malloc(cap);
  for (;;) {
    if (!text) {
      fclose(f);
      return bh_error(BH_ENOMEM, "%s: out of memory", path);
    }
    len += fread(text + len, 1, cap - 1 - len, f);
    if (len < cap - 1) break;
    char *t = realloc(text, cap * 2);
    if (!t) free(text);
    text = t;
    cap *= 2;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(text);
    return bh_error(BH_EIO, "%s: read error", path);
  }
  text[len] = '\0';
  if (strlen(text) != len) {
    free(text);
    return bh_error(BH_EFORMAT, "%s: contains a NUL byte (not a text file)", path);
  }
  const char *p = text;
  while (isspace((unsigned char)*p)) p++;
  int st;
  if (*p == '{') {
    json_error_t je;
    json_t *obj = json_loadb(text, len, 0, &je);
    if (!obj) st = bh_error(BH_EFORMAT, "%s:%d: %s", path, je.line, je.text);
    else st = bh_config_set_json(c, obj, path);
    json_decref(obj);
  } else {
    st = cfg_load_lines(c, path, text);
  }
  free(text);
  return st;
}

/* ---------------------------------------------------------------- getters */

long bh_config_int(const bh_config *c, const char *key) {
  const cfg_entry *e = cfg_get(c, key, "bh_config_int", BH_CFG_INT, BH_CFG_BOOL);
  if (e->k.type == BH_CFG_BOOL) {
    int v = 0;
    cfg_parse_bool(e->value, &v);
    return v;
  }
  long v = 0;
  cfg_parse_long(e->value, &v);
  return v;
}

double bh_config_num(const bh_config *c, const char *key) {
  const cfg_entry *e = cfg_get(c, key, "bh_config_num", BH_CFG_NUM, BH_CFG_INT);
  double v = 0.0;
  cfg_parse_double(e->value, &v);
  return v;
}

const char *bh_config_str(const bh_config *c, const char *key) {
  return cfg_get(c, key, "bh_config_str", 0, 0)->value;
}

int bh_config_intlist(const bh_config *c, const char *key, int *out) {
  const cfg_entry *e = cfg_get(c, key, "bh_config_intlist", BH_CFG_INTLIST, BH_CFG_INTLIST);
  const char *why;
  long bad;
  return cfg_parse_intlist(e->value, out, &why, &bad);
}

int bh_config_count(const bh_config *c) { return c ? c->n : 0; }

const bh_cfg_key *bh_config_key_at(const bh_config *c, int i) {
  return c && i >= 0 && i < c->n ? &c->e[i].k : NULL;
}

/* ---------------------------------------------------------------- output */

static json_t *cfg_value_json(const cfg_entry *e) {
  if (!e->value) return json_null();
  switch (e->k.type) {
  case BH_CFG_INT: {
    long v = 0;
    cfg_parse_long(e->value, &v);
    return json_integer(v);
  }
  case BH_CFG_NUM: {
    double v = 0.0;
    cfg_parse_double(e->value, &v);
    return json_real(v);
  }
  case BH_CFG_BOOL: {
    int v = 0;
    cfg_parse_bool(e->value, &v);
    return json_boolean(v);
  }
  case BH_CFG_INTLIST: {
    int v[BH_CFG_INTLIST_MAX];
    const char *why;
    long bad;
    int n = cfg_parse_intlist(e->value, v, &why, &bad);
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
      if (json_array_append_new(a, json_integer(v[i]))) {
        json_decref(a);
        return NULL;
      }
    return a;
  }
  default: return json_string(e->value);
  }
}

json_t *bh_config_json(const bh_config *c) {
  json_t *o = json_object();
  for (int i = 0; o && c && i < c->n; i++) {
    json_t *v = cfg_value_json(&c->e[i]);
    if (!v || json_object_set_new(o, c->e[i].k.key, v)) {
      json_decref(o);
      o = NULL;
    }
  }
  if (!o) bh_error(BH_ENOMEM, "config: out of memory");
  return o;
}

void bh_config_print_help(const bh_config *c, FILE *f) {
  int w = 0;
  for (int i = 0; c && i < c->n; i++) {
    int l = (int)strlen(c->e[i].k.key);
    if (l > w) w = l;
  }
  for (int i = 0; c && i < c->n; i++) {
    const bh_cfg_key *k = &c->e[i].k;
    char what[160];
    if (k->def) snprintf(what, sizeof what, "(%s, default %.100s)", cfg_type_name(k->type), k->def);
    else snprintf(what, sizeof what, "(%s, no default)", cfg_type_name(k->type));
    fprintf(f, "  %-*s  %-28s  %s\n", w, k->key, what, k->doc ? k->doc : "");
  }
}
