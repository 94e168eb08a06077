/* stub: being written */
#include "cli/commands.h"
int bh_cmd_train(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return bh_cli_fail("train: not yet available");
}
