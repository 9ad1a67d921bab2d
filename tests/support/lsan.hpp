#pragma once

// ZOKIO_TEST_LSAN is defined, and __lsan::ScopedDisabler available, when the test is built with
// AddressSanitizer (whose LeakSanitizer checks every test at exit). A test that leaves a task's
// frame behind on purpose (a task left at shutdown keeps its frame) disables the check around it.

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define ZOKIO_TEST_LSAN 1
#endif
#endif
