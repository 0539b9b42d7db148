import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

/**
 * The modelforge-nb front-end plugin. It registers itself so that JupyterLab
 * lists the extension; the sidebar panel is added to this plugin.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'modelforge-nb:plugin',
  description: 'Runs and GPU state of modelforge-nb in the JupyterLab sidebar.',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    void app.restored.then(() => {
      document.body.dataset.modelforgeNb = 'loaded';
    });
  }
};

export default plugin;
