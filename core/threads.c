/* threads.c — not written yet. */
#include "core/ops.h"
