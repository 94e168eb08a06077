/* cmd_data.c — not written yet. */
#include "datasets/dataset.h"
