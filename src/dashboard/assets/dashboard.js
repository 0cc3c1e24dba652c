// reel's dashboard: the jobs of one API key, live. It uses the public /v1 API with the key the
// user typed (sent as a header, so nothing here works without it), follows the selected job's
// event stream, and plays HLS outputs with hls.js. Everything from the API is shown with
// textContent, never parsed as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = 'reel.key';
const FINISHED = new Set(['succeeded', 'failed', 'canceled']);
const EXAMPLE_JOB = {
  source: '/path/to/video.mp4',
  outputs: [
    { kind: 'hls', destination: '/path/to/out/hls/' },
    { kind: 'thumbnail', destination: '/path/to/out/poster.jpg', at: '10%' },
  ],
};

let apiKey = localStorage.getItem(KEY_STORAGE) || '';
let selectedId = null;
let selectedJob = null;
let generation = 0;       // bumped whenever the detail panel is cleared: late answers are dropped
let stream = null;        // AbortController of the selected job's event stream
let players = [];         // hls.js instances of the detail panel
let blobUrls = [];        // object URLs of the detail panel's images
let listTimer = null;
let loopToken = 0;        // the running refresh loop; a new sign-in or a sign-out ends older ones
let listSequence = 0;     // the newest job-list request; older answers are not drawn

// --- API -------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.field = error && error.field;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${apiKey}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    signOut('That key was not accepted: it is unknown or revoked.');
    throw new ApiError(401, { message: 'unauthorized' });
  }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data && data.error);
  return data;
}

