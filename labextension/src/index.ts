import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { LabIcon } from '@jupyterlab/ui-components';

import { ModelForgePanel } from './panel';
import { magicFor } from './render';
import { requestAPI } from './request';
import { installChatKeys } from './chatkeys';
import { installCopyCell } from './copycell';
import { installStopRelay } from './stop';
import { NOTEBOOK_PLUGIN_ID, PANEL_ID, PLUGIN_ID, STOP_PLUGIN_ID } from './tokens';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M3 17h3v4H3zM8.5 11h3v10h-3zM14 6h3v15h-3zM19.5 2h3v19h-3z"/></svg>';

/** The few notebook members used here (the notebook package is not a dependency). */
interface INotebookLike {
  content?: {
    activeCell?: { model: { sharedModel: { setSource(text: string): void } } } | null;
    activeCellIndex: number;
    widgets: ReadonlyArray<{ node: HTMLElement }>;
  };
}

const icon = new LabIcon({ name: 'modelforge-nb:runs', svgstr: ICON_SVG });

/**
 * Registers the ModelForge sidebar panel in the shell's left area: JupyterLab's sidebar, or
 * Notebook 7's left panel (View > Left Sidebar). Everything else lives in its own module.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Runs and GPU state of modelforge-nb in the JupyterLab or Notebook 7 sidebar.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    const shell = app.shell;
    const panel = new ModelForgePanel(async (action, runId) => {
      const text = magicFor(action, runId);
      const notebook = shell.currentWidget as unknown as INotebookLike | null;
      if (!text || !notebook?.content?.activeCell) {
        return;
      }
      // Through the notebook's own commands, so undo, history and focus behave as usual.
      await app.commands.execute('notebook:insert-cell-below');
      notebook.content.activeCell?.model.sharedModel.setSource(text);
      await app.commands.execute('notebook:run-cell');
    });
    panel.id = PANEL_ID;
    panel.title.icon = icon;
    panel.title.caption = 'ModelForge runs';
    shell.add(panel, 'left', { rank: 600 });
  }
};

/**
 * The notebook dashboards' Stop, sent to the server at once (the kernel may be busy following
 * the run). Needs nothing from JupyterLab's shell, so it runs in Notebook 7 too.
 */
const stopRelay: JupyterFrontEndPlugin<void> = {
  id: STOP_PLUGIN_ID,
  description: 'Stops a run from its notebook dashboard while the cell is still following it.',
  autoStart: true,
  activate: () => {
    installStopRelay(document, runId =>
      requestAPI(`runs/${encodeURIComponent(runId)}/stop`, { method: 'POST' })
    );
  }
};

/**
 * In notebook outputs: Enter sends in the chat playground, and the config form's Copy as
 * cell inserts a ``%%modelforge finetune`` cell below the form's cell.
 */
const notebookHelpers: JupyterFrontEndPlugin<void> = {
  id: NOTEBOOK_PLUGIN_ID,
  description: "Enter to send in the chat; the config form's Copy as cell inserts a cell.",
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    installChatKeys(document);
    installCopyCell(document, (from, text) => {
      const notebook = (app.shell.currentWidget as unknown as INotebookLike | null)?.content;
      const index = notebook?.widgets.findIndex(cell => cell.node.contains(from)) ?? -1;
      if (!notebook || index < 0) {
        return false;
      }
      notebook.activeCellIndex = index;
      app.commands
        .execute('notebook:insert-cell-below')
        .then(() => notebook.activeCell?.model.sharedModel.setSource(text))
        .catch(error => console.warn('modelforge: could not insert the cell', error));
      return true;
    });
  }
};

export default [plugin, stopRelay, notebookHelpers];
