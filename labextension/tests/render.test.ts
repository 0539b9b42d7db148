import { describe, expect, it } from 'vitest';

import {
  escapeHtml,
  hardwareSection,
  IRunSummary,
  magicFor,
  memoryBar,
  percent,
  duration,
  runFacts,
  runRow,
  runsSection,
  shortModel,
  sparklinePoints
} from '../src/render';

const run = (over: Partial<IRunSummary> = {}): IRunSummary => ({
  id: 'demo-20261124-1200-ab12',
  name: 'demo',
  status: 'running',
  task: 'text-generation',
  step: 5,
  total_steps: 20,
  progress: 0.25,
  last_loss: 1.23456,
  loss_tail: [3, 2, 1.5, 1.2],
  error: null,
  ...over
});

describe('runs', () => {
  it('shows name, status, progress, loss and a sparkline', () => {
    const html = runRow(run());
    expect(html).toContain('demo');
    expect(html).toContain('mf-status-running');
    expect(html).toContain('width: 25%');
    expect(html).toContain('loss 1.2346');
    expect(html).toContain('<polyline');
    expect(html).toContain('data-action="stop"');
  });

  it('offers Stop only for live runs', () => {
    expect(runRow(run({ status: 'completed', progress: 1 }))).not.toContain('data-action="stop"');
    expect(runRow(run({ status: 'queued' }))).toContain('data-action="stop"');
  });

  it('escapes names and errors', () => {
    const html = runRow(run({ name: '<img src=x onerror=alert(1)>', error: '"bad" & <worse>' }));
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img');
    expect(html).toContain('&quot;bad&quot; &amp; &lt;worse&gt;');
  });

  it('clamps progress and handles unknown totals', () => {
    expect(percent(run({ progress: 1.7 }))).toBe(100);
    expect(percent(run({ progress: null, status: 'completed' }))).toBe(100);
    expect(percent(run({ progress: null }))).toBe(0);
  });

  it('says so when there are no runs', () => {
    expect(runsSection([])).toContain('No runs yet');
    expect(runsSection([run(), run({ id: 'b' })]).match(/<li/g)?.length).toBe(2);
  });
});

describe('sparkline and bars', () => {
  it('scales points into the box', () => {
    expect(sparklinePoints([1], 80, 20)).toBe('');
    expect(sparklinePoints([4, 2, 0], 80, 20)).toBe('0.0,0.0 40.0,10.0 80.0,20.0');
    expect(sparklinePoints([1, 1], 10, 10)).toBe('0.0,10.0 10.0,10.0');
  });

  it('colours memory by how full it is', () => {
    expect(memoryBar('GPU', 1, 10)).toContain('mf-ok');
    expect(memoryBar('GPU', 8, 10)).toContain('mf-warn');
    expect(memoryBar('GPU', 10, 10)).toContain('mf-full');
    expect(memoryBar('GPU', 5, 0)).toContain('width: 0%');
  });

  it('shows GPUs, RAM and the tier', () => {
    const html = hardwareSection({
      tier: 'mid',
      cpu_count: 8,
      ram_total_bytes: 32e9,
      ram_available_bytes: 16e9,
      gpus: [{ index: 0, name: 'T4', total_bytes: 16e9, free_bytes: 4e9 }]
    });
    expect(html).toContain('tier mid');
    expect(html).toContain('GPU 0: T4 (12.0 / 16.0 GB)');
    expect(html).toContain('RAM (16.0 / 32.0 GB)');
    expect(hardwareSection(null)).toContain('unknown');
  });
});

describe('notebook actions', () => {
  it('builds the magic for show and chat, and refuses unsafe ids', () => {
    expect(magicFor('show', 'run-1')).toBe('%modelforge show run-1');
    expect(magicFor('chat', 'run-1')).toBe('%modelforge chat run-1');
    expect(magicFor('stop', 'run-1')).toBeNull();
    expect(magicFor('show', 'x; rm -rf /')).toBeNull();
    expect(escapeHtml("'")).toBe('&#39;');
  });
});

describe('run card facts', () => {
  it('shows the model, the start time and how long the run took', () => {
    const started = new Date(2026, 11, 2, 9, 5, 0).getTime() / 1000;
    const done = run({
      status: 'completed',
      model: '/home/me/models/SmolLM2-135M-Instruct/',
      started_at: started,
      updated_at: started + 3725
    });
    const facts = runFacts(done);
    expect(facts).toContain('SmolLM2-135M-Instruct · started 09:05 · 1:02:05');
    expect(runFacts(run({ status: 'running', started_at: started }), started + 65)).toContain(
      '1:05'
    );
    expect(runFacts(run())).toBe('');
    expect(shortModel('modelforge:smollm2-135m-instruct')).toBe('smollm2-135m-instruct');
    expect(duration(59)).toBe('0:59');
  });

  it('keeps its buttons short, on one row, and survives a loss that is not a number', () => {
    const html = runRow(run({ last_loss: 'nan' as unknown as number }));
    expect(html).toContain('>Show</button>');
    expect(html).toContain('>Chat</button>');
    expect(html).not.toContain('loss nan');
  });
});

describe('stopping', () => {
  it('shows a stop asked for until the run has ended', () => {
    const html = runsSection([run()], new Set(['demo-20261124-1200-ab12']));
    expect(html).toContain('disabled>Stopping…</button>');
    expect(runsSection([run()])).toContain('>Stop</button>');
    expect(runsSection([run({ status: 'stopped' })], new Set(['demo-20261124-1200-ab12']))).not.toContain(
      'Stopping'
    );
  });
});
