/* idx.c — not written yet. */
#include "datasets/dataset.h"
