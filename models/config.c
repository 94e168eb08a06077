/* stub: being written */
#include "models/model.h"
typedef int bh_stub_config_;
