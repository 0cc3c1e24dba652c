// libavfilter graphs as reel uses them: one source, a textual chain, one sink.
#pragma once

#include <string>

#include "engine/av_util.h"

namespace reel::engine {

struct FilterChain {
  FilterGraphPtr graph;
  AVFilterContext* source = nullptr;
  AVFilterContext* sink = nullptr;
};

// `video` picks buffer/buffersink or abuffer/abuffersink; `source_args` configure the source.
Result<FilterChain> BuildChain(bool video, const std::string& source_args, const std::string& chain,
                               int threads);

}  // namespace reel::engine
