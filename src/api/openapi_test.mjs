// The API contract: docs/openapi.json lints clean (swagger-parser validates it against the
// OpenAPI 3.1 schema and resolves every $ref), lists exactly the routes of the router's table
// (`reel routes`), and describes what a real `reel serve` answers: every reply of a scripted
// session (submit, get, list, cancel, retry, delete, outputs, events, presets, errors) has a
// documented status, and its JSON body validates against the documented schema (ajv, JSON
// Schema 2020-12 as OpenAPI 3.1 uses). A TypeScript client over types generated from the document
// (openapi-typescript) type-checks with tsc --strict and works against the server. /docs renders the document in Debian's Chromium with
// nothing fetched from elsewhere and no CSP violation. Run by CTest; see src/api/CMakeLists.txt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, mkdirSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import openapiTS, { astToString } from 'openapi-typescript';
import Ajv2020 from 'ajv/dist/2020.js';
import { launchChromium } from '../testing/browser.mjs';
import { startReelServe } from '../testing/reel_server.mjs';

const REEL = process.env.REEL_BINARY;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DOC_FILE = path.join(ROOT, 'docs/openapi.json');
const doc = JSON.parse(readFileSync(DOC_FILE, 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let dir;
let media;
let server;
let url;
let hooks;
const hooksReceived = [];
let adminKey;
let bobKey;
let resolved;  // the document with every $ref inlined
const ajv = new Ajv2020({ strict: true, allErrors: true });
const validators = new Map();
const checked = new Set();  // "METHOD template STATUS" of every reply validated

// Whether `actual` (a path as sent) fits the documented `template`; a final {file} takes the rest.
function fits(template, actual) {
  const want = template.split('/').filter(Boolean);
  const got = actual.split('?')[0].split('/').filter(Boolean);
  const rest = want.at(-1) === '{file}';
  if (rest ? got.length < want.length : got.length !== want.length) return false;
  return want.every((w, i) => w.startsWith('{') || w === got[i]);
}

function operationFor(method, route) {
  const template = Object.keys(resolved.paths).find((p) => fits(p, route));
  const op = template && resolved.paths[template][method.toLowerCase()];
  return { template, op };
}

// Checks one reply against the document: a documented status, the documented content type,
// and a JSON body that validates against the schema of that status.
function conform(method, route, status, contentType, body) {
  const { template, op } = operationFor(method, route);
  assert.ok(op, `${method} ${route} is documented`);
  const response = op.responses[String(status)];
  assert.ok(response, `${method} ${template}: status ${status} is documented`);
  checked.add(`${method} ${template} ${status}`);
  if (!response.content) return;
  const types = Object.keys(response.content);
  const type = (contentType || '').split(';')[0].trim();
  const documented = types.find((t) => t === type || t === '*/*');
  assert.ok(documented, `${method} ${template} ${status}: ${type} is one of ${types}`);
  if (type !== 'application/json') return;
  const key = `${method} ${template} ${status}`;
  if (!validators.has(key)) validators.set(key, ajv.compile(response.content[type].schema));
  const validate = validators.get(key);
  assert.ok(validate(body), `${key}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(body)}`);
}

// One request to the server, checked against the document; returns {status, headers, body}.
async function call(method, route, { key, body, raw, headers = {} } = {}) {
  const h = { ...headers };
  if (key) h.Authorization = `Bearer ${key}`;
  if (body !== undefined || raw !== undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(url + route, {
    method, headers: h, body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
  });
  const type = res.headers.get('content-type') || '';
  const text = await res.text();
  const parsed = type.startsWith('application/json') && text ? JSON.parse(text) : text;
  conform(method, route, res.status, type, parsed);
  return { status: res.status, headers: res.headers, body: parsed };
}

async function waitFor(route, key, done, what) {
  for (let i = 0; i < 600; i++) {
    const r = await call('GET', route, { key });
    if (done(r.body)) return r.body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'reel-openapi-'));
  media = path.join(dir, 'media');
  mkdirSync(media);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i',
    'testsrc2=size=320x240:rate=25:duration=2', '-f', 'lavfi', '-i',
    'sine=frequency=440:sample_rate=48000:duration=2', '-c:v', 'libx264', '-preset', 'ultrafast',
    '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', path.join(media, 'clip.mp4')]);
  // A webhook receiver on loopback, so that the job's deliveries have something in them.
  hooks = createServer((req, res) => {
    req.resume();
    req.on('end', () => { hooksReceived.push(req.url); res.writeHead(204).end(); });
  });
  await new Promise((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  const varDir = path.join(dir, 'var');
  ({ server, url } = await startReelServe(REEL, ['--data-dir', varDir, '--allow-path', media,
    '--workers', '1', '--allow-host', '127.0.0.1', '--max-streams-per-key', '1']));
  adminKey = readFileSync(path.join(varDir, 'admin.key'), 'utf8').trim();
  bobKey = execFileSync(REEL, ['keys', 'create', '--name', 'bob', '--data-dir', varDir],
    { encoding: 'utf8' }).trim();
  resolved = await SwaggerParser.dereference(structuredClone(doc));
});

after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  if (hooks) hooks.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the document is valid OpenAPI 3.1, every operation named and answering errors', async () => {
  const api = await SwaggerParser.validate(structuredClone(doc));
  assert.equal(api.openapi, '3.1.0');
  const ids = new Set();
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const m of METHODS.filter((x) => item[x])) {
      const op = item[m];
      assert.ok(op.operationId && !ids.has(op.operationId), `${m} ${p} has its own operationId`);
      ids.add(op.operationId);
      assert.ok(op.summary, `${m} ${p} has a summary`);
      // A route behind a key documents the key's refusal and the store's unavailability.
      if (!op.security) for (const s of ['401', '503']) assert.ok(op.responses[s], `${m} ${p} ${s}`);
    }
  }
  // Every schema compiles under strict JSON Schema 2020-12 (no misspelt keywords).
  const strict = new Ajv2020({ strict: true });
  for (const [name, schema] of Object.entries(resolved.components.schemas))
    assert.doesNotThrow(() => strict.compile(schema), name);
});

