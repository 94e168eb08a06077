#include "cli/commands.h"
#include "cli/cli_model.h"
int bh_cmd_scatter(int argc, char **argv) { (void)argc; (void)argv; return bh_cli_fail("scatter: being written"); }
