/* ops_conv.c — not written yet. */
#include "core/ops.h"
