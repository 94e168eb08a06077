#include "bhivae_model/hier.h"
typedef int bh_stub_hier_;
