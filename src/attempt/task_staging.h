// The tasks' side of the staging (staging_store.h), internal to the attempt module. With an S3
// staging a chunk or the audio encodes into its scratch and uploads its attempt's folder, and
// the stitch downloads the folders the succeeded tasks name.
//
// A job's remote sources (http, s3, ftp) are fetched once, by the attempt that fans out, and
// staged beside its chunks ("sources/<n>/<name>"); every task reads that copy, checked by size,
// rather than fetching the source again. A local source is read in place and staged nowhere.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attempt/attempt.h"
#include "attempt/plan.h"
#include "common/status.h"

namespace reel::attempt {

class ServerPaths;

// The folder a task writes its staged files in and the stitch reads them from: the job's
// staging itself, or for S3 a folder of the attempt's scratch.
std::string LocalStaging(const Environment& env);
// After a chunk or the audio wrote `folder` under LocalStaging: with S3, uploads it.
Status PublishFolder(const Environment& env, const std::string& folder);
// Before the stitch: with S3, downloads each of `folders` under LocalStaging.
Status FetchFolders(const Environment& env, const std::vector<std::string>& folders);
// The same into a host's cache that outlives the attempt: each of `folders` (an attempt's own,
// so its files never change once its task succeeded) downloaded under `cache` unless a whole copy
// is there already, and renamed into place once whole. Where they are to be read: `cache`, or
// the job's staging itself when it is a folder.
Result<std::string> FetchFoldersInto(const Environment& env,
                                     const std::vector<std::string>& folders,
                                     const std::string& cache);
// The id of the job whose staging this is (its last path part): the key of the host's caches.
std::string StagingJob(const Environment& env);

// The remote sources an attempt fetched, by field ("source", "audio"...): URL and local copy.
using FetchedSources = std::map<std::string, std::pair<std::string, std::string>>;
// `resolve`, recording the remote sources it fetches in `fetched`.
Resolver Recording(Resolver resolve, FetchedSources* fetched);
// Stages `fetched` in the job's staging and names them in every task's payload ("sources").
Status StageSources(const FetchedSources& fetched, const Environment& env, FanOutMessage* m);
// A task's resolver: the staged copy of a source its payload names (shown as its URL in
// `paths`), else `resolve`'s answer, as when the copy is missing or cut short.
Resolver StagedSourceResolver(Resolver resolve, const nlohmann::json& payload,
                              const Environment& env, ServerPaths* paths);

}  // namespace reel::attempt
