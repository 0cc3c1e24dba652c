// The publisher's turn (publish.h).
#include "attempt/publish.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "attempt/fan_out.h"
#include "attempt/task_staging.h"
#include "common/log.h"
#include "engine/progressive.h"
#include "engine/staging.h"
#include "layout/layout.h"

namespace reel::attempt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// What the last successful turn published (kept by the store through failed turns).
struct Published {
  int chunks = 0;
  bool audio = false;
  int segments = 0;
  json ToJson() const { return {{"chunks", chunks}, {"audio", audio}, {"segments", segments}}; }
};

// A safe folder name from a task's result (as the stitch accepts them), or "".
std::string StagingFolder(const json& result) {
  std::string folder = result.is_object() ? result.value("staging", "") : "";
  if (folder.empty() || folder.find('/') != std::string::npos || folder[0] == '.') return "";
  return folder;
}

// What this host keeps of a job's publisher between its turns (Environment::publish_cache), in
// "<cache>/<job>/": the staged folders fetched from S3 ("fetched/<folder>": an attempt's folder
// never changes once its task succeeded, so a whole copy is good for every later turn), and per
// output the prefix built so far ("out-<n>/") with what it was made of ("out-<n>.json"). Another
// host has none of it and fetches and builds what it needs. Held with a lock for the turn.
class HostCache {
 public:
  HostCache() = default;
  HostCache(const HostCache&) = delete;
  HostCache& operator=(const HostCache&) = delete;
  ~HostCache() {
    if (lock_ >= 0) ::close(lock_);  // and with it the lock
  }