// A file the API serves with the key, as a Blob.
async function fetchBlob(path) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${apiKey}` } });
  if (!res.ok) throw new ApiError(res.status, (await res.json().catch(() => null))?.error);
  return res.blob();
}

// The same as an object URL for an <img> of the detail panel (revoked when the panel changes).
async function imageUrl(path) {
  const mine = generation;
  const blob = await fetchBlob(path);
  if (mine !== generation) throw new Error('stale');
  const url = URL.createObjectURL(blob);
  blobUrls.push(url);
  return url;
}

function revokeImages() {
  for (const u of blobUrls) URL.revokeObjectURL(u);
  blobUrls = [];
}

// Reads one Server-Sent Events response, calling onEvent(event, data) per event. Returns when the
// server ends the stream (the job finished) or the connection drops.
async function readEvents(res, signal, onEvent) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done || signal.aborted) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon === 0) continue;  // a comment (heartbeat)
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'event') event = text;
        else if (field === 'data') data.push(text);
      }
      if (!data.length || signal.aborted) continue;
      try {
        onEvent(event, JSON.parse(data.join('\n')));
      } catch (e) {
        console.warn('event', event, e);
      }
    }
  }
}

// Follows a job's events until it finishes (EventSource cannot send an Authorization header, so
// this is fetch). A dropped connection is reopened after a pause; the first event of every
// stream is the job's current state, so nothing is missed.
async function follow(id, onEvent) {
  if (stream) stream.abort();
  const controller = new AbortController();
  stream = controller;
  let finished = false;
  const watch = (event, data) => {
    if (event === 'state' && FINISHED.has(data.state)) finished = true;
    onEvent(event, data);
  };
  while (!finished && !controller.signal.aborted) {
    try {
      const res = await fetch(`/v1/jobs/${encodeURIComponent(id)}/events`, {
        headers: { Authorization: `Bearer ${apiKey}` }, signal: controller.signal,
      });
      if (res.status === 401 || res.status === 404) return;
      if (res.ok) await readEvents(res, controller.signal, watch);
    } catch (e) {
      if (e.name === 'AbortError') return;
      console.warn('event stream', e);
    }
    if (!finished) await new Promise((r) => setTimeout(r, 2000));
  }
}

// --- Small DOM helpers ------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'className') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : '';
}

function bytes(n) {
  if (!(n > 0)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function sourceOf(spec) {
  const s = spec && (spec.source || (spec.sources && spec.sources[0]));
  if (!s) return '';
  if (typeof s === 'string') return s;
  return s.url || (s.inline ? 'inline data' : '');
}

function baseName(path) {
  return String(path).replace(/\/+$/, '').split('/').pop();
}

function stateBadge(state) {
  return el('span', { className: `state ${state}`, text: state });
}

// --- Sign in ---------------------------------------------------------------------------------

function signOut(message) {
  apiKey = '';
  localStorage.removeItem(KEY_STORAGE);
  loopToken++;
  clearTimeout(listTimer);
  closeDetail();
  $('app').hidden = true;
  $('sign-out').hidden = true;
  $('sign-in').hidden = false;
  $('key-error').textContent = message || '';
  $('queue').replaceChildren();
  $('workers').textContent = '';
}

async function signIn(key) {
  apiKey = key;
  try {
    await api('GET', '/v1/queue');
  } catch (e) {
    if (e.status !== 401) signOut(`The server did not answer: ${e.message}`);
    return;
  }
  localStorage.setItem(KEY_STORAGE, key);
  $('sign-in').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  startRefreshing();
}

// The list, counts and workers every 2 s, one request set at a time, not while the tab is hidden.
function startRefreshing() {
  const token = ++loopToken;
  clearTimeout(listTimer);
  const tick = async () => {
    if (token !== loopToken || !apiKey) return;
    if (!document.hidden) await refresh();
    if (token === loopToken && apiKey) listTimer = setTimeout(tick, 2000);
  };
  tick();
}

// --- Job list --------------------------------------------------------------------------------

async function refresh() {
  if (!apiKey) return;
  const sequence = ++listSequence;
  try {
    const state = $('state-filter').value;
    const [page, queue, workers] = await Promise.all([
      api('GET', `/v1/jobs?limit=100${state ? `&state=${state}` : ''}`),
      api('GET', '/v1/queue'),
      api('GET', '/v1/workers').catch(() => null),
    ]);
    if (sequence !== listSequence) return;  // a newer refresh (a filter change) is on its way
    renderJobs(page.jobs);
    $('queue').replaceChildren(...['queued', 'running', 'succeeded', 'failed', 'canceled'].map(
      (s) => el('li', {}, el('b', { text: String(queue.counts[s] || 0) }), ` ${s}`)));
    if (workers) {
      const alive = workers.workers.filter((w) => w.alive);
      const slots = alive.reduce((n, w) => n + w.capacity, 0);
      $('workers').textContent = `${alive.length} worker${alive.length === 1 ? '' : 's'}, ${slots} slots`;
    }
  } catch (e) {
    if (e.status !== 401) console.warn('refresh', e);
  }
}

function renderJobs(jobs) {
  const rows = jobs.map((job) => {
    const fraction = job.progress && job.progress.fraction;
    const progress = job.state === 'running'
      ? el('progress', { max: '1', value: String(fraction || 0) })
      : el('span', { text: job.state === 'succeeded' ? '100%' : '' });
    const row = el('tr', { 'data-id': job.id },
      el('td', { className: 'id', text: job.id.slice(0, 12) }),
      el('td', {}, stateBadge(job.state)),
      el('td', {}, progress),
      el('td', { className: 'source', title: sourceOf(job.spec), text: baseName(sourceOf(job.spec)) }),
      el('td', { text: when(job.created_at) }));
    if (job.id === selectedId) row.classList.add('selected');
    row.addEventListener('click', () => select(job.id));
    return row;
  });
  $('jobs').tBodies[0].replaceChildren(...rows);
  $('no-jobs').hidden = jobs.length > 0;
}

// --- Job detail ------------------------------------------------------------------------------

function closeDetail() {
  generation++;
  if (stream) stream.abort();
  stream = null;
  for (const p of players) p.destroy();
  players = [];
  revokeImages();
  selectedId = null;
  selectedJob = null;
  $('detail').hidden = true;
}

async function select(id) {
  closeDetail();
  const mine = generation;
  selectedId = id;
  for (const row of $('jobs').tBodies[0].rows) row.classList.toggle('selected', row.dataset.id === id);
  let job;
  try {
    job = await api('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  } catch (e) {
    if (mine === generation) closeDetail();
    return;
  }
  if (mine !== generation) return;  // another job was selected meanwhile
  showJob(job);
  if (!FINISHED.has(job.state)) {
    follow(id, (event, data) => {
      if (mine !== generation) return;
      if (event === 'progress') showProgress(data.progress, 'running');
      if (event === 'state') showJob(data);
    });
  }
}

function showProgress(progress, state) {
  const fraction = state === 'succeeded' ? 1 : (progress && progress.fraction) || 0;
  $('detail-progress').value = fraction;
  let text = `${(fraction * 100).toFixed(1)}%`;
  if (state === 'running' && progress && progress.speed) text += ` at ${progress.speed.toFixed(2)}x`;
  // Before the encode: the per-title pre-pass, which the fraction does not count.
  if (state === 'running' && progress && progress.phase === 'analysis') {
    text += ` (analysing the source: ${((progress.phase_fraction || 0) * 100).toFixed(0)}%)`;
  }
  $('detail-progress-text').textContent = text;
}

function showJob(job) {
  const outputsChanged = !selectedJob || selectedJob.state !== job.state;
  selectedJob = job;
  $('detail').hidden = false;
  $('detail-id').textContent = job.id;
  $('detail-state').replaceWith(Object.assign(stateBadge(job.state), { id: 'detail-state' }));
  showProgress(job.progress, job.state);
  $('detail-error').textContent = job.error || '';
  $('cancel').disabled = FINISHED.has(job.state) || job.cancel_requested;
  $('retry').disabled = !(job.state === 'failed' || job.state === 'canceled');
  $('delete').disabled = !FINISHED.has(job.state);

  const facts = [
    ['Source', sourceOf(job.spec)],
    ['Outputs', (job.spec.outputs || []).map((o) => o.kind).join(', ')],
    ['Attempts', `${job.attempts} of ${job.max_attempts}`],
    ['Priority', String(job.priority)],
    ['Submitted', when(job.created_at)],
    ['Started', when(job.started_at)],
    ['Finished', when(job.finished_at)],
  ];
  if (job.started_at && job.finished_at)
    facts.push(['Took', `${(job.finished_at - job.started_at).toFixed(1)} s`]);
  if (job.result && job.result.source_duration)
    facts.push(['Media', `${job.result.source_duration.toFixed(2)} s`]);
  $('detail-facts').replaceChildren(...facts.filter(([, v]) => v).flatMap(
    ([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));

  $('attempts').replaceChildren(...(job.attempt_log || []).map((a) => el('li', {
    text: `${a.outcome} on ${a.host || a.worker_id}, ${when(a.started_at)}${a.error ? ` — ${a.error}` : ''}`,
  })));
  if (outputsChanged) showOutputs(job);
}

function fileUrl(job, index, name) {
  const path = String(name).split('/').map(encodeURIComponent).join('/');
  return `/v1/jobs/${encodeURIComponent(job.id)}/outputs/${index}/${path}`;
}

function showOutputs(job) {
  for (const p of players) p.destroy();
  players = [];
  revokeImages();
  const outputs = (job.result && job.result.outputs) || [];
  $('outputs').replaceChildren(...outputs.map((o) => outputCard(job, o)));
}

function outputCard(job, o) {
  const facts = [o.kind];
  if (o.width) facts.push(`${o.width}x${o.height}`);
  if (o.video_codec) facts.push(o.video_codec);
  if (o.audio_codec) facts.push(o.audio_codec);
  if (o.duration) facts.push(`${o.duration.toFixed(2)} s`);
  if (o.bytes) facts.push(bytes(o.bytes));
  const card = el('div', { className: 'output', 'data-kind': o.kind },
    el('h4', { text: `#${o.index} ${facts.join(' · ')}` }));
  if (o.path) card.append(el('div', { className: 'hint', text: o.path }));
  if (o.error) {
    card.append(el('p', { className: 'error', text: o.error }));
    return card;
  }
  for (const note of o.notes || []) card.append(el('p', { className: 'hint', text: note }));
  if (o.delivered) {
    card.append(el('p', { className: 'hint', text:
      `Delivered: ${o.delivered.files || 1} file(s), ${bytes(o.delivered.bytes)}` }));
    if (/^https?:\/\//i.test(o.delivered.presigned_url || ''))
      card.append(el('a', { href: o.delivered.presigned_url, rel: 'noreferrer', text: 'Download (presigned link)' }));
    // The API reads outputs back from S3 for the page; HTTP and FTP servers are read where they are.
    if (!String(o.path).startsWith('s3://')) return card;
  }
  const quality = qualityTable(o);
  if (quality) card.append(quality);
  if (o.master) card.append(player(job, o));
  else if (o.kind === 'thumbnail' || o.kind === 'sprite') card.append(images(job, o));
  else if (o.kind === 'waveform') card.append(waveform(job, o));
  if (o.kind === 'loudness') {
    card.append(el('p', { className: 'loudness', text:
      `Integrated ${o.integrated_lufs} LUFS · range ${o.range_lu} LU · true peak ${o.true_peak_dbtp} dBTP` }));
  }
  if (o.path && !o.master && ['mp4', 'webm', 'preview', 'mezzanine'].includes(o.kind)) {
    const button = el('button', { type: 'button', text: `Download ${baseName(o.path)}` });
    const status = el('span', { className: 'hint' });
    button.addEventListener('click', async () => {
      status.textContent = ' downloading…';
      try {
        const url = URL.createObjectURL(await fetchBlob(fileUrl(job, o.index, baseName(o.path))));
        el('a', { href: url, download: baseName(o.path) }).click();
        setTimeout(() => URL.revokeObjectURL(url), 10000);  // once the browser has it
        status.textContent = '';
      } catch (e) {
        status.textContent = ` ${e.message}`;
      }
    });
    card.append(button, status);
  }
  return card;
}

