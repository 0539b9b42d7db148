/** Ids and constants shared by the plugin. */
export const PLUGIN_ID = 'modelforge-nb:sidebar';
export const STOP_PLUGIN_ID = 'modelforge-nb:dashboard-stop';
export const NOTEBOOK_PLUGIN_ID = 'modelforge-nb:notebook-helpers';
export const PANEL_ID = 'modelforge-nb-sidebar';
export const API_NAMESPACE = 'modelforge/api';
