// The dashboard in a real browser: Debian's Chromium, driven by playwright-core, against a real
// `reel serve` started here (REEL_BINARY) on media generated here with ffmpeg's lavfi sources.
// Run by CTest (`node --test`); see src/dashboard/CMakeLists.txt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startReelServe } from '../testing/reel_server.mjs';

const REEL = process.env.REEL_BINARY;
const CHROMIUM = process.env.REEL_CHROMIUM || '/usr/bin/chromium';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir;
let media;
let server;
let s3;
let url;
let adminKey;
let bobKey;
let browser;

function ffmpeg(name, ...args) {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args, path.join(media, name)]);
}

function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// npm's s3rver (installed by scripts/setup) with a bucket "media"; returns a storage config.
async function startS3() {
  const port = await freePort();
  const root = path.join(dir, 's3');
  mkdirSync(root);
  s3 = spawn(path.join(ROOT, 'node_modules/.bin/s3rver'), ['-d', root, '-a', '127.0.0.1',
    '-p', String(port), '--configure-bucket', 'media', '--silent'], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(endpoint).then(() => true, () => false)) break;
    if (i === 200) throw new Error('s3rver did not start (run ./scripts/setup)');
    await new Promise((r) => setTimeout(r, 100));
  }
  const config = path.join(dir, 'storage.json');
  writeFileSync(config, JSON.stringify(
    { s3: { default: { endpoint, access_key: 'S3RVER', secret_key: 'S3RVER' } } }));
  return config;
}

async function startServer(storageConfig) {
  const varDir = path.join(dir, 'var');
  ({ server, url } = await startReelServe(REEL, ['--data-dir', varDir, '--allow-path', media,
    '--workers', '2', '--storage-config', storageConfig, '--allow-host', '127.0.0.1']));
  adminKey = readFileSync(path.join(varDir, 'admin.key'), 'utf8').trim();
  bobKey = execFileSync(REEL, ['keys', 'create', '--name', 'bob', '--data-dir', varDir],
    { encoding: 'utf8' }).trim();
}

async function api(method, route, key, body) {
  const res = await fetch(url + route, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

// A fresh browser page signed in with `key`; page errors fail the test that opened it.
async function openDashboard(t, key) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  t.after(async () => {
    await context.close();
    assert.deepEqual(errors, [], 'no script errors on the page');
  });
  await page.goto(url + '/');
  if (key) {
    await page.fill('#key', key);
    await page.click('#key-form button');
    await page.waitForSelector('#app:not([hidden])');
  }
  return page;
}

// Waits until the selected job's HLS output has played past one second; returns its picture size.
async function playHls(page) {
  await page.waitForSelector('.output[data-kind=hls] video');
  await page.waitForFunction(() => document.querySelectorAll('.renditions option').length > 1);
  await page.evaluate(() => document.querySelector('.output[data-kind=hls] video').play());
  await page.waitForFunction(
    () => document.querySelector('.output[data-kind=hls] video').currentTime > 1, null,
    { timeout: 20000 });
  const size = await page.evaluate(() => {
    const v = document.querySelector('.output[data-kind=hls] video');
    return [v.videoWidth, v.videoHeight];
  });
  assert.ok(size[0] > 0 && size[1] > 0, `video has pictures: ${size}`);
  return size;
}

async function waitForState(page, state, timeout = 30000) {
  await page.waitForFunction((s) => document.getElementById('detail-state')?.textContent === s,
    state, { timeout });
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'reel-dashboard-'));
  media = path.join(dir, 'media');
  mkdirSync(media);
  ffmpeg('clip.mp4', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30:duration=4',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=4',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest');
  // Long enough to act on while it runs (a 1080p ladder of 40 s takes well over 10 s here).
  ffmpeg('long.mp4', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30:duration=40',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p');
  // Not media, and a name made to be HTML.
  writeFileSync(path.join(media, '<img src=x onerror=window.pwned=1>.mp4'), 'not a video at all');
  await startServer(await startS3());
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As the tool library documents for this machine: no sandbox as root, and no background
    // networking (the closed network refuses it).
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
});

after(async () => {
  if (browser) await browser.close();
  const exited = (child) => new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) resolve();
    else { child.once('exit', resolve); child.kill('SIGTERM'); }
  });
  await Promise.all([exited(server), exited(s3)]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a wrong key is refused and the right one signs in', async (t) => {
  const page = await openDashboard(t, null);
  await page.fill('#key', 'reel_not_a_key');
  await page.click('#key-form button');
  await page.waitForFunction(() => document.getElementById('key-error').textContent !== '');
  assert.match(await page.textContent('#key-error'), /not accepted/);
  assert.equal(await page.isHidden('#app'), true);
  await page.fill('#key', adminKey);
  await page.click('#key-form button');
  await page.waitForSelector('#app:not([hidden])');
  // The key is remembered: a reload stays signed in.
  await page.reload();
  await page.waitForSelector('#app:not([hidden])');
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in:not([hidden])');
});

