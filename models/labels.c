#include "models/labels.h"
typedef int bh_stub_labels_;
