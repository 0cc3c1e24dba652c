// What the Chromium tests share: a static file server on loopback (a folder, plus named files
// such as a player from node_modules), Debian's Chromium launched through playwright-core with
// the flags that keep it quiet and let muted video autoplay, and the lavfi clip the player tests
// package.
import { execFileSync } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

const TYPES = {
  '.m3u8': 'application/vnd.apple.mpegurl', '.mpd': 'application/dash+xml', '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment', '.vtt': 'text/vtt', '.js': 'text/javascript', '.html': 'text/html',
};

// Serves `dir` (nothing outside it) and `extra` ({"/hls.js": "/abs/path"}); resolves to
// {server, url}.
export async function serveStatic(dir, extra = {}) {
  const server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = extra[name] ?? path.join(dir, path.normalize(name));
    if (!(name in extra) && !file.startsWith(dir)) return res.writeHead(403).end();
    try {
      statSync(file);
    } catch {
      return res.writeHead(404).end();
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.REEL_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
}

// A testsrc2 picture with a 440 Hz tone (H.264 + AAC in MP4) at `file`: what the player tests
// turn into packages.
export function writeTestClip(file, { seconds, fps, size = '640x360' }) {
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i',
    `testsrc2=size=${size}:rate=${fps}:duration=${seconds}`, '-f', 'lavfi', '-i',
    `sine=frequency=440:sample_rate=48000:duration=${seconds}`, '-c:v', 'libx264', '-preset',
    'ultrafast', '-c:a', 'aac', '-shortest', file]);
}
