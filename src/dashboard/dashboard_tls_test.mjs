// The dashboard over HTTPS in Debian's Chromium: `reel serve --tls-cert --tls-key` with a
// certificate made here by the openssl CLI, which Chromium trusts by its public key alone
// (--ignore-certificate-errors-spki-list: any other certificate is still refused). Signing in,
// a job followed live through its event stream and its HLS output played with the key, all over
// TLS and nothing over plain HTTP. Run by CTest (`node --test`); see src/dashboard/CMakeLists.txt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { writeTestClip } from '../testing/browser.mjs';
import { startReelServe } from '../testing/reel_server.mjs';

const REEL = process.env.REEL_BINARY;
let dir;
let media;
let server;
let url;
let adminKey;
let browser;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'reel-dashboard-tls-'));
  media = path.join(dir, 'media');
  mkdirSync(media);
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=reel dashboard test', '-addext', 'subjectAltName=IP:127.0.0.1'],
  { stdio: 'pipe' });
  const spki = createHash('sha256').update(new X509Certificate(readFileSync(cert)).publicKey
    .export({ type: 'spki', format: 'der' })).digest('base64');
  writeTestClip(path.join(media, 'clip.mp4'), { seconds: 4, fps: 30, size: '320x240' });
  const varDir = path.join(dir, 'var');
  ({ server, url } = await startReelServe(REEL, ['--data-dir', varDir, '--allow-path', media,
    '--workers', '1', '--tls-cert', cert, '--tls-key', key]));
  adminKey = readFileSync(path.join(varDir, 'admin.key'), 'utf8').trim();
  browser = await chromium.launch({
    executablePath: process.env.REEL_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      `--ignore-certificate-errors-spki-list=${spki}`],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('over HTTPS: sign-in, a job followed live, its HLS output plays', async () => {
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  const plain = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => { if (!/^(https|data|blob):/.test(r.url())) plain.push(r.url()); });
  await page.goto(url + '/');
  await page.fill('#key', adminKey);
  await page.click('#key-form button');
  await page.waitForSelector('#app:not([hidden])');

  await page.click('#new-job-toggle');
  await page.fill('#spec', JSON.stringify({
    source: path.join(media, 'clip.mp4'),
    outputs: [{ kind: 'hls', destination: path.join(media, 'out/hls/') }],
  }));
  await page.evaluate(() => {
    window.statesSeen = [];
    new MutationObserver(() => {
      const s = document.getElementById('detail-state');
      if (s && s.textContent && window.statesSeen.at(-1) !== s.textContent)
        window.statesSeen.push(s.textContent);
    }).observe(document.getElementById('detail'),
      { subtree: true, childList: true, characterData: true });
  });
  await page.click('#new-job button[type=submit]');
  await page.waitForFunction(
    () => document.getElementById('detail-state')?.textContent === 'succeeded', null,
    { timeout: 120000 });
  const seen = await page.evaluate(() => window.statesSeen);
  assert.notEqual(seen[0], 'succeeded', `the panel showed the job before it finished: ${seen}`);

  await page.waitForSelector('.output[data-kind=hls] video');
  await page.evaluate(() => document.querySelector('.output[data-kind=hls] video').play());
  await page.waitForFunction(
    () => document.querySelector('.output[data-kind=hls] video').currentTime > 1, null,
    { timeout: 30000 });
  assert.deepEqual(plain, [], 'nothing was fetched without TLS');
  assert.deepEqual(errors, [], 'no script errors on the page');
  await context.close();
});
