#include "engine/filters.h"

namespace reel::engine {

Result<FilterChain> BuildChain(bool video, const std::string& source_args, const std::string& chain,
                               int threads) {
  FilterChain fc;
  fc.graph.reset(avfilter_graph_alloc());
  fc.graph->nb_threads = threads;
  const char* src_name = video ? "buffer" : "abuffer";
  const char* sink_name = video ? "buffersink" : "abuffersink";
  int err = avfilter_graph_create_filter(&fc.source, avfilter_get_by_name(src_name), "in",
                                         source_args.c_str(), nullptr, fc.graph.get());
  if (err < 0) return AvStatus(err, std::string("cannot create ") + src_name + " " + source_args);
  err = avfilter_graph_create_filter(&fc.sink, avfilter_get_by_name(sink_name), "out", nullptr,
                                     nullptr, fc.graph.get());
  if (err < 0) return AvStatus(err, "cannot create sink");

  AVFilterInOut* outputs = avfilter_inout_alloc();
  AVFilterInOut* inputs = avfilter_inout_alloc();
  outputs->name = av_strdup("in");
  outputs->filter_ctx = fc.source;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = fc.sink;
  err = avfilter_graph_parse_ptr(fc.graph.get(), chain.c_str(), &inputs, &outputs, nullptr);
  avfilter_inout_free(&inputs);
  avfilter_inout_free(&outputs);
  if (err < 0) return AvStatus(err, "cannot parse filter chain '" + chain + "'");
  err = avfilter_graph_config(fc.graph.get(), nullptr);
  if (err < 0) return AvStatus(err, "cannot configure filter chain '" + chain + "'");
  return fc;
}

}  // namespace reel::engine