  // Without a cache (or a staging) nothing is kept: open() is false.
  Status Open(const Environment& env) {
    if (env.publish_cache.empty() || env.staging.empty()) return Status::Ok();
    dir_ = fs::path(env.publish_cache) / StagingJob(env);
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) return Unavailable("cannot create the publisher's cache: " + ec.message());
    int fd = ::open((dir_ / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Unavailable("cannot open the publisher's cache lock");
    while (::flock(fd, LOCK_EX) != 0)
      if (errno != EINTR) {
        ::close(fd);
        return Unavailable("cannot lock the publisher's cache");
      }
    lock_ = fd;
    return Status::Ok();
  }
  bool open() const { return lock_ >= 0; }
  std::string Fetched() const { return (dir_ / "fetched").string(); }
  std::string Built(int index) const { return (dir_ / ("out-" + std::to_string(index))).string(); }

  // What Built(index) holds, when it was made of the first of `folders` and, if it has the
  // audio, of `audio`'s folder; nothing otherwise. Its record is removed meanwhile: a turn that
  // dies while building leaves none, and the next builds the folder anew.
  engine::PrefixBuilt Kept(int index, const std::vector<std::string>& folders,
                           const std::string& audio) {
    fs::path record = Record(index);
    std::ifstream in(record);
    json j = json::parse(in, nullptr, false);
    std::error_code ec;
    fs::remove(record, ec);
    if (!j.is_object()) return {};
    std::vector<std::string> made_of;
    std::string made_with;
    try {
      made_of = j.at("folders").get<std::vector<std::string>>();
      made_with = j.at("audio").get<std::string>();
    } catch (const json::exception&) {
      return {};
    }
    engine::PrefixBuilt built = engine::PrefixBuilt::FromJson(j.value("built", json()));
    bool prefix = made_of.size() == size_t(built.chunks) && made_of.size() <= folders.size() &&
                  std::equal(made_of.begin(), made_of.end(), folders.begin());
    bool same_audio = !built.audio || made_with == audio;  // "" when the job has none
    return prefix && same_audio ? built : engine::PrefixBuilt{};
  }

  void Keep(int index, const std::vector<std::string>& folders, const std::string& audio,
            const engine::PrefixBuilt& built) {
    fs::path record = Record(index), temp = record;
    temp += ".part";
    {
      std::ofstream out(temp, std::ios::trunc);
      out << json{{"folders", folders}, {"audio", audio}, {"built", built.ToJson()}}.dump();
      if (!out) return;  // unrecorded: the next turn builds anew
    }
    std::error_code ec;
    fs::rename(temp, record, ec);
    if (ec) log::Warn("cannot record the publisher's prefix", {{"error", ec.message()}});
  }

 private:
  fs::path Record(int index) const { return dir_ / ("out-" + std::to_string(index) + ".json"); }

  fs::path dir_;
  int lock_ = -1;
};

// Writes `files` (relative to `from`) into the local folder `to` in order, each beside its place
// first and renamed onto it (engine::WriteFileInPlace): a player reading the folder never meets
// half a file. `check` judges each file's place as it resolves now: a subfolder that someone who
// may write the folder made a link out of it is refused, not written through.
Status WriteInPlace(const std::string& from, const std::vector<std::string>& files,
                    const std::string& to, const std::function<Status(const std::string&)>& check) {
  std::error_code ec;
  for (const std::string& file : files) {
    fs::path target = fs::path(to) / file;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return Unavailable("cannot create " + target.parent_path().string());
    if (check) REEL_RETURN_IF_ERROR(check(target.string()));
    std::ifstream in(fs::path(from) / file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) return Unavailable("cannot read " + file + " to deliver it");
    REEL_RETURN_IF_ERROR(engine::WriteFileInPlace(target.string(), bytes));
  }
  return Status::Ok();
}

// Delivers `files` of the package built in `from` to output `o`'s destination, in order.
Status DeliverFiles(const job::OutputSpec& o, const std::string& from,
                    const std::vector<std::string>& files, const std::string& field,
                    const Environment& env) {
  if (files.empty()) return Status::Ok();
  if (storage::KindOf(o.destination) == storage::Kind::kLocal) {
    // As ResolverFor and the engine's check_destination judge a local destination.
    Result<std::string> dir =
        env.remote ? storage::LocalTarget(o.destination, true, env.scratch, env.storage)
                   : LocalPath(o.destination, field);
    if (!dir.ok()) return dir.status().WithContext(field);
    if (!env.remote) return WriteInPlace(from, files, *dir, {});
    REEL_RETURN_IF_ERROR(storage::CheckLocalWrite(*dir, env.storage));
    return WriteInPlace(from, files, *dir, [&env](const std::string& target) {
      return storage::CheckLocalWrite(target, env.storage);
    });
  }
  // Only the files of this turn, linked into a folder of their own: Deliver sends a folder's
  // segments before its media playlists, and the master last.
  fs::path turn = fs::path(from).string() + ".turn";
  std::error_code ec;
  fs::remove_all(turn, ec);
  for (const std::string& file : files) {
    fs::create_directories((turn / file).parent_path(), ec);
    fs::create_hard_link(fs::path(from) / file, turn / file, ec);
    if (ec) fs::copy_file(fs::path(from) / file, turn / file, ec);
    if (ec) return Unavailable("cannot stage " + file + " for delivery");
  }
  storage::Options options = env.storage;
  options.s3_headers = {o.s3.acl, o.s3.storage_class, o.s3.cache_control, o.s3.metadata};
  Result<json> delivered = storage::Deliver(turn.string(), o.destination, o.method, options, 0);
  fs::remove_all(turn, ec);
  return delivered.ok() ? Status::Ok() : delivered.status().WithContext(field);
}

}  // namespace

