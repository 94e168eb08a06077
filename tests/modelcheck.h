/* modelcheck.h — whole-model checks shared by the model tests: a finite-difference gradient
 * check of one update phase over every parameter group it trains, on tiny networks.
 * (Being written.) */
#ifndef BH_TEST_MODELCHECK_H
#define BH_TEST_MODELCHECK_H
#endif
