// What the Node tests that talk to a real server share: `reel serve` started on a free loopback
// port, resolved once it says where it listens.
import { spawn } from 'node:child_process';

// Starts `reel serve ARGS --listen 127.0.0.1:0`; resolves to {server, url} (the child process and
// "http://127.0.0.1:PORT", https:// with --tls-cert), or rejects with its output if it exits or
// is silent for 20 s.
export function startReelServe(reel, args) {
  const server = spawn(reel, ['serve', '--listen', '127.0.0.1:0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(/listening on (https?:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve({ server, url: m[1] });
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => reject(new Error(`reel serve exited (${code}): ${output}`)));
    setTimeout(() => reject(new Error(`reel serve did not start: ${output}`)), 20000);
  });
}
