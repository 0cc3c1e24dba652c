#include "api/routes.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace reel::api {
namespace {

TEST(Routes, MatchTheRouterSegmentsAndParameters) {
  EXPECT_EQ(RouteTemplate("/v1/jobs"), "/v1/jobs");
  EXPECT_EQ(RouteTemplate("/v1/jobs/"), "/v1/jobs");  // empty segments drop, as the router's
  EXPECT_EQ(RouteTemplate("/v1/jobs/abc"), "/v1/jobs/{id}");
  EXPECT_EQ(RouteTemplate("/v1/jobs/abc/cancel"), "/v1/jobs/{id}/cancel");
  EXPECT_EQ(RouteTemplate("/v1/jobs/abc/nothing"), "");
  EXPECT_EQ(RouteTemplate("/v1/jobs/abc/outputs/0"), "");
  // The file of an output takes the rest of the path.
  EXPECT_EQ(RouteTemplate("/v1/jobs/abc/outputs/0/master.m3u8"),
            "/v1/jobs/{id}/outputs/{index}/{file}");
  EXPECT_EQ(RouteTemplate("/v1/jobs/abc/outputs/0/720p/seg-1.m4s"),
            "/v1/jobs/{id}/outputs/{index}/{file}");
  EXPECT_EQ(RouteTemplate("/"), "/");
  EXPECT_EQ(RouteTemplate("/healthzz"), "");
  EXPECT_EQ(RouteTemplate("/v1"), "");
}

TEST(Routes, MethodsAreThoseOfTheTableWithHeadAsGet) {
  ASSERT_NE(FindRoute("POST", "/v1/jobs"), nullptr);
  EXPECT_TRUE(FindRoute("POST", "/v1/jobs")->key);
  EXPECT_NE(FindRoute("HEAD", "/v1/jobs/x/outputs/0/a.mp4"), nullptr);
  EXPECT_NE(FindRoute("DELETE", "/v1/jobs/x"), nullptr);
  EXPECT_EQ(FindRoute("PUT", "/v1/jobs/x"), nullptr);
  EXPECT_EQ(FindRoute("POST", "/v1/queue"), nullptr);
  EXPECT_EQ(FindRoute("DELETE", "/v1/jobs"), nullptr);
  ASSERT_NE(FindRoute("GET", "/v1/openapi.json"), nullptr);
  EXPECT_FALSE(FindRoute("GET", "/v1/openapi.json")->key);
}

TEST(Routes, EachMethodAndPathOnce) {
  std::set<std::string> seen;
  for (const Route& r : Routes())
    EXPECT_TRUE(seen.insert(std::string(r.method) + " " + std::string(r.path)).second) << r.path;
}

}  // namespace
}  // namespace reel::api
