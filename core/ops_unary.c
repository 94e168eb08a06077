/* ops_unary.c — not written yet. */
#include "core/ops.h"
