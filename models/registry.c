/* registry.c — the table of model classes, the keys every model shares, and the configuration
 * of a new model (model.h). */
#include <stdio.h>
#include <string.h>

#include "baselines/baselines.h"
#include "bhivae_model/bhivae.h"
#include "core/error.h"
#include "models/arch.h"
#include "models/model.h"

static const bh_model_class *const classes[] = {
    &bh_vae_class,
    &bh_betavae_class,
    &bh_factorvae_class,
    &bh_btcvae_class,
    &bh_guidedvae_class,
    &bh_guidedvae_sup_class,
    &bh_bhivae_class,
    &bh_bhivae_sup_class,
};
#define NCLASSES ((int)(sizeof classes / sizeof classes[0]))

const bh_cfg_key bh_model_common_keys[] = {
    {"steps", BH_CFG_INT, "30000", "training steps"},
    {"batch_size", BH_CFG_INT, "64", "examples per batch"},
    {"lr", BH_CFG_NUM, "1e-4", "Adam learning rate of the main network"},
    {"beta1", BH_CFG_NUM, "0.9", "Adam first-moment decay"},
    {"beta2", BH_CFG_NUM, "0.999", "Adam second-moment decay"},
    {"adam_eps", BH_CFG_NUM, "1e-8", "Adam epsilon"},
    {"weight_decay", BH_CFG_NUM, "0", "L2 weight decay of the main network (PyTorch Adam's)"},
    {"z_dim", BH_CFG_INT, "10", "latent dimensions"},
    {"log_every", BH_CFG_INT, "100", "steps between log lines"},
    {"ckpt_every", BH_CFG_INT, "2000", "steps between checkpoints"},
    {"subset", BH_CFG_INT, "0",
     "train on a fixed seeded random subset of this many examples (0: all)"},
    {"seed", BH_CFG_INT, "0", "seed of every random stream of the run"},
    {"data", BH_CFG_STR, "dsprites", "dataset spec (dsprites, mnist, celeba:DIR, ...)"},
    {NULL, 0, NULL, NULL},
};

int bh_model_class_count(void) { return NCLASSES; }

const bh_model_class *bh_model_class_at(int i) {
  return i >= 0 && i < NCLASSES ? classes[i] : NULL;
}

const bh_model_class *bh_model_class_find(const char *name) {
  for (int i = 0; name && i < NCLASSES; i++)
    if (strcmp(classes[i]->name, name) == 0) return classes[i];
  char known[256];
  size_t len = 0;
  known[0] = '\0';
  for (int i = 0; i < NCLASSES && len < sizeof known; i++)
    len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "",
                            classes[i]->name);
  bh_error(BH_EINVAL, "unknown model '%s' (known: %s)", name ? name : "(null)", known);
  return NULL;
}

bh_config *bh_model_config_new(const bh_model_class *cls) {
  bh_config *c = bh_config_alloc();
  if (!c) return NULL;
  if (bh_config_declare(c, bh_model_common_keys) || bh_config_declare(c, bh_arch_keys) ||
      (cls && bh_config_declare(c, cls->keys))) {
    bh_config_free(c);
    return NULL;
  }
  return c;
}

bh_adam_config bh_model_main_adam(const bh_config *cfg) {
  bh_adam_config a = bh_adam_config_default();
  a.lr = bh_config_num(cfg, "lr");
  a.beta1 = bh_config_num(cfg, "beta1");
  a.beta2 = bh_config_num(cfg, "beta2");
  a.eps = bh_config_num(cfg, "adam_eps");
  a.weight_decay = bh_config_num(cfg, "weight_decay");
  a.decoupled = 0;
  return a;
}

bh_adam_config bh_model_adversary_adam(const bh_config *cfg, const char *lr_key,
                                       const char *beta1_key, const char *beta2_key) {
  bh_adam_config a = bh_model_main_adam(cfg);
  a.lr = bh_config_num(cfg, lr_key);
  a.beta1 = bh_config_num(cfg, beta1_key);
  a.beta2 = bh_config_num(cfg, beta2_key);
  a.weight_decay = 0.0;
  a.decoupled = 0;
  return a;
}