test('the document lists exactly the routes the router serves', async () => {
  const table = execFileSync(REEL, ['routes'], { encoding: 'utf8' }).trim().split('\n')
    .map((line) => JSON.parse(line));
  const served = new Set(table.map((r) => `${r.method} ${r.path}`));
  const documented = new Set();
  for (const [p, item] of Object.entries(doc.paths))
    for (const m of METHODS.filter((x) => item[x])) documented.add(`${m.toUpperCase()} ${p}`);
  assert.deepEqual([...served].sort(), [...documented].sort());
  // A route without a key in the table is documented without one, and the other way round.
  for (const r of table) {
    const op = doc.paths[r.path][r.method.toLowerCase()];
    assert.equal(!(op.security && op.security.length === 1 && Object.keys(op.security[0]).length === 0),
      r.key, `${r.method} ${r.path}: key ${r.key}`);
  }
  // And the server answers each of them with something other than "no such route".
  for (const r of table) {
    const route = r.path.replace('{id}', 'no-such-job').replace('{index}', '0').replace('{file}', 'a/b');
    const res = await fetch(url + route, {
      method: r.method, headers: r.key ? { Authorization: `Bearer ${adminKey}` } : {},
      body: r.method === 'POST' ? '{}' : undefined,
    });
    const text = await res.text();
    assert.ok(res.status !== 405 && !text.includes('no route'), `${r.method} ${route}: ${res.status} ${text}`);
  }
  // Other paths and methods are refused as the document's error shape says.
  for (const [method, route] of [['GET', '/v1/nothing'], ['PUT', '/v1/jobs'], ['POST', '/v1/queue'],
    ['GET', '/v1/jobs/x/nothing']]) {
    const res = await fetch(url + route, { method, headers: { Authorization: `Bearer ${adminKey}` } });
    assert.ok([404, 405].includes(res.status), `${method} ${route}: ${res.status}`);
    const validate = ajv.compile(resolved.components.schemas.Error);
    assert.ok(validate(await res.json()), `${method} ${route}: the error shape`);
  }
});

