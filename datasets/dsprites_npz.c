/* dsprites_npz.c — not written yet. */
#include "datasets/dataset.h"
