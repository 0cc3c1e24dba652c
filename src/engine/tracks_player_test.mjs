// A package's subtitle renditions and audio tracks as a player sees them: `reel transcode`
// (REEL_BINARY) packages a source with two audio streams (English and French), a SubRip stream
// and an attached WebVTT file, a static server on loopback serves it, and hls.js in Debian's
// Chromium (driven by playwright-core) lists the tracks, enables a subtitle track and shows its
// cues at the source's times, and switches to the French audio track and plays to the end.
// Run by CTest (`node --test`); see src/engine/CMakeLists.txt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, serveStatic } from '../testing/browser.mjs';

const REEL = process.env.REEL_BINARY;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HLS_JS = path.join(ROOT, 'node_modules/hls.js/dist/hls.min.js');
let dir;
let server;
let url;
let browser;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'reel-tracks-'));
  const file = (name) => path.join(dir, name);
  writeFileSync(file('en.srt'), '1\n00:00:01,000 --> 00:00:02,000\nHello there\n\n');
  writeFileSync(file('fr.vtt'), 'WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nBonjour\n');
  execFileSync('ffmpeg', ['-v', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30:duration=8',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=8', '-i', file('en.srt'),
    '-f', 'lavfi', '-i', 'sine=frequency=660:sample_rate=48000:duration=8',
    '-map', '0:v', '-map', '1:a', '-map', '3:a', '-map', '2', '-c:v', 'libx264', '-preset',
    'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-c:s', 'srt',
    '-metadata:s:a:0', 'language=eng', '-metadata:s:a:0', 'title=English',
    '-metadata:s:a:1', 'language=fre', '-metadata:s:a:1', 'title=Français',
    '-metadata:s:s:0', 'language=eng', '-metadata:s:s:0', 'title=English', file('src.mkv')]);
  writeFileSync(file('job.json'), JSON.stringify({
    source: file('src.mkv'),
    subtitle_tracks: [{ url: file('fr.vtt'), language: 'fr', name: 'Français' }],
    outputs: [{ kind: 'hls', ladder: 'default', destination: file('pkg/') }],
  }));
  execFileSync(REEL, ['transcode', file('job.json')], { stdio: 'ignore' });
  writeFileSync(file('player.html'),
    '<!doctype html><video muted playsinline></video><script src="/hls.min.js"></script>');
  ({ server, url } = await serveStatic(dir, { '/hls.min.js': HLS_JS }));
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await new Promise((resolve) => server.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('hls.js lists the audio and subtitle tracks and shows the cues at their times', async (t) => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  t.after(() => page.close());
  await page.goto(url + '/player.html');
  const tracks = await page.evaluate(() => new Promise((resolve, reject) => {
    const hls = new window.Hls();
    window.hls = hls;
    hls.on(window.Hls.Events.ERROR, (_, d) => { if (d.fatal) reject(new Error(d.details)); });
    hls.on(window.Hls.Events.MANIFEST_PARSED, () => resolve({
      audio: hls.allAudioTracks.map((a) => [a.name, a.lang, a.default]),
      subtitles: hls.allSubtitleTracks.map((s) => [s.name, s.lang, s.default, s.autoselect]),
    }));
    hls.loadSource('/pkg/master.m3u8');
    hls.attachMedia(document.querySelector('video'));
  }));
  assert.deepEqual(tracks.audio, [['English', 'en', true], ['Français', 'fr', false]]);
  assert.deepEqual(tracks.subtitles,
    [['Français', 'fr', false, true], ['English', 'en', false, true]]);

  // Each subtitle track in turn: its cue appears where the source has it.
  for (const [index, text, start, end] of [[0, 'Bonjour', 1, 3], [1, 'Hello there', 1, 2]]) {
    const cue = await page.evaluate(([i, want]) => new Promise((resolve, reject) => {
      const video = document.querySelector('video');
      window.hls.subtitleTrack = i;
      const deadline = Date.now() + 20000;
      const look = () => {
        for (const track of video.textTracks) {
          if (track.mode !== 'showing' || !track.cues) continue;
          for (const c of track.cues) {
            if (c.text === want) { resolve([c.startTime, c.endTime]); return; }
          }
        }
        if (Date.now() > deadline) reject(new Error(`no cue "${want}" shown`));
        else setTimeout(look, 100);
      };
      video.play().then(look, reject);
    }), [index, text]);
    assert.ok(Math.abs(cue[0] - start) < 0.05, `${text} starts at ${cue[0]}, not ${start}`);
    assert.ok(Math.abs(cue[1] - end) < 0.05, `${text} ends at ${cue[1]}, not ${end}`);
  }
  assert.deepEqual(errors, []);
});

test('hls.js switches to the second audio track, loads its rendition and plays to the end',
  async (t) => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    t.after(() => page.close());
    await page.goto(url + '/player.html');
    const played = await page.evaluate(() => new Promise((resolve, reject) => {
      const video = document.querySelector('video');
      const hls = new window.Hls();
      const audioUrls = [];
      let switched = null;
      hls.on(window.Hls.Events.ERROR, (_, d) => { if (d.fatal) reject(new Error(d.details)); });
      hls.on(window.Hls.Events.FRAG_LOADED, (_, d) => {
        if (d.frag.type === 'audio') audioUrls.push(d.frag.url);
      });
      hls.on(window.Hls.Events.AUDIO_TRACK_SWITCHED, (_, d) => { switched = d.id; });
      hls.on(window.Hls.Events.MANIFEST_PARSED, () => video.play().catch(reject));
      // Switched while playing, as a viewer does from the player's menu.
      video.addEventListener('playing', () => { hls.audioTrack = 1; }, { once: true });
      video.addEventListener('ended', () => resolve({
        switched, track: hls.audioTrack, audioUrls, time: video.currentTime,
        duration: video.duration,
      }));
      setTimeout(() => reject(new Error(`not ended at ${video.currentTime}`)), 60000);
      hls.loadSource('/pkg/master.m3u8');
      hls.attachMedia(video);
    }));
    assert.equal(played.switched, 1);
    assert.equal(played.track, 1);
    // Its segments came from the second track's folder, to the last one.
    const second = played.audioUrls.filter((u) => u.includes('/pkg/audio_1/'));
    assert.ok(second.length >= 2, `audio fragments: ${played.audioUrls.join(' ')}`);
    assert.ok(second.some((u) => u.endsWith('seg_00001.m4s')), second.join(' '));
    assert.ok(Math.abs(played.time - 8) < 0.1, `ended at ${played.time}`);
    assert.deepEqual(errors, []);
  });