test('the server serves the document at /v1/openapi.json, without a key', async () => {
  const r = await call('GET', '/v1/openapi.json');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, doc);
});

test('replies of a scripted session validate against their schemas', async () => {
  // Without a key, the service routes.
  assert.equal((await call('GET', '/healthz')).status, 200);
  assert.equal((await call('GET', '/readyz')).status, 200);
  assert.match((await call('GET', '/metrics')).body, /reel_queue_depth/);
  assert.equal((await call('GET', '/', { headers: { Accept: 'application/json' } })).body.api, '/v1');
  assert.match((await call('GET', '/')).body, /<html/i);
  assert.equal((await call('GET', '/v1/jobs')).status, 401);
  assert.equal((await call('GET', '/v1/jobs', { key: 'not-a-key' })).status, 401);

  const presets = (await call('GET', '/v1/presets', { key: bobKey })).body;
  const mp4 = presets.presets.find((p) => p.container === 'mp4' && p.video_codec === 'h264');
  assert.ok(mp4, 'an H.264 MP4 preset');
  assert.equal((await call('GET', '/v1/queue', { key: bobKey })).status, 200);
  assert.equal((await call('GET', '/v1/workers', { key: adminKey })).body.workers.length, 1);

  // Refusals: a bad body, a bad field, a bad query.
  let r = await call('POST', '/v1/jobs', { key: bobKey, raw: '{"source": ' });
  assert.equal(r.status, 400);
  r = await call('POST', '/v1/jobs', { key: bobKey, body: { source: path.join(media, 'clip.mp4'),
    outputs: [{ kind: 'mp4', preset: 'no-such-preset', destination: path.join(media, 'x.mp4') }] } });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.field, 'outputs[0].preset');
  r = await call('GET', '/v1/jobs?limit=0', { key: bobKey });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.field, 'limit');

  // A job that runs, with a webhook, submitted twice with one Idempotency-Key.
  const spec = {
    source: path.join(media, 'clip.mp4'),
    outputs: [{ kind: 'mp4', preset: mp4.name, destination: path.join(media, 'out.mp4') }],
    webhook: { url: `http://127.0.0.1:${hooks.address().port}/hook` },
    metadata: { title: 'contract' },
  };
  const idem = { 'Idempotency-Key': 'contract-1' };
  r = await call('POST', '/v1/jobs', { key: bobKey, body: spec, headers: idem });
  assert.equal(r.status, 202);
  assert.equal(r.headers.get('location'), `/v1/jobs/${r.body.id}`);
  const id = r.body.id;
  assert.equal((await call('POST', '/v1/jobs', { key: bobKey, body: spec, headers: idem })).status, 200);
  r = await call('POST', '/v1/jobs', { key: bobKey, body: { ...spec, priority: 5 }, headers: idem });
  assert.equal(r.status, 409);
  assert.equal((await call('GET', `/v1/jobs/${id}`, { key: adminKey })).body.id, id);
  assert.equal((await call('GET', `/v1/jobs/${id}`, { key: adminKey + 'x' })).status, 401);
  const job = await waitFor(`/v1/jobs/${id}`, bobKey,
    (j) => !['queued', 'running'].includes(j.state), 'the job to finish');
  assert.equal(job.state, 'succeeded', job.error);
  assert.ok(job.attempt_log.length >= 1);
  const attemptLog = (await call('GET', `/v1/jobs/${id}/log`, { key: bobKey })).body;
  assert.equal(attemptLog.attempt, job.attempt_log.length);
  assert.equal(attemptLog.lines.at(-1).msg, 'attempt ended');
  assert.equal((await call('GET', `/v1/jobs/${id}/log?attempt=one`, { key: bobKey })).body.error.field,
    'attempt');
  await waitFor(`/v1/jobs/${id}/webhooks`, bobKey,
    (b) => b.deliveries.some((d) => d.state === 'delivered'), 'the webhook');
  const list = (await call('GET', '/v1/jobs?limit=1', { key: bobKey })).body;
  assert.equal(list.jobs.length, 1);
  assert.equal((await call('GET', `/v1/jobs?state=succeeded&cursor=${list.next_cursor ?? ''}`,
    { key: bobKey })).status, list.next_cursor ? 200 : 400);

  // Its output, whole and in part, and a range past its end.
  const file = `/v1/jobs/${id}/outputs/0/out.mp4`;
  r = await call('GET', file, { key: bobKey });
  assert.equal(r.status, 200);
  r = await call('GET', file, { key: bobKey, headers: { Range: 'bytes=0-99' } });
  assert.equal(r.status, 206);
  assert.match(r.headers.get('content-range'), /^bytes 0-99\/\d+$/);
  assert.equal((await call('GET', file, { key: bobKey, headers: { Range: 'bytes=999999999-' } })).status, 416);
  assert.equal((await call('GET', `/v1/jobs/${id}/outputs/0/other.mp4`, { key: bobKey })).status, 404);

  // Finished: neither canceled nor retried; another key sees nothing.
  assert.equal((await call('POST', `/v1/jobs/${id}/cancel`, { key: bobKey })).status, 409);
  assert.equal((await call('POST', `/v1/jobs/${id}/retry`, { key: bobKey })).status, 409);
  const carol = execFileSync(REEL, ['keys', 'create', '--name', 'carol', '--data-dir',
    path.join(dir, 'var')], { encoding: 'utf8' }).trim();
  assert.equal((await call('GET', `/v1/jobs/${id}`, { key: carol })).status, 404);
  assert.equal((await call('GET', `/v1/jobs/${id}/log`, { key: carol })).status, 404);
  assert.equal((await call('DELETE', `/v1/jobs/${id}`, { key: carol })).status, 404);

  // A job no worker takes (its tag is nobody's): it stays queued while it is acted on.
  r = await call('POST', '/v1/jobs', { key: bobKey, body: { ...spec, webhook: undefined, tags: ['nowhere'] } });
  assert.equal(r.status, 202);
  const queued = r.body.id;
  assert.equal((await call('DELETE', `/v1/jobs/${queued}`, { key: bobKey })).status, 409);
  // One event stream per key here (--max-streams-per-key 1): the second is refused with 429.
  const stream = new AbortController();
  const first = await fetch(`${url}/v1/jobs/${queued}/events`,
    { headers: { Authorization: `Bearer ${bobKey}` }, signal: stream.signal });
  conform('GET', `/v1/jobs/${queued}/events`, first.status, first.headers.get('content-type'));
  assert.equal(first.status, 200);
  const reader = first.body.getReader();
  const chunk = new TextDecoder().decode((await reader.read()).value);
  assert.match(chunk, /event: state/);
  const stateData = JSON.parse(chunk.match(/data: (.*)/)[1]);
  assert.ok(ajv.compile(resolved.components.schemas.Job)(stateData), 'the state event carries the job');
  assert.equal((await call('GET', `/v1/jobs/${queued}/events`, { key: bobKey })).status, 429);
  stream.abort();
  r = await call('POST', `/v1/jobs/${queued}/cancel`, { key: bobKey });
  assert.equal(r.status, 202);
  assert.equal(r.body.state, 'canceled');
  r = await call('POST', `/v1/jobs/${queued}/retry`, { key: bobKey });
  assert.equal(r.status, 202);
  assert.equal(r.body.state, 'queued');
  assert.equal((await call('POST', `/v1/jobs/${queued}/cancel`, { key: bobKey })).status, 202);
  assert.equal((await call('DELETE', `/v1/jobs/${queued}`, { key: bobKey })).status, 204);
  assert.equal((await call('GET', `/v1/jobs/${queued}`, { key: bobKey })).status, 404);
  assert.equal((await call('GET', `/v1/jobs/${queued}/webhooks`, { key: bobKey })).status, 404);

  // A body over the limit (16 MiB) is refused before it is read.
  const big = await new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/v1/jobs`, { method: 'POST', headers: {
      Authorization: `Bearer ${bobKey}`, 'Content-Type': 'application/json',
      'Content-Length': String(17 << 20) } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], text }));
    });
    req.on('error', reject);
    req.write(Buffer.alloc(17 << 20, 0x20));
  });
  conform('POST', '/v1/jobs', big.status, big.type, JSON.parse(big.text));
  assert.equal(big.status, 413);

  // The statuses the session met: each is documented (checked in `call`), and these are all of
  // the kinds the contract names, seen for real.
  for (const s of ['200', '202', '204', '206', '400', '401', '404', '409', '413', '416', '429'])
    assert.ok([...checked].some((c) => c.endsWith(` ${s}`)), `a ${s} was checked`);
});

test('/docs renders the document in Chromium, fetching nothing from elsewhere', async () => {
  const res = await fetch(`${url}/docs`);
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /connect-src 'self';/);
  assert.doesNotMatch(csp, /https?:|\*|unsafe/);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const reached = [];
    const violations = [];
    const errors = [];
    // Redoc 3 always shows its vendor's logo from a CDN: the CSP refuses it (the only refusal
    // expected), and nothing else is even tried.
    const logo = /^Loading the image 'https:\/\/cdn\.redoc\.ly\/redoc\/logo-mini[a-z-]*\.svg'/;
    page.on('response', (r) => { if (!r.url().startsWith(url)) reached.push(r.url()); });
    page.on('requestfailed', (r) => {
      if (!r.url().startsWith(url) && r.failure()?.errorText !== 'csp') reached.push(r.url());
    });
    page.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text()) && !logo.test(m.text())) violations.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/docs`);
    // Every operation is listed under its tag, by its summary.
    for (const tag of doc.tags) {
      await page.getByText(tag.name, { exact: true }).first().click({ timeout: 30000 });
    }
    const text = await page.evaluate(() => document.body.innerText);
    for (const item of Object.values(doc.paths))
      for (const m of METHODS.filter((x) => item[x])) assert.ok(text.includes(item[m].summary), item[m].summary);
    // And an operation's page shows its parameters and body.
    // A DOM click: Redoc re-renders its menu while groups open, and a pointer click can land on
    // the group row that is redrawn over the item.
    await page.evaluate(() => document.querySelector('[data-text="Submit a job"]').click());
    await page.waitForFunction(() => document.body.innerText.includes('Idempotency-Key'), null,
      { timeout: 30000 });
    assert.deepEqual(reached, [], 'no request leaves the server');
    assert.deepEqual(violations, [], 'no other CSP violation');
    assert.deepEqual(errors, [], 'no script errors');
  } finally {
    await browser.close();
  }
});

