/* stub: being written */
#include "baselines/baselines.h"
const bh_model_class bh_guidedvae_class = {"guidedvae", "(being written)", NULL, NULL, NULL, NULL, NULL, NULL, NULL};
