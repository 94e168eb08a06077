/* stub: being written */
#include "baselines/baselines.h"
typedef int bh_stub_factorvae_;
const bh_model_class bh_factorvae_class = {"factorvae", "(being written)", NULL, NULL, NULL, NULL, NULL, NULL, NULL};