test('a TypeScript client over types generated from the document works against the server', async () => {
  const work = path.join(dir, 'typed');
  mkdirSync(work);
  writeFileSync(path.join(work, 'reel-api.d.ts'),
    astToString(await openapiTS(new URL(`file://${DOC_FILE}`))));
  copyFileSync(path.join(ROOT, 'src/api/typed_client.ts'), path.join(work, 'typed_client.ts'));
  writeFileSync(path.join(work, 'package.json'), '{"type": "module"}');
  // Type errors fail here (tsc exits non-zero and execFileSync throws with its output).
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--strict',
    '--noUnusedLocals', '--target', 'es2022', '--module', 'es2022', '--moduleResolution', 'bundler',
    '--lib', 'es2022,dom', '--outDir', work, path.join(work, 'typed_client.ts')],
  { cwd: work, encoding: 'utf8' });
  const out = execFileSync(process.execPath, [path.join(work, 'typed_client.js')], {
    encoding: 'utf8', env: { ...process.env, REEL_URL: url, REEL_KEY: bobKey, REEL_MEDIA: media },
  });
  const seen = JSON.parse(out.trim().split('\n').at(-1));
  assert.equal(seen.state, 'succeeded');
  assert.equal(seen.listed, true);
  assert.equal(seen.refusedStatus, 400);
  assert.equal(typeof seen.refusedField, 'string');
});
