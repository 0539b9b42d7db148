/**
 * Pure rendering for the sidebar: data in, HTML out. No JupyterLab imports, so the
 * logic is unit-tested without a browser.
 */

export interface IRunSummary {
  id: string;
  name: string;
  status: string;
  task: string;
  step: number;
  total_steps: number | null;
  progress: number | null;
  last_loss: number | null;
  loss_tail: number[];
  error: string | null;
  model?: string | null;
  started_at?: number | null;
  updated_at?: number | null;
}

export interface IGpu {
  index: number;
  name: string;
  total_bytes: number;
  free_bytes: number;
}

export interface IHardware {
  tier: string;
  gpus: IGpu[];
  ram_total_bytes: number;
  ram_available_bytes: number;
  cpu_count: number;
}

const ACTIVE = new Set(['queued', 'running']);

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** An SVG polyline's points for `values`, scaled into a `width` x `height` box. */
export function sparklinePoints(values: number[], width: number, height: number): string {
  const finite = values.filter(v => Number.isFinite(v));
  if (finite.length < 2) {
    return '';
  }
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  const span = high - low || 1;
  const step = width / (finite.length - 1);
  return finite
    .map((v, i) => {
      const x = i * step;
      const y = height - ((v - low) / span) * height;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

export function sparkline(values: number[], width = 80, height = 18): string {
  const points = sparklinePoints(values, width, height);
  if (!points) {
    return '';
  }
  return (
    `<svg class="mf-sparkline" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" aria-label="loss"><polyline fill="none" ` +
    `stroke="var(--jp-brand-color1)" stroke-width="1.5" points="${points}"/></svg>`
  );
}

export function percent(run: IRunSummary): number {
  if (run.progress === null || !Number.isFinite(run.progress)) {
    return run.status === 'completed' ? 100 : 0;
  }
  return Math.max(0, Math.min(100, Math.round(run.progress * 100)));
}

/** A model's short name: the last part of a Hub id or a folder. */
export function shortModel(model: string | null | undefined): string {
  if (!model) {
    return '';
  }
  const parts = model.replace(/\/+$/, '').split('/');
  return parts[parts.length - 1].replace(/^modelforge:/, '');
}

/** "h:mm:ss" or "m:ss" for a duration in seconds. */
export function duration(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Model, start time and how long the run has taken (or took). */
export function runFacts(run: IRunSummary, now: number = Date.now() / 1000): string {
  const facts: string[] = [];
  const model = shortModel(run.model);
  if (model) {
    facts.push(escapeHtml(model));
  }
  if (typeof run.started_at === 'number') {
    const started = new Date(run.started_at * 1000);
    const hhmm = started.toTimeString().slice(0, 5);
    const end = ACTIVE.has(run.status) ? now : (run.updated_at ?? now);
    facts.push(`started ${hhmm}`, duration(end - run.started_at));
  }
  return facts.length
    ? `<div class="mf-run-facts" title="${escapeHtml(run.model ?? '')}">${facts.join(' · ')}</div>`
    : '';
}

export function runRow(run: IRunSummary, stopping = false): string {
  const id = escapeHtml(run.id);
  const loss = typeof run.last_loss === 'number' ? `loss ${run.last_loss.toFixed(4)}` : '';
  const total = run.total_steps ?? '?';
  // A stop asked for stays shown as such until the run has ended, across refreshes.
  const stop = !ACTIVE.has(run.status)
    ? ''
    : stopping
      ? `<button class="jp-Button mf-stop" data-action="stop" data-run="${id}" disabled>Stopping…</button>`
      : `<button class="jp-Button mf-stop" data-action="stop" data-run="${id}">Stop</button>`;
  const error = run.error
    ? `<div class="mf-error" title="${escapeHtml(run.error)}">${escapeHtml(run.error)}</div>`
    : '';
  return (
    `<li class="mf-run" data-run="${id}" data-status="${escapeHtml(run.status)}">` +
    `<div class="mf-run-head"><span class="mf-name">${escapeHtml(run.name)}</span>` +
    `<span class="mf-status mf-status-${escapeHtml(run.status)}">${escapeHtml(run.status)}</span></div>` +
    runFacts(run) +
    `<div class="mf-progress"><div class="mf-progress-bar" style="width: ${percent(run)}%"></div></div>` +
    `<div class="mf-run-meta"><span>step ${run.step}/${total}</span><span>${loss}</span>` +
    `${sparkline(run.loss_tail)}</div>${error}` +
    `<div class="mf-actions">${stop}` +
    `<button class="jp-Button" data-action="show" data-run="${id}" title="Show the dashboard in the notebook">Show</button>` +
    `<button class="jp-Button" data-action="chat" data-run="${id}" title="Chat with the model in the notebook">Chat</button>` +
    '</div></li>'
  );
}

export function memoryBar(label: string, used: number, total: number): string {
  const share = total > 0 ? Math.max(0, Math.min(1, used / total)) : 0;
  const level = share < 0.7 ? 'ok' : share < 0.9 ? 'warn' : 'full';
  return (
    `<div class="mf-memory"><div class="mf-memory-label">${escapeHtml(label)}</div>` +
    `<div class="mf-memory-track"><div class="mf-memory-fill mf-${level}" ` +
    `style="width: ${Math.round(share * 100)}%"></div></div></div>`
  );
}

const GB = 1e9;

export function hardwareSection(hardware: IHardware | null): string {
  if (!hardware) {
    return '<div class="mf-hardware">Hardware: unknown</div>';
  }
  const gpus = hardware.gpus.map(gpu => {
    const used = gpu.total_bytes - gpu.free_bytes;
    return memoryBar(
      `GPU ${gpu.index}: ${gpu.name} (${(used / GB).toFixed(1)} / ${(gpu.total_bytes / GB).toFixed(1)} GB)`,
      used,
      gpu.total_bytes
    );
  });
  const ramUsed = hardware.ram_total_bytes - hardware.ram_available_bytes;
  const ram = memoryBar(
    `RAM (${(ramUsed / GB).toFixed(1)} / ${(hardware.ram_total_bytes / GB).toFixed(1)} GB)`,
    ramUsed,
    hardware.ram_total_bytes
  );
  const none = hardware.gpus.length ? '' : '<div class="mf-note">No CUDA GPU</div>';
  return (
    `<div class="mf-hardware"><div class="mf-section-title">Hardware · tier ` +
    `${escapeHtml(hardware.tier)}</div>${none}${gpus.join('')}${ram}</div>`
  );
}

export function runsSection(runs: IRunSummary[], stopping: Set<string> = new Set()): string {
  if (!runs.length) {
    return '<div class="mf-empty">No runs yet. Start one with %%modelforge finetune.</div>';
  }
  return `<ul class="mf-runs">${runs.map(run => runRow(run, stopping.has(run.id))).join('')}</ul>`;
}

/** The cell a notebook runs for a sidebar action. */
export function magicFor(action: string, runId: string): string | null {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(runId)) {
    return null;
  }
  if (action === 'show') {
    return `%modelforge show ${runId}`;
  }
  if (action === 'chat') {
    return `%modelforge chat ${runId}`;
  }
  return null;
}
