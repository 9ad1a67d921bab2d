# What keeps make test's three builds short (docs/decisions.md, "make test keeps the machine busy
# while a suite waits, and compiles less").
#
# zokio_front_end_sources(<source>...)
#   For a tool's command-line, JSON and report code: the slowest TUs of a tree to compile (CLI11
#   and nlohmann_json are header-only) and the least
#   worth optimizing (they run once per invocation, and hold no coroutine). They compile at -O1 in
#   a Release tree and at -O0 elsewhere (the sanitizer trees, where Clang 14 takes 30 s of CPU for
#   zokio-diag's main.cpp at -O2 and 14 s at -O0, still instrumented: its command from the asan
#   tree's compile_commands.json under /usr/bin/time, with the -O level changed). Called in the directory
#   that adds the sources to their target; the option comes after the target's own, so it wins.
function(zokio_front_end_sources)
  set_property(SOURCE ${ARGN} APPEND PROPERTY COMPILE_OPTIONS "$<IF:$<CONFIG:Release>,-O1,-O0>")
endfunction()
