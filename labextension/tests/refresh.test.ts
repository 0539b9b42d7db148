import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { oneAtATime, REFRESH_SECONDS, refreshFrequency, refreshPoll } from '../src/refresh';
import { stopRun } from '../src/request';

const here = __dirname;

/** A refresh that stays in flight until ``finish`` is called, counting overlaps. */
function slowRefresh() {
  const state = { calls: 0, running: 0, most: 0, finish: () => {} };
  const refresh = () =>
    new Promise<void>(resolve => {
      state.calls += 1;
      state.running += 1;
      state.most = Math.max(state.most, state.running);
      state.finish = () => {
        state.running -= 1;
        resolve();
      };
    });
  return { state, refresh };
}

describe('the refresh interval setting', () => {
  it('is read in seconds, clamped to the schema bounds, the default when unset', () => {
    expect(refreshFrequency(5)).toEqual({ interval: 5000, backoff: true, max: 60000 });
    expect(refreshFrequency(0.01).interval).toBe(500);
    expect(refreshFrequency(1e9).interval).toBe(3_600_000);
    expect(refreshFrequency(1e9).max).toBe(3_600_000); // Poll refuses an interval above max
    expect(refreshFrequency(undefined).interval).toBe(2000);
    expect(refreshFrequency('3').interval).toBe(2000);
    expect(refreshFrequency(Number.NaN).interval).toBe(2000);
  });

  it('has the same default and bounds as the settings schema', () => {
    const schema = JSON.parse(readFileSync(join(here, '..', 'schema', 'sidebar.json'), 'utf8'));
    const property = schema.properties.refreshInterval;
    expect({
      default: property.default,
      minimum: property.minimum,
      maximum: property.maximum
    }).toEqual(REFRESH_SECONDS);
    const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8'));
    expect(pkg.jupyterlab.schemaDir).toBe('schema');
  });
});

describe('one refresh at a time', () => {
  it('gives a call made while one runs that run, and runs again once it ended', async () => {
    const { state, refresh } = slowRefresh();
    const once = oneAtATime(refresh);
    const first = once();
    expect(once()).toBe(first);
    expect(state.calls).toBe(1);
    state.finish();
    await first;
    void once();
    expect(state.calls).toBe(2);
    state.finish();
  });
});

describe('the sidebar poll', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never overlaps refreshes, even when asked to refresh while one runs', async () => {
    const { state, refresh } = slowRefresh();
    const poll = refreshPoll(refresh, () => false, 0.5);
    await vi.advanceTimersByTimeAsync(10);
    expect(state.calls).toBe(1);
    for (let i = 0; i < 5; i++) {
      await poll.refresh();
      await vi.advanceTimersByTimeAsync(2000); // four intervals pass while it is in flight
    }
    expect(state.calls).toBe(1);
    state.finish();
    await vi.advanceTimersByTimeAsync(600);
    expect(state.calls).toBe(2);
    expect(state.most).toBe(1);
    state.finish();
    poll.dispose();
  });

  it('asks nothing while hidden, and refreshes again when shown', async () => {
    const { state, refresh } = slowRefresh();
    let hidden = true;
    const poll = refreshPoll(refresh, () => hidden, 0.5);
    await vi.advanceTimersByTimeAsync(5000);
    expect(state.calls).toBe(0);
    hidden = false;
    await vi.advanceTimersByTimeAsync(600);
    expect(state.calls).toBe(1);
    poll.dispose();
  });

  it('takes a new interval while it runs', async () => {
    let calls = 0;
    const poll = refreshPoll(async () => void (calls += 1), () => false, 10);
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toBe(1);
    poll.frequency = refreshFrequency(0.5);
    await poll.refresh();
    await vi.advanceTimersByTimeAsync(1600);
    expect(calls).toBeGreaterThanOrEqual(4);
    poll.dispose();
  });
});

describe('Stop', () => {
  it('sends one request with one body for a run', async () => {
    const sent: [string, RequestInit][] = [];
    const send = async <T>(endpoint: string, init: RequestInit): Promise<T> => {
      sent.push([endpoint, init]);
      return { id: 'a b', status: 'running' } as T;
    };
    expect(await stopRun('a b', send)).toEqual({ id: 'a b', status: 'running' });
    expect(sent).toEqual([['runs/a%20b/stop', { method: 'POST', body: '{}' }]]);
  });

  it('is built in one place: every other module calls stopRun', () => {
    const sources = readdirSync(join(here, '..', 'src')).filter(name => name.endsWith('.ts'));
    const building = sources.filter(name =>
      /runs\/[^\n]*\/stop/.test(readFileSync(join(here, '..', 'src', name), 'utf8'))
    );
    expect(building).toEqual(['request.ts']);
    for (const name of ['index.ts', 'panel.ts']) {
      expect(readFileSync(join(here, '..', 'src', name), 'utf8')).toMatch(/stopRun\(runId\)/);
    }
  });
});
