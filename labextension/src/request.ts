import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_NAMESPACE } from './tokens';

/**
 * Call the modelforge REST API through Jupyter's own connection settings (token, XSRF).
 * A failure becomes a `ServerConnection.ResponseError` carrying the server's message.
 */
export async function requestAPI<T>(endpoint = '', init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const message = data?.error?.message ?? response.statusText;
    throw new ServerConnection.ResponseError(response, message);
  }
  return data as T;
}

/** What the server answers to a stop. */
export interface IStopReply {
  id: string;
  status: string;
}

/**
 * Ask the server to stop a run: the one request every Stop sends (the sidebar's, and the
 * notebook dashboard's while its cell is busy). The worker stops at its next step.
 */
export function stopRun(
  runId: string,
  send: <T>(endpoint: string, init: RequestInit) => Promise<T> = requestAPI
): Promise<IStopReply> {
  return send<IStopReply>(`runs/${encodeURIComponent(runId)}/stop`, {
    method: 'POST',
    body: '{}'
  });
}
