// What the fuzz targets check beyond crashes: a broken promise of the code under test is a
// finding. Require says which, then aborts so that libFuzzer keeps the input.
#pragma once

#include <cstdio>
#include <cstdlib>

#define Require(condition)                                      \
  do {                                                          \
    if (!(condition)) {                                         \
      std::fprintf(stderr, "broken promise: %s\n", #condition); \
      std::abort();                                             \
    }                                                           \
  } while (0)
