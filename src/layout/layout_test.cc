// The package and staging names: what is made parses back to itself, and the names other modules
// and older packages hold are read the way the engine has always written them.
#include "layout/layout.h"

#include <gtest/gtest.h>

namespace reel::layout {
namespace {

using Kind = PackageFile::Kind;

TEST(Layout, NamesAreTheOnesPackagesHaveAlwaysUsed) {
  EXPECT_EQ(SegmentName(0), "seg_00000.m4s");
  EXPECT_EQ(SegmentName(123456), "seg_123456.m4s");
  EXPECT_EQ(SegmentPattern(), "seg_%05d.m4s");
  EXPECT_EQ(MediaPlaylistUri("720p"), "720p/index.m3u8");
  EXPECT_EQ(RenditionFile(kAudioRendition, kInitSegment), "audio/init.mp4");
  EXPECT_EQ(DashInitTemplate("360p"), "360p/init.mp4");
  EXPECT_EQ(DashMediaTemplate("360p"), "360p/seg_$Number%05d$.m4s");
  EXPECT_EQ(ThumbnailName(7, "webp"), "thumb_0007.webp");
  EXPECT_EQ(SpriteVttPath("out/sprite.jpg"), "out/sprite.vtt");
  EXPECT_EQ(SpriteVttPath("sheet"), "sheet.vtt");
}

TEST(Layout, EveryPackageFileRoundTrips) {
  std::vector<PackageFile> files = {
      {Kind::kMasterPlaylist, "", -1, ""},     {Kind::kDashManifest, "", -1, ""},
      {Kind::kMediaPlaylist, "1080p", -1, ""}, {Kind::kInitSegment, "audio", -1, ""},
      {Kind::kSegment, "480p", 0, ""},         {Kind::kSegment, "preview", 99999, ""},
      {Kind::kSegment, "360p", 100000, ""},    {Kind::kThumbnail, "", 1, "jpg"},
      {Kind::kIFramePlaylist, "720p", -1, ""}, {Kind::kThumbnail, "", 12345, "png"},
      {Kind::kThumbnail, "", 3, "webp"},
  };
  for (const PackageFile& f : files) {
    std::string path = MakePackagePath(f);
    std::optional<PackageFile> back = ParsePackagePath(path);
    ASSERT_TRUE(back) << path;
    EXPECT_EQ(back->kind, f.kind) << path;
    EXPECT_EQ(back->rendition, f.rendition) << path;
    EXPECT_EQ(back->number, f.number) << path;
    EXPECT_EQ(back->format, f.format) << path;
    EXPECT_EQ(MakePackagePath(*back), path);
  }
}

TEST(Layout, AudioTrackFoldersKeepTheFirstAsAudioAndRoundTrip) {
  EXPECT_EQ(AudioRendition(0), "audio") << "one track: today's paths";
  EXPECT_EQ(AudioRendition(1), "audio_1");
  EXPECT_EQ(AudioRendition(7), "audio_7");
  for (int track = 0; track < 8; ++track)
    EXPECT_EQ(AudioTrackOf(AudioRendition(track)), track) << AudioRendition(track);
  for (std::string_view other : {"audio_0", "audio_", "audio_01", "audio_-1", "audio_1x", "audio1",
                                 "audio_1234", "720p", "sub_1", ""})
    EXPECT_FALSE(AudioTrackOf(other)) << other;
  std::optional<PackageFile> seg =
      ParsePackagePath(RenditionFile(AudioRendition(2), "seg_00004.m4s"));
  ASSERT_TRUE(seg);
  EXPECT_EQ(seg->rendition, "audio_2");
  EXPECT_EQ(seg->number, 4);
}

TEST(Layout, SubtitleRenditionFilesRoundTrip) {
  EXPECT_EQ(SubtitleRendition(1), "sub_1");
  EXPECT_EQ(SubtitleSegmentName(3), "seg_00003.vtt");
  EXPECT_EQ(RenditionFile(SubtitleRendition(0), kSubtitleFile), "sub_0/subtitles.vtt");
  for (const PackageFile& f : {PackageFile{Kind::kSubtitleSegment, "sub_0", 2, ""},
                               PackageFile{Kind::kSubtitleFile, "sub_1", -1, ""}}) {
    std::string path = MakePackagePath(f);
    std::optional<PackageFile> back = ParsePackagePath(path);
    ASSERT_TRUE(back) << path;
    EXPECT_EQ(back->kind, f.kind) << path;
    EXPECT_EQ(back->rendition, f.rendition) << path;
    EXPECT_EQ(back->number, f.number) << path;
  }
  EXPECT_FALSE(ParsePackagePath("sub_0/notes.vtt"));
  EXPECT_FALSE(ParsePackagePath("subtitles.vtt")) << "only inside a rendition folder";
}

TEST(Layout, ParsesOnlyWhatTheEngineWrites) {
  // Numbers are digits of any length (as the hls muxer and older packages have them).
  ASSERT_TRUE(ParsePackagePath("720p/seg_1.m4s"));
  EXPECT_EQ(ParsePackagePath("720p/seg_1.m4s")->number, 1);
  EXPECT_TRUE(ParsePackagePath("720p/seg_0000000000000000001.m4s"));
  EXPECT_TRUE(ParsePackagePath("thumb_1.png"));
  for (const char* foreign : {"",
                              "index.m3u8",
                              "init.mp4",
                              "seg_00001.m4s",
                              "720p/master.m3u8",
                              "720p/thumb_0001.jpg",
                              "720p/seg_.m4s",
                              "720p/seg_0a.m4s",
                              "720p/seg_00001.m4s.tmp",
                              "720p/seg_-1.m4s",
                              "720p/sub/index.m3u8",
                              "../index.m3u8",
                              "./index.m3u8",
                              "/index.m3u8",
                              "thumb_0001.gif",
                              "thumb_.jpg",
                              "thumb_0001",
                              "Master.m3u8",
                              "manifest.mpd.bak",
                              "720p/"})
    EXPECT_FALSE(ParsePackagePath(foreign)) << foreign;
  EXPECT_TRUE(ParsePackageEntry("index.m3u8", true));
  EXPECT_FALSE(ParsePackageEntry("index.m3u8", false));
  EXPECT_TRUE(ParsePackageEntry("master.m3u8", false));
  EXPECT_FALSE(ParsePackageEntry("master.m3u8", true));
}

TEST(Layout, StagingNamesRoundTrip) {
  EXPECT_EQ(StagingTemplate("out/video.mp4", ".mp4"), "out/.video.mp4.reel-XXXXXX.mp4");
  EXPECT_EQ(StagingTemplate("hls", ""), "./.hls.reel-XXXXXX");
  EXPECT_EQ(StagingPrefix("hls"), ".hls.reel-");
  EXPECT_TRUE(IsStagingName(".video.mp4.reel-a1B2c3.mp4", "video.mp4"));
  EXPECT_TRUE(IsStagingName(".hls.reel-Zz0911", "hls"));
  EXPECT_FALSE(IsStagingName(".hls2.reel-Zz0911", "hls"));
  EXPECT_FALSE(IsStagingName("hls.reel-Zz0911", "hls"));
  // What mkstemps makes of a template is a staging name of its destination.
  std::string made = StagingTemplate("a/b/sprite.jpg", ".jpg");
  made.replace(made.find("XXXXXX"), 6, "Q7r8S9");
  EXPECT_TRUE(IsStagingName(made.substr(made.rfind('/') + 1), "sprite.jpg"));
  EXPECT_EQ(ReplacedPath("out/hls", 42), "out/hls.reel-old-42");
  EXPECT_EQ(SubtitlesCopyTemplate("/tmp", ".srt"), "/tmp/reel-subtitles-XXXXXX.srt");
}

}  // namespace
}  // namespace reel::layout
