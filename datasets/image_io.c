/* image_io.c — not written yet. */
#include "datasets/dataset.h"
