/* bhivae.h — the BHiVAE model classes (registered in models/registry.c).
 *   bhivae      bhivae_model/bhivae.c      unsupervised (paper §3.2.2, §4.2): deterministic
 *               levels, correlated block prior and block-TC through one 3-class discriminator
 *               per level
 *   bhivae-sup  bhivae_model/bhivae_sup.c  supervised (§3.2.1, §4.3): a label per level,
 *               stochastic blocks, classifier C_i on s^i, maximum-entropy adversary on h^i
 */
#ifndef BH_BHIVAE_H
#define BH_BHIVAE_H

#include "models/model.h"

extern const bh_model_class bh_bhivae_class;
extern const bh_model_class bh_bhivae_sup_class;

#endif
