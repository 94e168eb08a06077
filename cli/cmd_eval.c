/* stub: being written */
#include "cli/commands.h"
int bh_cmd_eval(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return bh_cli_fail("eval: not yet available");
}
