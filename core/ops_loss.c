/* ops_loss.c — not written yet. */
#include "core/ops.h"
