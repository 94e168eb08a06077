/* stub: being written */
#include "baselines/baselines.h"
typedef int bh_stub_vae_;
const bh_model_class bh_vae_class = {"vae", "(being written)", NULL, NULL, NULL, NULL, NULL, NULL, NULL};
const bh_model_class bh_betavae_class = {"betavae", "(being written)", NULL, NULL, NULL, NULL, NULL, NULL, NULL};
