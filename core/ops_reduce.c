/* ops_reduce.c — not written yet. */
#include "core/ops.h"
