/* stub: being written */
#include "cli/commands.h"
int bh_cmd_encode(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return bh_cli_fail("encode: not yet available");
}
