import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { ModelForgePanel } from './panel';
import { magicFor } from './render';
import { stopRun } from './request';
import { installChatKeys } from './chatkeys';
import { installCopyCell } from './copycell';
import { installStopRelay } from './stop';
import { NOTEBOOK_PLUGIN_ID, PANEL_ID, PLUGIN_ID, STOP_PLUGIN_ID } from './tokens';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M3 17h3v4H3zM8.5 11h3v10h-3zM14 6h3v15h-3zM19.5 2h3v19h-3z"/></svg>';

const icon = new LabIcon({ name: 'modelforge-nb:runs', svgstr: ICON_SVG });

/**
 * Registers the ModelForge sidebar panel in the shell's left area: JupyterLab's sidebar, or
 * Notebook 7's left panel (View > Left Sidebar). Show and Chat act on the notebook last
 * used (the notebook commands' own target); its refresh interval is a setting
 * (schema/sidebar.json), applied as it changes. Everything else lives in its own module.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Runs and GPU state of modelforge-nb in the JupyterLab or Notebook 7 sidebar.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    settingRegistry: ISettingRegistry | null
  ) => {
    const panel = new ModelForgePanel(async (action, runId) => {
      const text = magicFor(action, runId);
      const notebook = notebooks.currentWidget?.content;
      if (!text || !notebook?.activeCell) {
        return;
      }
      // Through the notebook's own commands, so undo, history and focus behave as usual.
      await app.commands.execute('notebook:insert-cell-below');
      notebook.activeCell?.model.sharedModel.setSource(text);
      await app.commands.execute('notebook:run-cell');
    });
    panel.id = PANEL_ID;
    panel.title.icon = icon;
    panel.title.caption = 'ModelForge runs';
    app.shell.add(panel, 'left', { rank: 600 });
    settingRegistry
      ?.load(PLUGIN_ID)
      .then(settings => {
        const apply = (): void => {
          panel.refreshInterval = settings.get('refreshInterval').composite;
        };
        apply();
        settings.changed.connect(apply);
      })
      .catch(error => console.warn('modelforge: could not read the sidebar settings', error));
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
    installStopRelay(document, runId => stopRun(runId));
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
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, notebooks: INotebookTracker) => {
    installChatKeys(document);
    installCopyCell(document, (from, text) => {
      // The notebook commands act on the current notebook: the one clicked in.
      const notebook = notebooks.currentWidget?.content;
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
