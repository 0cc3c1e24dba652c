// The environment of an attempt's child process (`reel run-job`): a clean one built from an
// explicit list of what a job may need, never the server's whole environment. The child parses
// media from strangers, so whatever it can read, an exploit in a demuxer can read too.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace reel::worker {

// What the child of a job with this `spec` may see of this process's environment: the basics
// (PATH, HOME, locale, TMPDIR, sanitizer and test switches), REEL_WORKER_PID (this process, the
// child's parent), and the server's S3 settings
// (REEL_S3_*, AWS_*) only when the spec names an s3:// URL or the chunks are staged in S3
// (`staging_in_s3`: the server's keys sign the staging's requests). Never the sealing key, the
// store's address or PostgreSQL's settings. A job's own sealed credentials reach the child in
// its spec file, not here.
std::vector<std::string> ChildEnvironment(const nlohmann::json& spec, bool staging_in_s3 = false);

// Whether `spec` names an s3:// URL anywhere but in its free-form metadata.
bool UsesS3(const nlohmann::json& spec);

// What the child of a job with this (opened) `spec` is given of the server's storage config
// (`config`: its --storage-config file as JSON): the S3 profiles its s3:// URLs name
// ("s3://NAME@bucket/key", or "default"), and those of `more_urls` (a staging on S3); null when
// it names none. Never the file itself: it holds every profile's keys, and the child parses media
// from strangers.
nlohmann::json ChildStorageConfig(const nlohmann::json& config, const nlohmann::json& spec,
                                  const std::vector<std::string>& more_urls = {});

}  // namespace reel::worker