AttemptOutcome RunPublish(const job::JobSpec& spec, const TaskRun& task, const Environment& env) {
  Result<engine::ChunkLayout> layout = ChunkLayoutFromJson(task.payload.value("layout", json()));
  if (!layout.ok()) return AttemptError{Stage::kPrepare, layout.status()};
  const bool audio_planned = task.payload.value("audio", false);
  Published last;
  std::map<int, std::string> chunk_folders;  // ordinal -> its succeeded attempt's folder
  std::string audio_folder;
  for (const TaskRun::Done& d : task.results) {
    if (d.kind == "publish" && d.result.is_object()) {
      last.chunks = d.result.value("chunks", 0);
      last.audio = d.result.value("audio", false);
      last.segments = d.result.value("segments", 0);
    }
    std::string folder = StagingFolder(d.result);
    if (d.kind == "chunk" && !folder.empty()) chunk_folders[d.ordinal] = folder;
    if (d.kind == "audio" && !folder.empty()) audio_folder = folder;
  }
  int ready = 0;
  while (chunk_folders.count(ready)) ++ready;
  const int total = static_cast<int>(layout->chunks.size());
  const bool audio = !audio_planned || !audio_folder.empty();
  // Nothing new, or everything done: the stitch delivers the whole package now.
  if (ready == 0 || ready >= total || (ready <= last.chunks && (!audio || last.audio)))
    return AttemptResult{last.ToJson(), Status::Ok()};

  // What this host kept of the job's earlier turns (none: everything is fetched and built
  // here), held for the turn: a turn of a lease that ran out may still be winding down.
  HostCache cache;
  if (Status s = cache.Open(env); !s.ok()) return AttemptError{Stage::kPrepare, s};
  // The done chunks' and the audio's folders, linked as the stitch sees them.
  fs::path view = fs::path(env.scratch) / "publish-staging";
  std::error_code ec;
  fs::remove_all(view, ec);
  fs::create_directories(view, ec);
  if (ec) return AttemptError{Stage::kPrepare, Unavailable("cannot create " + view.string())};
  // With S3 staging, the folders come down to this host first (as the stitch fetches them),
  // those it has not fetched on an earlier turn.
  std::vector<std::string> folders;
  for (int i = 0; i < ready; ++i) folders.push_back(chunk_folders[i]);
  if (!audio_folder.empty()) folders.push_back(audio_folder);
  std::string staged = LocalStaging(env);
  if (cache.open()) {
    Result<std::string> into = FetchFoldersInto(env, folders, cache.Fetched());
    if (!into.ok()) return AttemptError{Stage::kPrepare, into.status()};
    staged = *into;
  } else if (Status s = FetchFolders(env, folders); !s.ok()) {
    return AttemptError{Stage::kPrepare, s};
  }
  for (int i = 0; i < ready; ++i) {
    fs::path from = fs::path(staged) / chunk_folders[i];
    fs::create_directory_symlink(engine::ChunkStagingDir(from.string(), i),
                                 engine::ChunkStagingDir(view.string(), i), ec);
    if (ec) return AttemptError{Stage::kPrepare, Unavailable("cannot link " + from.string())};
  }
  if (!audio_folder.empty()) {
    fs::path from = fs::path(staged) / audio_folder / "audio";
    if (fs::exists(from)) fs::create_directory_symlink(from, view / "audio", ec);
    if (ec) return AttemptError{Stage::kPrepare, Unavailable("cannot link " + from.string())};
  }
  // The folders this turn's prefix is made of: what a kept prefix must have been made of.
  std::vector<std::string> made_of(folders.begin(), folders.begin() + ready);

  std::vector<int> outputs = task.payload.value("outputs", std::vector<int>{});
  Published now{ready, audio, 0};
  for (int index : outputs) {
    if (index < 0 || index >= static_cast<int>(spec.outputs.size()))
      return AttemptError{Stage::kPrepare,
                          InvalidArgument("publish: no output " + std::to_string(index))};
    const std::string field = "outputs[" + std::to_string(index) + "].destination";
    std::string built = (fs::path(env.scratch) / ("publish-" + std::to_string(index))).string();
    engine::PrefixBuilt kept;
    if (cache.open()) {
      built = cache.Built(index);
      kept = cache.Kept(index, made_of, audio_folder);
    }
    Result<engine::PackagePrefix> prefix =
        engine::WritePackagePrefix(index, *layout, ready, audio, view.string(), built, &kept);
    if (!prefix.ok()) return AttemptError{Stage::kEncode, prefix.status()};
    if (cache.open()) cache.Keep(index, made_of, audio_folder, kept);
    // This turn's files in the order a player may meet them: segments, playlists, master.
    std::vector<std::string> files;
    for (int c = std::min(last.chunks, ready); c < ready; ++c)
      files.insert(files.end(), prefix->chunk_files[c].begin(), prefix->chunk_files[c].end());
    bool audio_now = audio && !last.audio;
    if (audio_now)
      files.insert(files.end(), prefix->audio_files.begin(), prefix->audio_files.end());
    if (ready > last.chunks)
      files.insert(files.end(), prefix->video_playlists.begin(), prefix->video_playlists.end());
    if (audio_now) {
      files.insert(files.end(), prefix->audio_playlists.begin(), prefix->audio_playlists.end());
      if (!prefix->master.empty()) files.push_back(prefix->master);
    }
    Status delivered = DeliverFiles(spec.outputs[index], built, files, field, env);
    if (!cache.open()) fs::remove_all(built, ec);
    if (!delivered.ok()) return AttemptError{Stage::kDeliver, delivered};
    now.segments = now.segments == 0 ? prefix->segments : std::min(now.segments, prefix->segments);
  }
  if (env.events.on_encoded) env.events.on_encoded();
  return AttemptResult{now.ToJson(), Status::Ok()};
}

}  // namespace reel::attempt
