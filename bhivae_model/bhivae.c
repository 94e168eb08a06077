#include "bhivae_model/bhivae.h"
const bh_model_class bh_bhivae_class = {"bhivae", "(being written)", NULL, NULL, NULL, NULL, NULL, NULL, NULL};
