#include "bhivae_model/bhivae.h"
const bh_model_class bh_bhivae_sup_class = {"bhivae-sup", "(being written)", NULL, NULL, NULL, NULL, NULL, NULL, NULL};
