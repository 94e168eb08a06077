/* baselines.h — the baseline model classes (one file each), registered in models/registry.c.
 *   vae, betavae   baselines/vae.c        Kingma & Welling; Higgins et al. (β on the KL)
 *   factorvae      baselines/factorvae.c  Kim & Mnih (γ·TC through a discriminator)
 *   btcvae         baselines/btcvae.c     Chen et al. (α·MI + β·TC + γ·dimension-wise KL)
 *   guidedvae      baselines/guidedvae.c  Ding et al., unsupervised (geometric guide decoder)
 *   guidedvae-sup  baselines/guidedvae_sup.c  Ding et al., supervised (excitation, inhibition)
 */
#ifndef BH_BASELINES_H
#define BH_BASELINES_H

#include "models/model.h"

extern const bh_model_class bh_vae_class;
extern const bh_model_class bh_betavae_class;
extern const bh_model_class bh_factorvae_class;
extern const bh_model_class bh_btcvae_class;
extern const bh_model_class bh_guidedvae_class;
extern const bh_model_class bh_guidedvae_sup_class;

/* guidedvae.c: the guide decoder's rotation transform, angles a [n × 1] -> θ [n × 2 × 3] =
 * [[cos a, sin a, 0], [−sin a, cos a, 0]] with its gradient (exported for its test). */
bh_tensor *bh_guidedvae_rotation_theta(bh_ctx *ctx, bh_tensor *angle);

#endif
