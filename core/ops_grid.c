/* ops_grid.c — not written yet. */
#include "core/ops.h"
