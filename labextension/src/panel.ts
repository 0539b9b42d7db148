import { Widget } from '@lumino/widgets';
import { Message } from '@lumino/messaging';

import { requestAPI } from './request';
import { hardwareSection, IHardware, IRunSummary, runsSection } from './render';
import { POLL_MS } from './tokens';

export type RunAction = (action: 'show' | 'chat', runId: string) => Promise<void>;

/**
 * The sidebar: GPU memory bars and the runs list. It polls while visible and stops
 * polling while hidden.
 */
export class ModelForgePanel extends Widget {
  constructor(onAction: RunAction) {
    super();
    this.onAction = onAction;
    this.addClass('mf-panel');
    this.node.innerHTML =
      '<div class="mf-title">ModelForge runs</div>' +
      '<div class="mf-hardware-slot"></div><div class="mf-runs-slot"></div>' +
      '<div class="mf-message"></div>';
    this.node.addEventListener('click', event => void this.handleClick(event));
  }

  get polling(): boolean {
    return this.timer !== null;
  }

  async refresh(): Promise<void> {
    try {
      const [runs, hardware] = await Promise.all([
        requestAPI<{ runs: IRunSummary[] }>('runs'),
        requestAPI<IHardware>('hardware')
      ]);
      for (const run of runs.runs) {
        if (run.status !== 'queued' && run.status !== 'running') {
          this.stopping.delete(run.id);
        }
      }
      this.slot('.mf-runs-slot').innerHTML = runsSection(runs.runs, this.stopping);
      this.slot('.mf-hardware-slot').innerHTML = hardwareSection(hardware);
      this.slot('.mf-message').textContent = '';
    } catch (error) {
      this.slot('.mf-message').textContent = `Cannot reach the server: ${error}`;
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), POLL_MS);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
  }

  private slot(selector: string): HTMLElement {
    return this.node.querySelector(selector) as HTMLElement;
  }

  private async handleClick(event: Event): Promise<void> {
    const button = (event.target as HTMLElement).closest('button[data-action]');
    if (!button) {
      return;
    }
    const action = button.getAttribute('data-action');
    const runId = button.getAttribute('data-run') ?? '';
    if (action === 'stop') {
      // Feedback at once: the worker stops at its next step, the next poll shows it.
      (button as HTMLButtonElement).disabled = true;
      button.textContent = 'Stopping…';
      this.stopping.add(runId);
      try {
        await requestAPI(`runs/${encodeURIComponent(runId)}/stop`, {
          method: 'POST',
          body: '{}'
        });
      } catch (error) {
        this.stopping.delete(runId);
        this.slot('.mf-message').textContent = `Stop failed: ${error}`;
      }
      await this.refresh();
    } else if (action === 'show' || action === 'chat') {
      await this.onAction(action, runId);
    }
  }

  private onAction: RunAction;
  /** Runs whose stop was asked for here and that have not ended yet. */
  private stopping = new Set<string>();
  private timer: number | null = null;
}
