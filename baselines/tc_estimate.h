/* tc_estimate.h — stub being written */
#ifndef BH_TC_ESTIMATE_H
#define BH_TC_ESTIMATE_H
#endif
