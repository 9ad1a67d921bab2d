# Compiler defects that break coroutine code silently, checked once at configure time with the
# compiler and flags of this tree. Each one found is a WARNING with what to write instead; none
# stops the build (Zokio's own code avoids each pattern).

# GCC 12.2 (Debian 12): `while (co_await x) { ... }` and `if (co_await x) { ... }` (a co_await in
# the condition, a braced body) compile to a coroutine whose body never runs: its first resume
# returns at once and it never finishes. Under Zokio such a task stays "running" for ever, which
# zokio-diag and block_on's deadlock_error then report as a deadlock. Clang 14 is not affected.
if(NOT DEFINED ZOKIO_CO_AWAIT_IN_CONDITION_OK)
  try_run(run_result compile_result
    "${CMAKE_BINARY_DIR}/compiler-checks/co_await_in_condition"
    "${CMAKE_CURRENT_LIST_DIR}/checks/co_await_in_condition.cpp"
    CMAKE_FLAGS "-DCMAKE_CXX_FLAGS=${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_${CMAKE_BUILD_TYPE}}"
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON)
  if(compile_result AND run_result EQUAL 0)
    set(ZOKIO_CO_AWAIT_IN_CONDITION_OK ON CACHE INTERNAL "co_await in a condition compiles right")
  elseif(compile_result)
    set(ZOKIO_CO_AWAIT_IN_CONDITION_OK OFF CACHE INTERNAL "co_await in a condition compiles right")
  endif()
endif()
if(DEFINED ZOKIO_CO_AWAIT_IN_CONDITION_OK AND NOT ZOKIO_CO_AWAIT_IN_CONDITION_OK)
  message(WARNING
    "zokio: ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION} miscompiles a co_await in the "
    "condition of an if or while with a braced body (cmake/checks/co_await_in_condition.cpp): "
    "such a coroutine never runs. Write `auto v = co_await rx.recv(); while (v) { ...; v = "
    "co_await rx.recv(); }` or `for (;;) { auto v = co_await rx.recv(); if (!v) break; ... }` "
    "instead (README, \"Compilers\").")
endif()

# GCC 12.2 (Debian 12): `co_await tx.send(value{p})`, a braced aggregate temporary passed by value
# to the function whose result is awaited, destroys the temporary's members once too often (a
# shared_ptr member loses a reference per await, and its object is freed while still in use).
# Clang 14 is not affected; a constructor call, `value(p)`, or a named variable moved in is right.
if(NOT DEFINED ZOKIO_CO_AWAIT_AGGREGATE_TEMPORARY_OK)
  try_run(run_result compile_result
    "${CMAKE_BINARY_DIR}/compiler-checks/co_await_aggregate_temporary"
    "${CMAKE_CURRENT_LIST_DIR}/checks/co_await_aggregate_temporary.cpp"
    CMAKE_FLAGS "-DCMAKE_CXX_FLAGS=${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_${CMAKE_BUILD_TYPE}}"
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON)
  if(compile_result AND run_result EQUAL 0)
    set(ZOKIO_CO_AWAIT_AGGREGATE_TEMPORARY_OK ON CACHE INTERNAL
        "an aggregate temporary in a co_await compiles right")
  elseif(compile_result)
    set(ZOKIO_CO_AWAIT_AGGREGATE_TEMPORARY_OK OFF CACHE INTERNAL
        "an aggregate temporary in a co_await compiles right")
  endif()
endif()
if(DEFINED ZOKIO_CO_AWAIT_AGGREGATE_TEMPORARY_OK AND NOT ZOKIO_CO_AWAIT_AGGREGATE_TEMPORARY_OK)
  message(WARNING
    "zokio: ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION} destroys a braced aggregate "
    "temporary in a co_await expression twice (cmake/checks/co_await_aggregate_temporary.cpp): "
    "`co_await tx.send(value{p})` with a member that owns memory frees it while in use. Write "
    "`value v{p}; co_await tx.send(std::move(v));` instead (README, \"Compilers\").")
endif()