// "quality": true outputs: one row per rendition (an MP4 is one), PSNR and SSIM with each
// figure's mean, minimum and worst 1 % of frames.
function qualityTable(o) {
  const rows = (o.variants || []).filter((v) => v.quality).map((v) => [v.name, v.quality]);
  if (o.quality) rows.push([o.height ? `${o.height}p` : o.kind, o.quality]);
  if (!rows.length) return null;
  const figure = (f, digits) => `${f.mean.toFixed(digits)} (min ${f.min.toFixed(digits)}, ` +
    `worst 1 % ${f.worst_1pct.toFixed(digits)})`;
  const head = el('tr', {}, ...['rendition', 'Y-PSNR dB', 'PSNR dB', 'SSIM', 'frames']
    .map((t) => el('th', { text: t })));
  const body = rows.map(([name, q]) => el('tr', {},
    el('td', { text: name }),
    el('td', { text: figure(q.psnr_y, 2) }),
    el('td', { text: figure(q.psnr, 2) }),
    el('td', { text: figure(q.ssim, 4) }),
    el('td', { text: q.every > 1 ? `${q.frames} (every ${q.every})` : String(q.frames) })));
  return el('table', { className: 'quality' }, el('thead', {}, head), el('tbody', {}, ...body));
}

function player(job, o) {
  const box = el('div', { className: 'player' });
  const video = el('video', { controls: '', muted: '', playsinline: '' });
  video.muted = true;
  const renditions = el('div', { className: 'renditions' });
  box.append(video, renditions);
  const src = fileUrl(job, o.index, baseName(o.master));
  if (!window.Hls || !Hls.isSupported()) {
    renditions.textContent = 'This browser cannot play HLS through Media Source Extensions.';
    return box;
  }
  const hls = new Hls({
    // The key goes only to this server; anything else (a public bucket) gets no header.
    xhrSetup(xhr, url) {
      if (new URL(url, location.href).origin === location.origin)
        xhr.setRequestHeader('Authorization', `Bearer ${apiKey}`);
    },
  });
  players.push(hls);
  const select = el('select', { 'aria-label': 'Rendition' });
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
    select.replaceChildren(el('option', { value: '-1', text: 'auto' }),
      ...data.levels.map((l, i) => el('option', {
        value: String(i), text: `${l.height}p · ${Math.round(l.bitrate / 1000)} kb/s` })));
    renditions.replaceChildren('Rendition ', select, el('span', { className: 'playing' }));
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
    const level = hls.levels[data.level];
    const playing = renditions.querySelector('.playing');
    if (level && playing) playing.textContent = ` playing ${level.width}x${level.height}`;
  });
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (data.fatal) renditions.textContent = `Playback failed: ${data.details}`;
  });
  select.addEventListener('change', () => { hls.currentLevel = Number(select.value); });
  hls.loadSource(src);
  hls.attachMedia(video);
  return box;
}

