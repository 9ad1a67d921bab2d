#pragma once

// zokio-diag top / zokio-diag dump: the clients of a running program's live console
// (runtime_options::console or ZOKIO_CONSOLE=PATH; runtime/src/diag/console.cpp).

namespace zokio::diag_tool {

/// True when argv[1] names a console command ("top" or "dump").
bool is_console_command(int argc, char** argv);

/// Runs `zokio-diag top ...` or `zokio-diag dump ...`; returns the exit code.
int run_console_command(int argc, char** argv);

} // namespace zokio::diag_tool
