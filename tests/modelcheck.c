/* modelcheck.c — being written */
#include "tests/modelcheck.h"
typedef int bh_stub_modelcheck_;
