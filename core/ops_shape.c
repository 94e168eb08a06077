/* ops_shape.c — not written yet. */
#include "core/ops.h"