test('a job submitted from the page is followed live and its outputs play', async (t) => {
  const page = await openDashboard(t, adminKey);
  const out = path.join(media, 'out');
  const spec = {
    source: path.join(media, 'clip.mp4'),
    outputs: [
      { kind: 'hls', destination: `${out}/hls/`, quality: true },
      { kind: 'thumbnail', destination: `${out}/thumbs/`, count: 3 },
      { kind: 'waveform', destination: `${out}/waveform.json` },
      { kind: 'loudness' },
    ],
  };
  await page.click('#new-job-toggle');
  await page.fill('#spec', JSON.stringify(spec));
  // Every state the detail panel shows, as it shows them.
  await page.evaluate(() => {
    window.statesSeen = [];
    new MutationObserver(() => {
      const s = document.getElementById('detail-state');
      if (s && s.textContent && window.statesSeen.at(-1) !== s.textContent)
        window.statesSeen.push(s.textContent);
    }).observe(document.getElementById('detail'), { subtree: true, childList: true, characterData: true });
  });
  await page.click('#new-job button[type=submit]');
  await waitForState(page, 'succeeded', 60000);
  const seen = await page.evaluate(() => window.statesSeen);
  assert.notEqual(seen[0], 'succeeded', `the panel showed the job before it finished: ${seen}`);
  assert.equal(seen.at(-1), 'succeeded');
  assert.equal(await page.textContent('#detail-progress-text'), '100.0%');

  // The HLS output plays, through hls.js, from the API with the key.
  await playHls(page);
  // Choosing a rendition other than the one playing switches to it.
  await page.waitForFunction(() => document.querySelector('.renditions .playing')?.textContent);
  const playing = await page.textContent('.renditions .playing');
  const options = await page.$$eval('.renditions option', (os) => os.map((o) => o.textContent));
  assert.equal(options[0], 'auto');
  const heights = options.slice(1).map((o) => o.match(/^(\d+)p/)[1]);
  assert.ok(heights.length >= 2, `several renditions: ${options}`);
  const other = heights.findIndex((h) => !playing.endsWith(`x${h}`));
  await page.selectOption('.renditions select', String(other));
  await page.waitForFunction((h) => document.querySelector('.renditions .playing')?.textContent.endsWith(`x${h}`),
    heights[other], { timeout: 20000 });

  // The quality report is a table with a row per rendition: its name, then Y-PSNR.
  const rows = await page.$$eval('.output[data-kind=hls] table.quality tbody tr',
    (rs) => rs.map((r) => r.textContent));
  assert.equal(rows.length, heights.length, `a row per rendition: ${rows}`);
  for (const r of rows) assert.match(r, /^\d+p\d+\.\d\d \(min \d+\.\d\d, worst 1 % \d+\.\d\d\)/);

  // Thumbnails are images, the waveform is drawn, loudness has its figures.
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('.output[data-kind=thumbnail] img')];
    return imgs.length === 3 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  });
  await page.waitForSelector('.output[data-kind=waveform] canvas[data-drawn]');
  assert.match(await page.textContent('.output[data-kind=loudness] .loudness'),
    /Integrated -\d+(\.\d)? LUFS/);
  // And the list shows it.
  await page.waitForFunction(() => [...document.querySelectorAll('#jobs tbody tr')]
    .some((r) => r.textContent.includes('succeeded') && r.textContent.includes('clip.mp4')));
});

test('an HLS package delivered to S3 plays through the API', async (t) => {
  const page = await openDashboard(t, adminKey);
  const { body: job } = await api('POST', '/v1/jobs', adminKey, {
    source: path.join(media, 'clip.mp4'),
    outputs: [{ kind: 'hls', destination: 's3://media/shows/clip/' },
      { kind: 'thumbnail', destination: 's3://media/shows/clip-poster.jpg', at: 1 }],
  });
  const row = `#jobs tbody tr[data-id="${job.id}"]`;
  await page.waitForSelector(row);
  await page.click(row);
  await waitForState(page, 'succeeded', 60000);
  assert.match(await page.textContent('.output[data-kind=hls]'), /Delivered: \d+ file/);
  const [width, height] = await playHls(page);
  assert.ok(Math.abs(width / height - 16 / 9) < 0.01, `16:9 pictures: ${width}x${height}`);
  await page.waitForFunction(() => document.querySelector('.output[data-kind=thumbnail] img')?.naturalWidth > 0);
});

