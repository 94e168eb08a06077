/* config.h — a run's configuration: typed, documented keys with defaults, set from a file
 * (JSON object or "key = value" lines) and from --set key=value, and written into every result.
 *
 * Keys are declared before they are set (bh_config_declare), so a misspelt key is an error, not
 * a silently ignored setting.  Declaring a key again replaces its default and documentation (a
 * model overriding a common default: β-TCVAE's lr).  Values are kept as text and checked
 * against the type when set; the getters return the parsed value.
 *
 * Errors follow core/error.h: a status and one line naming the origin (file name or "--set")
 * and the key, e.g. "run.cfg:3: unknown key 'betta' (known: beta, gamma, ...)".
 */
#ifndef BH_MODELS_CONFIG_H
#define BH_MODELS_CONFIG_H

#include <jansson.h>

typedef enum bh_cfg_type {
  BH_CFG_INT = 1,  /* a decimal integer (long) */
  BH_CFG_NUM,      /* a finite number (double) */
  BH_CFG_STR,      /* any text */
  BH_CFG_BOOL,     /* 0/1, true/false, yes/no, on/off; read with bh_config_int (0 or 1) */
  BH_CFG_INTLIST   /* comma-separated positive integers, e.g. "1200,1200" (layer widths) */
} bh_cfg_type;

/* One key: name, type, default (as text; NULL = no default, must be set before use), and a
 * one-line doc.  Arrays of keys end with an entry whose key is NULL. */
typedef struct bh_cfg_key {
  const char *key;
  bh_cfg_type type;
  const char *def;
  const char *doc;
} bh_cfg_key;

#define BH_CFG_INTLIST_MAX 16

typedef struct bh_config bh_config;

bh_config *bh_config_alloc(void);
void bh_config_free(bh_config *c);
bh_config *bh_config_copy(const bh_config *c);

/* Declare every key of the array (in order; keys already declared keep their place and take the
 * new type, default and doc; a value already set is re-checked against the new type).
 * BH_EINVAL for a bad default (a programming error, reported all the same). */
int bh_config_declare(bh_config *c, const bh_cfg_key *keys);
int bh_config_has(const bh_config *c, const char *key);

/* Set a declared key from text; origin names where the text came from, for messages. */
int bh_config_set(bh_config *c, const char *key, const char *value, const char *origin);
/* "key=value" (spaces around '=' allowed). */
int bh_config_set_assignment(bh_config *c, const char *assignment, const char *origin);
/* A file: a JSON object ({"beta": 6, "arch": "fc"}; numbers, strings, booleans, arrays of
 * integers for lists), or text lines "key = value" with '#' comments and blank lines.  Every key
 * must be declared. */
int bh_config_load_file(bh_config *c, const char *path);
/* The same from a JSON object already parsed (checkpoints store their configuration so). */
int bh_config_set_json(bh_config *c, const json_t *obj, const char *origin);

/* Getters of declared keys of the right type (asking for an undeclared key or one of another
 * type is a programming error: a message on stderr and abort()). */
long bh_config_int(const bh_config *c, const char *key);
double bh_config_num(const bh_config *c, const char *key); /* INT keys read as numbers too */
const char *bh_config_str(const bh_config *c, const char *key); /* any key, as its text */
/* An INTLIST: the count, values into out[0..BH_CFG_INTLIST_MAX-1]. */
int bh_config_intlist(const bh_config *c, const char *key, int *out);

/* Keys in declaration order, for --help listings and results. */
int bh_config_count(const bh_config *c);
const bh_cfg_key *bh_config_key_at(const bh_config *c, int i);

/* {"key": value, ...} with typed values (numbers as numbers, booleans as true/false, lists as
 * arrays), in declaration order.  New reference; NULL when out of memory. */
json_t *bh_config_json(const bh_config *c);

/* "  key  (type, default X)  doc" lines, one per key, to f. */
#include <stdio.h>
void bh_config_print_help(const bh_config *c, FILE *f);

#endif
