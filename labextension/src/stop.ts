/**
 * The dashboard's Stop while its cell follows the run: the kernel is busy, so the button's
 * own click waits for the cell to end. This relay sees the click in the page and asks the
 * Jupyter server (REST) to stop the run at once; the cell's loop shows "Stopping..." as
 * soon as the request is there, and the click the kernel gets later does nothing more.
 */

/** Class of the dashboard's Stop button, and prefix of the class naming the dashboard's run. */
export const STOP_CLASS = 'modelforge-stop';
export const RUN_CLASS_PREFIX = 'modelforge-run-';
const DASHBOARD_CLASS = 'modelforge-dashboard';
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/** The run a dashboard shows, from its classes; null when none names a valid run id. */
export function runIdFromClasses(classes: Iterable<string>): string | null {
  for (const name of classes) {
    if (name.startsWith(RUN_CLASS_PREFIX)) {
      const id = name.slice(RUN_CLASS_PREFIX.length);
      return RUN_ID.test(id) ? id : null;
    }
  }
  return null;
}

/** The run whose dashboard's Stop button was clicked, or null for any other click. */
export function stopTarget(target: EventTarget | null): string | null {
  const element = target as Element | null;
  if (typeof element?.closest !== 'function') {
    return null; // a click on the document or a text node's parent-less target
  }
  const button = element.closest(`.${STOP_CLASS}`);
  const dashboard = button?.closest(`.${DASHBOARD_CLASS}`);
  if (!button || !dashboard || (button as HTMLButtonElement).disabled) {
    return null;
  }
  return runIdFromClasses(Array.from(dashboard.classList));
}

/** Listen for Stop clicks in ``root``; the widget's own click still goes to the kernel. */
export function installStopRelay(
  root: Document,
  stop: (runId: string) => Promise<unknown>
): () => void {
  const listener = (event: Event): void => {
    const runId = stopTarget(event.target);
    if (runId) {
      stop(runId).catch(error => console.warn(`modelforge: could not stop ${runId}`, error));
    }
  };
  root.addEventListener('click', listener, true);
  return () => root.removeEventListener('click', listener, true);
}
