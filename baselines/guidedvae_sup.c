/* stub: being written */
#include "baselines/baselines.h"
const bh_model_class bh_guidedvae_sup_class = {"guidedvae-sup", "(being written)", NULL, NULL, NULL, NULL, NULL, NULL, NULL};
