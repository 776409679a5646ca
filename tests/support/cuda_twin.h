// For tests that call the CUDA backend's entry points (engine/cuda/backend.h)
// directly, to hand kernels NaN-poisoned outputs. In a build without the
// CUDA backend those entry points do not exist: NG_CUDA_CALL then compiles to
// a failure, which is never reached because NG_REQUIRE_GPU() skips first.
#pragma once

#include "support/cuda.h"

#ifdef NANOGEN_WITH_CUDA
#include "engine/cuda/backend.h"
#define NG_CUDA_CALL(call) call
#else
#define NG_CUDA_CALL(call) GTEST_FAIL() << "this build has no CUDA backend"
#endif
