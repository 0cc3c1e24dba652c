// A multi-codec master (H.264 and AV1 variants sharing one audio group) in hls.js in Debian's
// Chromium: hls.js keeps the variants MediaSource says it decodes and plays one of them from 0 to
// the end; when Chromium decodes AV1 (it has dav1d built in), the AV1 variant pinned as the level
// plays to the end too, so its CODECS string and its fMP4 are what the browser accepts. The
// package is made here by `reel transcode` (REEL_BINARY) from a 6 s lavfi clip. Run by CTest
// (`node --test`); see src/engine/CMakeLists.txt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, serveStatic, writeTestClip } from '../testing/browser.mjs';

const REEL = process.env.REEL_BINARY;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HLS_JS = path.join(ROOT, 'node_modules/hls.js/dist/hls.min.js');
const SECONDS = 6;
const FPS = 25;
let dir;
let http;
let base;
let browser;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'reel-multicodec-'));
  const src = path.join(dir, 'src.mp4');
  writeTestClip(src, { seconds: SECONDS, fps: FPS });
  writeFileSync(path.join(dir, 'job.json'), JSON.stringify({
    source: { url: src },
    outputs: [{
      kind: 'hls',
      destination: path.join(dir, 'pkg') + '/',
      ladder: [
        { height: 360, bitrate: '800k' },
        { height: 180, bitrate: '300k' },
        { height: 360, bitrate: '600k', codec: 'av1', speed: 12 },
        { height: 180, bitrate: '250k', codec: 'av1', speed: 12 },
      ],
    }],
  }));
  execFileSync(REEL, ['transcode', path.join(dir, 'job.json')], { stdio: 'ignore' });
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><video id="v" muted></video>');
  ({ server: http, url: base } = await serveStatic(dir, { '/hls.js': HLS_JS }));
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (http) http.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Plays the master to the end; `pin` (a codec family, "av01") fixes the level to that codec's
// first variant. Returns what the page saw: the levels hls.js kept, the codecs it played, errors.
async function play(pin) {
  const page = await browser.newPage();
  try {
    await page.goto(`${base}/index.html`);
    await page.addScriptTag({ url: `${base}/hls.js` });
    return await page.evaluate(async (pin) => {
      const video = document.getElementById('v');
      const seen = { errors: [], levels: [], played: [], av1: false, pinned: -1 };
      seen.av1 = MediaSource.isTypeSupported('video/mp4; codecs="av01.0.01M.08"');
      const hls = new Hls();
      hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) seen.errors.push(d.details); });
      hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => seen.played.push(hls.levels[d.level].videoCodec));
      const parsed = new Promise((resolve) => hls.on(Hls.Events.MANIFEST_PARSED, resolve));
      const ended = new Promise((resolve) => video.addEventListener('ended', resolve));
      hls.loadSource('pkg/master.m3u8');
      hls.attachMedia(video);
      await parsed;
      seen.levels = hls.levels.map((l) => l.videoCodec);
      if (pin) {
        seen.pinned = seen.levels.findIndex((c) => c && c.startsWith(pin));
        if (seen.pinned >= 0) hls.currentLevel = seen.pinned;
      }
      video.playbackRate = 4;
      await video.play();
      await Promise.race([ended, new Promise((r) => setTimeout(r, 60000))]);
      seen.ended = video.ended;
      seen.endTime = video.currentTime;
      hls.destroy();
      return seen;
    }, pin);
  } finally {
    await page.close();
  }
}

function families(master) {
  return [...master.matchAll(/#EXT-X-STREAM-INF:[^\n]*CODECS="([a-z0-9]+)\./g)].map((m) => m[1]);
}

test('hls.js plays a master of H.264 and AV1 variants with the codec Chromium decodes', async (t) => {
  const master = readFileSync(path.join(dir, 'pkg/master.m3u8'), 'utf8');
  assert.deepEqual(families(master), ['avc1', 'avc1', 'av01', 'av01'], master);
  const seen = await play(null);
  t.diagnostic(`AV1 in MediaSource: ${seen.av1}; levels ${seen.levels}; played ${seen.played}`);
  assert.deepEqual(seen.errors, [], JSON.stringify(seen));
  assert.ok(seen.ended, `did not reach the end: ${JSON.stringify(seen)}`);
  assert.ok(Math.abs(seen.endTime - SECONDS) <= 1 / FPS, `ended at ${seen.endTime}`);
  // hls.js keeps the AV1 variants exactly when MediaSource decodes AV1.
  assert.equal(seen.levels.some((c) => c.startsWith('av01')), seen.av1, JSON.stringify(seen));
  assert.ok(seen.levels.some((c) => c.startsWith('avc1')), JSON.stringify(seen));
  assert.ok(seen.played.length > 0, JSON.stringify(seen));
});

test('the AV1 variant plays to the end when pinned (Chromium decodes AV1)', async (t) => {
  const seen = await play('av01');
  if (!seen.av1) {
    t.skip('this Chromium does not decode AV1 in MediaSource');
    return;
  }
  assert.ok(seen.pinned >= 0, JSON.stringify(seen));
  assert.deepEqual(seen.errors, [], JSON.stringify(seen));
  assert.ok(seen.ended, `did not reach the end: ${JSON.stringify(seen)}`);
  assert.ok(Math.abs(seen.endTime - SECONDS) <= 1 / FPS, `ended at ${seen.endTime}`);
  assert.ok(seen.played.length > 0 && seen.played.every((c) => c.startsWith('av01')),
    `played ${JSON.stringify(seen.played)}`);
});
