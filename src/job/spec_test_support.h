// What the spec tests share.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "job/spec.h"

namespace reel::job {

// The field error of a spec that must be refused (and the test fails if it is accepted).
inline FieldError ErrorOf(const nlohmann::json& spec) {
  FieldError e;
  Result<JobSpec> r = ParseJobSpec(spec, &e);
  EXPECT_FALSE(r.ok()) << spec.dump();
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(e.message), std::string::npos);
  }
  return e;
}

}  // namespace reel::job
