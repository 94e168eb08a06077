/* ops_binary.c — not written yet. */
#include "core/ops.h"