function images(job, o) {
  const box = el('div', { className: 'images' });
  const names = o.images ? o.images.map((i) => i.path) : [baseName(o.path)];
  for (const name of names.slice(0, 12)) {
    const img = el('img', { alt: `${o.kind} ${name}` });
    imageUrl(fileUrl(job, o.index, name)).then((u) => { img.src = u; }, () => img.remove());
    box.append(img);
  }
  return box;
}

// The audiowaveform JSON (min/max pairs per pixel) drawn on a canvas.
function waveform(job, o) {
  const canvas = el('canvas', { width: '800', height: '80' });
  fetch(fileUrl(job, o.index, baseName(o.path)), { headers: { Authorization: `Bearer ${apiKey}` } })
    .then((r) => r.json())
    .then((w) => {
      const g = canvas.getContext('2d');
      const pairs = w.data.length / 2;
      const scale = w.bits === 8 ? 128 : 32768;
      g.fillStyle = '#2457c5';
      for (let x = 0; x < canvas.width; x++) {
        const i = Math.floor((x * pairs) / canvas.width) * 2;
        const lo = w.data[i] / scale;
        const hi = w.data[i + 1] / scale;
        g.fillRect(x, (1 - hi) * 40, 1, Math.max(1, (hi - lo) * 40));
      }
      canvas.dataset.drawn = String(pairs);
    }, () => {});
  return canvas;
}

