/* stub: being written */
#include "baselines/baselines.h"
typedef int bh_stub_btcvae_;
const bh_model_class bh_btcvae_class = {"btcvae", "(being written)", NULL, NULL, NULL, NULL, NULL, NULL, NULL};
