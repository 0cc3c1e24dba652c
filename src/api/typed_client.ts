// A small TypeScript client of reel's API over the types openapi-typescript generates from
// docs/openapi.json (`reel-api.d.ts`, made by the contract test beside this file's copy): the
// test type-checks it with tsc --strict and runs it against a real `reel serve`. It is also the
// example the README points at for users who want typed calls.
import type { components, paths } from './reel-api';

type Job = components['schemas']['Job'];
type JobSpec = components['schemas']['JobSpec'];
type JobList = paths['/v1/jobs']['get']['responses']['200']['content']['application/json'];
type Catalog = paths['/v1/presets']['get']['responses']['200']['content']['application/json'];
type ApiError = components['schemas']['Error'];

export class ReelError extends Error {
  constructor(readonly status: number, readonly body: ApiError) {
    super(`${status} ${body.error.code}: ${body.error.message}` +
      (body.error.field ? ` (${body.error.field})` : ''));
  }
}

export class Reel {
  constructor(private readonly base: string, private readonly key: string) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.base + path, {
      method,
      headers: { Authorization: `Bearer ${this.key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 204) return undefined as T;
    const json: unknown = await res.json();
    if (!res.ok) throw new ReelError(res.status, json as ApiError);
    return json as T;
  }

  submit(spec: JobSpec): Promise<Job> { return this.call('POST', '/v1/jobs', spec); }
  get(id: string): Promise<Job> { return this.call('GET', `/v1/jobs/${encodeURIComponent(id)}`); }
  list(query: { state?: Job['state']; limit?: number } = {}): Promise<JobList> {
    const q = new URLSearchParams();
    if (query.state) q.set('state', query.state);
    if (query.limit) q.set('limit', String(query.limit));
    return this.call('GET', `/v1/jobs?${q}`);
  }
  cancel(id: string): Promise<Job> { return this.call('POST', `/v1/jobs/${id}/cancel`); }
  retry(id: string): Promise<Job> { return this.call('POST', `/v1/jobs/${id}/retry`); }
  remove(id: string): Promise<void> { return this.call('DELETE', `/v1/jobs/${id}`); }
  presets(): Promise<Catalog> { return this.call('GET', '/v1/presets'); }

  // Polls until the job has finished.
  async wait(id: string): Promise<Job> {
    for (;;) {
      const job = await this.get(id);
      if (job.state !== 'queued' && job.state !== 'running') return job;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

// Run by the contract test: REEL_URL, REEL_KEY and REEL_MEDIA (a folder the server may read and
// write, holding clip.mp4) in the environment; prints what it saw as one JSON line.
async function main(): Promise<void> {
  const env = process.env;
  const reel = new Reel(env.REEL_URL!, env.REEL_KEY!);
  const preset = (await reel.presets()).presets.find((p) => p.container === 'mp4');
  if (!preset) throw new Error('no MP4 preset');
  const job = await reel.submit({
    source: `${env.REEL_MEDIA}/clip.mp4`,
    outputs: [{ kind: 'mp4', preset: preset.name, destination: `${env.REEL_MEDIA}/typed.mp4` }],
  });
  const done = await reel.wait(job.id);
  const listed = (await reel.list({ state: 'succeeded', limit: 200 })).jobs.map((j) => j.id);
  let refused: ReelError | undefined;
  try {
    await reel.submit({ outputs: [] });
  } catch (e) {
    if (e instanceof ReelError) refused = e;
  }
  await reel.remove(job.id);
  console.log(JSON.stringify({
    state: done.state, listed: listed.includes(job.id), refusedStatus: refused?.status,
    refusedField: refused?.body.error.field,
  }));
}

declare const process: { env: Record<string, string | undefined> };
main().catch((e) => {
  console.error(e);
  throw e;
});
