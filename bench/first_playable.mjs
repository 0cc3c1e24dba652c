// Helper of bench/first_playable.sh: waits for the master playlist of a progressive package to
// appear in DIR, then has hls.js in Chromium (playwright-core, as the player tests start it) play
// it from 0, and prints "master <unix s>" and "playing <unix s>": when the master appeared, and
// when the video element had played half a second of it.
//   node bench/first_playable.mjs DIR
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, serveStatic } from '../src/testing/browser.mjs';

const dir = path.resolve(process.argv[2]);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HLS_JS = path.join(ROOT, 'node_modules/hls.js/dist/hls.min.js');
const now = () => Date.now() / 1000;

const { server, url } = await serveStatic(dir, { '/hls.js': HLS_JS, '/index.html': path.join(ROOT, 'bench/first_playable.html') });
const browser = await launchChromium();  // started before the job is far along: not counted
try {
  while (!existsSync(path.join(dir, 'master.m3u8'))) await new Promise((r) => setTimeout(r, 100));
  console.log(`master ${now()}`);
  const page = await browser.newPage();
  await page.goto(`${url}/index.html`);
  await page.addScriptTag({ url: `${url}/hls.js` });
  const seen = await page.evaluate(async (master) => {
    const video = document.getElementById('v');
    const hls = new Hls({ startPosition: 0 });
    hls.loadSource(master);
    hls.attachMedia(video);
    video.play().catch(() => {});
    return await new Promise((resolve) => {
      hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) resolve({ error: d.details }); });
      const check = () => (video.currentTime >= 0.5 ? resolve({ time: video.currentTime }) : setTimeout(check, 50));
      check();
      setTimeout(() => resolve({ error: 'no playback in 120 s' }), 120000);
    });
  }, `${url}/master.m3u8`);
  if (seen.error) console.log(`error ${seen.error}`);
  else console.log(`playing ${now()}`);
} finally {
  await browser.close();
  server.close();
}