// --- Actions ---------------------------------------------------------------------------------

async function act(path, method) {
  if (!selectedId) return;
  const id = selectedId;
  try {
    const job = await api(method, `/v1/jobs/${encodeURIComponent(id)}${path}`);
    if (method === 'DELETE') closeDetail();
    else select(job.id);
  } catch (e) {
    $('detail-error').textContent = e.message;
  }
  refresh();
}

async function submitJob(event) {
  event.preventDefault();
  $('submit-error').textContent = '';
  let spec;
  try {
    spec = JSON.parse($('spec').value);
  } catch (e) {
    $('submit-error').textContent = `Not valid JSON: ${e.message}`;
    return;
  }
  try {
    const job = await api('POST', '/v1/jobs', spec);
    $('new-job').hidden = true;
    await refresh();
    select(job.id);
  } catch (e) {
    $('submit-error').textContent = e.field ? `${e.field}: ${e.message}` : e.message;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    signIn($('key').value.trim());
  });
  $('sign-out').addEventListener('click', () => signOut());
  $('state-filter').addEventListener('change', refresh);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
  $('new-job-toggle').addEventListener('click', () => {
    $('new-job').hidden = !$('new-job').hidden;
    if (!$('spec').value) $('spec').value = JSON.stringify(EXAMPLE_JOB, null, 2);
  });
  $('new-job').addEventListener('submit', submitJob);
  $('cancel').addEventListener('click', () => act('/cancel', 'POST'));
  $('retry').addEventListener('click', () => act('/retry', 'POST'));
  $('delete').addEventListener('click', () => act('', 'DELETE'));
  if (apiKey) signIn(apiKey);
  else signOut();
});
