/* stub: being written */
#include "cli/commands.h"
int bh_cmd_traverse(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return bh_cli_fail("traverse: not yet available");
}
