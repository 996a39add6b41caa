// tauri-plugin-openrouter's guest module: "Connect with OpenRouter" from
// the webview. One ES module, no build step; it uses Tauri's global API
// (`app.withGlobalTauri: true`). Every rejection becomes an OpenRouterError
// with a sentence a user can read and what to do next.

/** The event that carries every change of the status. */
export const STATUS_EVENT = 'openrouter://status';

/**
 * @typedef {'disconnected'|'awaitingCallback'|'exchanging'|'connected'|'failed'} State
 * @typedef {{code: string, message: string, nextStep: string}} ErrorView
 * @typedef {{masked: string, label: string|null, limit: number|null, userId: string|null,
 *   connectedAtMs: number, keySha256: string}} KeyMeta
 * @typedef {{state: State, authUrl?: string, callbackUrl?: string, expiresAtMs?: number,
 *   error?: ErrorView, key: KeyMeta|null, health: object|null,
 *   protection: {level: string, label: string, detail: string}, baseUrl: string,
 *   customBaseUrl: boolean, browserError: string|null, storeNotice: string|null,
 *   defaultLabel: string, callbackMode: 'loopback'|'deepLink'|'paste',
 *   pasteSuggested: string|null, forgotten: KeyMeta|null, appVersion: string}} Status
 * @typedef {{keyLabel?: string|null, limitUsd?: number|null,
 *   mode?: 'loopback'|'deepLink'|'paste'}} ConnectOptions
 */

/** An error to show the user: a sentence, and what to do next. */
export class OpenRouterError extends Error {
  constructor(message, nextStep = '', code = 'unknown') {
    super(message);
    this.name = 'OpenRouterError';
    this.code = code;
    this.nextStep = nextStep;
  }
}

const GENERIC_MESSAGE = 'Something went wrong in the app.';
const GENERIC_NEXT_STEP = 'Try again. If it keeps happening, restart the app.';

function text(value) {
  return typeof value === 'string' ? value.trim() : '';
}

/** Turns whatever a command rejected with into an OpenRouterError, never raw JSON. */
export function toError(reason) {
  if (reason instanceof OpenRouterError) return reason;
  let value = reason;
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (trimmed.startsWith('{')) {
      try {
        value = JSON.parse(trimmed);
      } catch {
        return new OpenRouterError(GENERIC_MESSAGE, GENERIC_NEXT_STEP);
      }
    } else if (trimmed !== '') {
      return new OpenRouterError(trimmed, '');
    }
  }
  if (value && typeof value === 'object' && text(value.message) !== '') {
    return new OpenRouterError(text(value.message), text(value.nextStep), text(value.code) || 'unknown');
  }
  return new OpenRouterError(GENERIC_MESSAGE, GENERIC_NEXT_STEP);
}

function tauri() {
  const api = window.__TAURI__;
  if (!api || !api.core || !api.event) {
    throw new OpenRouterError(
      "This page can't reach the app.",
      'Open it from the app, with app.withGlobalTauri set.',
      'no-ipc',
    );
  }
  return api;
}

async function invoke(command, args) {
  try {
    return await tauri().core.invoke(`plugin:openrouter|${command}`, args);
  } catch (reason) {
    throw toError(reason);
  }
}

/**
 * Calls `handler(status)` on every status change.
 * @param {(status: Status) => void} handler
 * @returns {Promise<() => void>} stops listening
 */
export async function onStatus(handler) {
  try {
    return await tauri().event.listen(STATUS_EVENT, (event) => handler(event.payload));
  } catch (reason) {
    throw toError(reason);
  }
}

/** The status now; every change after it comes through `onStatus`. @returns {Promise<Status>} */
export const status = () => invoke('status');
// The commands below answer nothing but their errors: what they change
// arrives through `onStatus`.

/**
 * Starts connecting (or finds the attempt under way) and opens the consent page.
 * @param {ConnectOptions} [options]
 * @returns {Promise<void>}
 */
export const connect = (options = {}) => invoke('connect', { options });
/** Stops the attempt under way; a stored key stays. @returns {Promise<void>} */
export const cancel = () => invoke('cancel');
/** Hands over the code OpenRouter showed (paste mode). @returns {Promise<void>} */
export const submitCode = (code) => invoke('submit_code', { code });
/** Forgets the key here; `forgotten` then names its page for revoking. @returns {Promise<void>} */
export const disconnect = () => invoke('disconnect');
/** Asks OpenRouter about the key now (usage, limit). @returns {Promise<void>} */
export const refresh = () => invoke('refresh');
/** Leaves a failure for the state before it. @returns {Promise<void>} */
export const dismiss = () => invoke('dismiss');
/** Reads the store again, after the keychain was unlocked. @returns {Promise<void>} */
export const reload = () => invoke('reload');
/** Opens the consent page of the attempt under way again. @returns {Promise<void>} */
export const openAgain = () => invoke('open_again');
/** One small chat request with the key (needs `openrouter:allow-test-request`). */
export const testRequest = () => invoke('test_request');
/** Opens the key's page on OpenRouter, where it is revoked (needs `openrouter:allow-open-revoke-page`). */
export const openRevokePage = () => invoke('open_revoke_page');