test('a multi-codec master plays, hls.js keeping the variants the browser decodes', async (t) => {
  const page = await openDashboard(t, adminKey);
  const { body: job } = await api('POST', '/v1/jobs', adminKey, {
    source: path.join(media, 'clip.mp4'),
    outputs: [{ kind: 'hls', destination: path.join(media, 'multi') + '/', ladder: [
      { height: 240, bitrate: '400k' },
      { height: 240, bitrate: '300k', codec: 'hevc', speed: 'ultrafast' },
      { height: 240, bitrate: '250k', codec: 'av1', speed: 12 }] }],
  });
  const row = `#jobs tbody tr[data-id="${job.id}"]`;
  await page.waitForSelector(row);
  await page.click(row);
  await waitForState(page, 'succeeded', 90000);
  const { body: done } = await api('GET', `/v1/jobs/${job.id}`, adminKey);
  const codecs = done.result.outputs[0].variants.map((v) => v.codecs);
  assert.equal(codecs.length, 3);
  assert.match(codecs[1], /^hvc1\.1\.6\.L\d+/);
  assert.match(codecs[2], /^av01\.0\.\d\dM\.08/);
  // What this Chromium's MediaSource decodes, asked with the master's own CODECS strings.
  const decodable = await page.evaluate((cs) => cs.filter((c) =>
    MediaSource.isTypeSupported(`video/mp4; codecs="${c}"`)), codecs);
  assert.ok(decodable.includes(codecs[0]), `H.264 always plays: ${decodable}`);
  await playHls(page);
  const offered = await page.$$eval('.renditions option', (os) => os.length - 1);  // not "auto"
  assert.equal(offered, decodable.length, `hls.js offers what the browser decodes: ${decodable}`);
});

test('an invalid job gets the error naming its field', async (t) => {
  const page = await openDashboard(t, adminKey);
  await page.click('#new-job-toggle');
  await page.fill('#spec', JSON.stringify({
    source: path.join(media, 'clip.mp4'), outputs: [{ kind: 'gif', destination: `${media}/x.gif` }],
  }));
  await page.click('#new-job button[type=submit]');
  await page.waitForFunction(() => document.getElementById('submit-error').textContent !== '');
  assert.match(await page.textContent('#submit-error'), /^outputs\[0\]\.kind: /);
  await page.fill('#spec', '{"source": ');
  await page.click('#new-job button[type=submit]');
  await page.waitForFunction(() => document.getElementById('submit-error').textContent.startsWith('Not valid JSON'));
});

test('a running job is canceled, then deleted, from the page', async (t) => {
  const page = await openDashboard(t, adminKey);
  const { body: job } = await api('POST', '/v1/jobs', adminKey, {
    source: path.join(media, 'long.mp4'),
    outputs: [{ kind: 'hls', destination: `${media}/long/hls/` }],
  });
  const row = `#jobs tbody tr[data-id="${job.id}"]`;
  await page.waitForSelector(row);
  await page.click(row);
  await waitForState(page, 'running');
  // Progress arrives over the event stream while it runs.
  await page.waitForFunction(() => document.getElementById('detail-progress').value > 0, null,
    { timeout: 30000 });
  await page.click('#cancel');
  await waitForState(page, 'canceled');
  assert.equal((await api('GET', `/v1/jobs/${job.id}`, adminKey)).body.state, 'canceled');
  assert.equal(await page.isEnabled('#retry'), true);
  await page.click('#delete');
  await page.waitForSelector('#detail', { state: 'hidden' });
  await page.waitForSelector(row, { state: 'detached' });
  assert.equal((await api('GET', `/v1/jobs/${job.id}`, adminKey)).status, 404);
});

test('what a job carries is shown as text, never run as HTML', async (t) => {
  const page = await openDashboard(t, adminKey);
  const { status, body: job } = await api('POST', '/v1/jobs', adminKey, {
    source: path.join(media, '<img src=x onerror=window.pwned=1>.mp4'),
    outputs: [{ kind: 'thumbnail', destination: `${media}/pwned.jpg` }],
  });
  assert.equal(status, 202);
  const row = `#jobs tbody tr[data-id="${job.id}"]`;
  await page.waitForSelector(row);
  await page.click(row);
  await waitForState(page, 'failed');
  assert.match(await page.textContent('#detail-error'), /<img src=x onerror=window\.pwned=1>\.mp4/);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.$$eval('#detail img, #jobs img', (imgs) => imgs.length), 0);
});

test('another key sees none of these jobs', async (t) => {
  const page = await openDashboard(t, bobKey);
  await page.waitForSelector('#no-jobs:not([hidden])');
  assert.equal(await page.$$eval('#jobs tbody tr', (rows) => rows.length), 0);
  assert.match(await page.textContent('#queue'), /0 succeeded/);
  // Nor their files, even with a job id in hand (which the admin key does read).
  const { body } = await api('GET', '/v1/jobs?state=succeeded', adminKey);
  const id = body.jobs.find((j) => j.result.outputs[0].kind === 'hls').id;
  const status = (key) => page.evaluate(async ([jobId, k]) => (await fetch(
    `/v1/jobs/${jobId}/outputs/0/master.m3u8`, { headers: { Authorization: `Bearer ${k}` } })).status,
  [id, key]);
  assert.equal(await status(adminKey), 200);
  assert.equal(await status(bobKey), 404);
});
