// The stitch (stitch.h). The chunks' segments are copied, never rewritten: each chunk's muxer
// already numbered them and put them on the global timeline; the stitch joins the playlists,
// checks the parameter sets and writes what describes the whole package.
#include "engine/stitch.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/demux_decode.h"
#include "engine/hls.h"
#include "engine/package_writer.h"
#include "engine/scheduler.h"
#include "engine/staging.h"
#include "engine/stitch_file.h"
#include "engine/stitch_parts.h"
#include "engine/subtitles.h"
#include "layout/layout.h"

namespace reel::engine {
namespace {

namespace fs = std::filesystem;
using stitch_parts::CodecConfiguration;
using stitch_parts::JoinPlaylists;
using stitch_parts::PlaceFile;
using stitch_parts::ReadDescription;
using stitch_parts::ReadJson;
using stitch_parts::StagedAudio;

// Where the stitch's time goes, for the benchmark's projection of many workers (the stitch does
// not split): copying the chunks' and the audio's files, comparing the parameter sets, cutting
// the fragments at keyframes, reading the subtitles, and writing the playlists and the MPD.
struct StitchTimes {
  double copy = 0, check = 0, split = 0, subtitles = 0, write = 0;
  double remux = 0;  // the chunked MP4 files (stitch_file.h)
};

// Seconds since `from`, and restarts it: the stitch's steps, for the benchmark's projection.
double Lap(std::chrono::steady_clock::time_point* from) {
  auto now = std::chrono::steady_clock::now();
  double s = std::chrono::duration<double>(now - *from).count();
  *from = now;
  return s;
}

// The subtitle renditions of the packages, as an unchunked run reads them (Scheduler): the
// attached files, then the source's own text streams. Their cues do not depend on the chunks.
Result<std::vector<SubtitleTrack>> ReadSubtitles(const TranscodePlan& plan) {
  std::vector<SubtitleTrack> tracks;
  for (const SubtitleInput& in : plan.subtitle_tracks) {
    Result<SubtitleTrack> t = ReadSubtitleFile(in);
    if (!t.ok()) return t.status();
    tracks.push_back(std::move(t).value());
  }
  Result<MediaInfo> info = Probe(plan.input);
  if (!info.ok()) return info.status();
  bool text_streams = false;
  for (const StreamInfo& s : info->streams) text_streams |= s.type == "subtitle";
  if (!text_streams) return tracks;
  // Cue times count from where the run puts the media's time 0.
  RunState run(nullptr);
  Source source(plan, &run, 1);
  REEL_RETURN_IF_ERROR(source.Open());
  Result<std::vector<SubtitleTrack>> own =
      ReadSubtitleStreams(plan.input, source.timeline_zero(), nullptr);
  if (!own.ok()) return own.status();
  for (SubtitleTrack& t : *own) tracks.push_back(std::move(t));
  return tracks;
}

// Stitches package `h` into `dir` (its staged folder), described as it will be in h.directory;
// `copied` is called after each rendition.
Status StitchPackage(const HlsOutputPlan& h, const std::string& dir, const ChunkLayout& layout,
                     const std::string& staging_dir, const std::vector<SubtitleTrack>& subtitles,
                     const std::function<void()>& copied, OutputResult* out, StitchTimes* times) {
  auto clock = std::chrono::steady_clock::now();
  const std::string part = "/out-" + std::to_string(h.index);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create " + dir + ": " + ec.message());

  // What the chunks' runs saw: chunk 0 describes the renditions, each chunk its captions.
  PackageDescription d;
  bool any_captions = false, all_none = true;
  for (const ChunkRange& c : layout.chunks) {
    Result<PackageDescription> cd = ReadDescription(ChunkStagingDir(staging_dir, c.index), h.index);
    if (!cd.ok()) return cd.status().WithContext("chunk " + std::to_string(c.index));
    if (c.index == layout.chunks.front().index) {
      d = *cd;
    } else {
      bool same = cd->videos.size() == d.videos.size();
      for (size_t i = 0; same && i < d.videos.size(); ++i)
        same = cd->videos[i].name == d.videos[i].name;  // the parameter sets are checked below
      if (!same)
        return FailedPrecondition("stitch: chunk " + std::to_string(c.index) +
                                  " encoded other renditions than chunk 0; re-encode the chunk");
    }
    any_captions |= cd->captions == hls::Captions::kInStream;
    all_none &= cd->captions == hls::Captions::kNone;
  }
  d.captions = any_captions ? hls::Captions::kInStream
               : all_none   ? hls::Captions::kNone
                            : hls::Captions::kUnstated;
  for (PackageVideo& v : d.videos) v.quality = nullptr;  // a chunk's figures, not the package's

  // The audio, encoded once: copied as its task left it (priming trimmed, tail folded).
  const std::string audio_dir = AudioStagingDir(staging_dir) + part;
  Result<std::vector<PackageAudio>> audio = StagedAudio(staging_dir, audio_dir, h.index);
  if (!audio.ok()) return audio.status();
  d.audio = std::move(audio).value();
  for (const PackageAudio& a : d.audio) {
    fs::create_directories(dir + "/" + a.name, ec);
    if (ec) return Unavailable("cannot create " + dir + "/" + a.name + ": " + ec.message());
    for (const auto& e : fs::directory_iterator(audio_dir + "/" + a.name, ec))
      if (e.is_regular_file())
        REEL_RETURN_IF_ERROR(
            PlaceFile(e.path().string(), dir + "/" + a.name + "/" + e.path().filename().string()));
  }
  times->copy += Lap(&clock);
  copied();

  for (const PackageVideo& v : d.videos) {
    const std::string vdir = dir + "/" + v.name;
    fs::create_directories(vdir, ec);
    if (ec) return Unavailable("cannot create " + vdir + ": " + ec.message());
    std::vector<std::string> playlists;
    std::string config0;
    for (const ChunkRange& c : layout.chunks) {
      const std::string cdir = ChunkStagingDir(staging_dir, c.index) + part + "/" + v.name;
      const std::string init = cdir + "/" + std::string(layout::kInitSegment);
      Result<std::string> config = CodecConfiguration(init);
      if (!config.ok()) return config.status().WithContext("chunk " + std::to_string(c.index));
      if (c.index == layout.chunks.front().index) {
        config0 = *config;
      } else if (*config != config0) {
        return FailedPrecondition("stitch: chunk " + std::to_string(c.index) + ", rendition " +
                                  v.name +
                                  ": its parameter sets differ from chunk 0's (its encoder was "
                                  "configured differently); re-encode the chunk");
      }
      times->check += Lap(&clock);
      if (c.index == layout.chunks.front().index)
        REEL_RETURN_IF_ERROR(PlaceFile(init, vdir + "/" + std::string(layout::kInitSegment)));
      const std::string pl_path = cdir + "/" + std::string(layout::kMediaPlaylist);
      Result<hls::MediaPlaylist> pl = hls::ReadMediaPlaylist(pl_path);
      if (!pl.ok()) return pl.status().WithContext("chunk " + std::to_string(c.index));
      for (const hls::Segment& s : pl->segments)
        REEL_RETURN_IF_ERROR(PlaceFile(cdir + "/" + s.uri, vdir + "/" + s.uri));
      playlists.push_back(pl_path);
      times->copy += Lap(&clock);
    }
    Result<std::string> joined = JoinPlaylists(playlists);
    if (!joined.ok()) return joined.status();
    *joined += "#EXT-X-ENDLIST\n";
    const std::string uri = layout::MediaPlaylistUri(v.name);
    REEL_RETURN_IF_ERROR(WriteTextFile(dir + "/" + uri, *joined));
    // One fragment per keyframe, numbered over the whole rendition, as an unchunked run has.
    Result<int> split = hls::SplitFragmentsAtKeyframes(dir + "/" + uri);
    if (!split.ok()) return split.status();
    times->split += Lap(&clock);
    copied();
  }
  Status glue = WritePackageGlue(d, subtitles, dir, h.directory, out);
  times->write += Lap(&clock);
  if (!glue.ok()) return glue;
  out->index = h.index;
  return Status::Ok();
}

}  // namespace

Result<TranscodeResult> Stitch(const TranscodePlan& plan, const ChunkLayout& layout,
                               const std::string& staging_dir, const TranscodeOptions& options) {
  if (layout.chunks.empty()) return InvalidArgument("stitch: no chunks");
  auto started = std::chrono::steady_clock::now(), clock = started;
  // What the run said of the source (its duration, tone mapping, deinterlacing): chunk 0's.
  Result<nlohmann::json> first =
      ReadJson(ChunkStagingDir(staging_dir, layout.chunks.front().index) + "/result.json");
  if (!first.ok()) return first.status().WithContext("stitch");
  TranscodeResult result;
  result.source_duration = first->value("source_duration", 0.0);
  if (first->contains("tone_mapped")) result.source_hdr = (*first)["tone_mapped"].value("from", "");
  result.deinterlaced = first->value("deinterlaced", "");
  StitchTimes times;
  Result<std::vector<SubtitleTrack>> subtitles = ReadSubtitles(plan);
  if (!subtitles.ok()) return subtitles.status().WithContext("stitch: subtitles");
  times.subtitles = Lap(&clock);
  // Progress counts renditions copied (the audio of a package as one), the stitch's real work.
  int steps = 0, done = 0;
  for (const HlsOutputPlan& h : plan.hls)
    if (!h.single) steps += 1 + static_cast<int>(h.ladder.rungs.size());
  auto copied = [&] {
    ++done;
    if (!options.on_progress) return;
    Progress p;
    p.fraction = std::min(1.0, double(done) / std::max(1, steps));
    p.elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    options.on_progress(p);
  };
  Staging staging;  // whatever is not committed is removed when it goes
  for (const HlsOutputPlan& h : plan.hls) {
    if (h.single) continue;  // previews are not chunked
    Result<std::string> dir = staging.StageDirectory(h.directory);
    if (!dir.ok()) return dir.status();
    OutputResult out;
    Status stitched = StitchPackage(h, *dir, layout, staging_dir, *subtitles, copied, &out, &times);
    if (!stitched.ok()) return staging.Named(stitched);
    result.outputs.push_back(std::move(out));
  }
  clock = std::chrono::steady_clock::now();
  std::optional<bool> audio;  // whether the audio task ran, decided as EncodeAudio decides it
  for (const FileOutputPlan& f : plan.files) {
    if (!ChunkedFile(f)) continue;
    if (!audio) {
      Result<MediaInfo> info = Probe(plan.input);
      if (!info.ok()) return info.status();
      audio = !plan.audio_input.empty() || info->BestAudio() != nullptr;
    }
    Result<OutputResult> out = StitchFile(f, layout, staging_dir, *audio, &staging);
    if (!out.ok()) return out.status();
    result.outputs.push_back(std::move(out).value());
  }
  std::stable_sort(result.outputs.begin(), result.outputs.end(),
                   [](const OutputResult& a, const OutputResult& b) { return a.index < b.index; });
  times.remux = Lap(&clock);
  REEL_RETURN_IF_ERROR(staging.Commit(options.check_destination));
  result.elapsed = Lap(&started);
  auto ms = [](double s) { return std::round(s * 1000) / 1000; };
  result.steps = {{"copy_seconds", ms(times.copy)},   {"check_seconds", ms(times.check)},
                  {"split_seconds", ms(times.split)}, {"subtitles_seconds", ms(times.subtitles)},
                  {"write_seconds", ms(times.write)}, {"remux_seconds", ms(times.remux)},
                  {"seconds", ms(result.elapsed)}};
  return result;
}

}  // namespace reel::engine
