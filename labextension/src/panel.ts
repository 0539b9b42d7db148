import { Widget } from '@lumino/widgets';
import { Message } from '@lumino/messaging';
import { Poll } from '@lumino/polling';

import { requestAPI, stopRun } from './request';
import { hardwareSection, IHardware, IRunSummary, runsSection } from './render';
import { refreshFrequency, refreshPoll } from './refresh';

export type RunAction = (action: 'show' | 'chat', runId: string) => Promise<void>;

/**
 * The sidebar: GPU memory bars and the runs list. It refreshes while shown (every
 * ``refreshInterval`` seconds of its settings), one refresh at a time, and stands by while
 * it or the browser tab is hidden.
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
    this.poll = refreshPoll(
      () => this.load(),
      () => !this.isVisible || document.hidden
    );
  }

  /** The refresh interval in seconds (from the settings; applies from now on). */
  set refreshInterval(seconds: unknown) {
    const frequency = refreshFrequency(seconds);
    if (frequency.interval !== this.poll.frequency.interval) {
      this.poll.frequency = frequency;
      void this.poll.refresh(); // the next refresh at the new pace, not the old one's
    }
  }

  /** Refresh now (after the running refresh, if one is). */
  refresh(): Promise<void> {
    return this.poll.refresh();
  }

  dispose(): void {
    this.poll.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.poll.refresh();
  }

  /** One refresh; a failure is shown and rejects, so the poll backs off. */
  private async load(): Promise<void> {
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
      throw error;
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
      // Feedback at once: the worker stops at its next step, the next refresh shows it.
      (button as HTMLButtonElement).disabled = true;
      button.textContent = 'Stopping…';
      this.stopping.add(runId);
      try {
        await stopRun(runId);
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
  private poll: Poll;
  /** Runs whose stop was asked for here and that have not ended yet. */
  private stopping = new Set<string>();
}
