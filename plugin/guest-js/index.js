// tauri-plugin-openrouter's guest module: "Connect with OpenRouter" from
// the webview. One ES module, no build step; it uses Tauri's global API
// (`app.withGlobalTauri: true`). Every rejection becomes an OpenRouterError
// with a sentence a user can read and what to do next.

/** The event that carries every change of the status. */
export const STATUS_EVENT = 'openrouter://status';

/**
 * @typedef {'disconnected'|'awaitingCallback'|'exchanging'|'connected'|'failed'} State
 * @typedef {{code: string, message: string, nextStep: string, retryAfterSeconds?: number}} ErrorView
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

/**
 * An error to show the user: a sentence, and what to do next. A reply
 * that ends early also has `partialContent` (the text that came), and a
 * rate limit may have `retryAfterSeconds`.
 */
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
    const error = new OpenRouterError(text(value.message), text(value.nextStep), text(value.code) || 'unknown');
    // A rate limit may say when to try again.
    if (typeof value.retryAfterSeconds === 'number') error.retryAfterSeconds = value.retryAfterSeconds;
    return error;
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

// ---- Using the key ----
// The key stays in the app: these ask the plugin to call OpenRouter with
// it and hand the page what comes back.

/**
 * @typedef {{id: string, name: string, contextLength: number|null,
 *   pricing: {prompt: string|null, completion: string|null}}} Model
 * @typedef {{promptTokens: number|null, completionTokens: number|null,
 *   totalTokens: number|null, cost: number|null}} Usage
 * @typedef {{content: string, reasoning: string, toolCalls: object[]}} Delta
 * @typedef {{content: string, reasoning: string, usage: Usage|null,
 *   generationId: string|null, finishReason: string|null, model: string|null}} ChatResult
 * @typedef {{onDelta?: (text: string, delta: Delta) => void,
 *   onKeepAlive?: () => void, signal?: AbortSignal}} ChatOptions
 */

/**
 * The models OpenRouter offers (needs `openrouter:allow-models`, in the
 * default set). Prices are USD per token, as OpenRouter writes them.
 * @returns {Promise<Model[]>}
 */
export const models = () => invoke('models');

/**
 * Streams a chat reply with the connected key (needs
 * `openrouter:allow-chat`: it spends the user's credit). `request` is
 * OpenRouter's chat request (`model`, `messages`, …); the plugin asks for
 * a stream. `onDelta` gets each piece of text as it arrives (several
 * model deltas may come in one piece). Resolves with the whole reply;
 * rejects with an OpenRouterError whose `code` says why (`no-credits`,
 * `rate-limited` with `retryAfterSeconds`, `moderated`, `key-invalid`,
 * `stream-error`, `cancelled`, `idle-timeout`, …) and whose
 * `partialContent` keeps the text that came before.
 * @param {object} request
 * @param {ChatOptions} [options]
 * @returns {Promise<ChatResult>}
 */
export function chat(request, options = {}) {
  const { onDelta, onKeepAlive, signal } = options;
  let api;
  try {
    api = tauri();
  } catch (error) {
    return Promise.reject(error);
  }
  if (signal && signal.aborted) {
    return Promise.reject(new OpenRouterError('The reply was stopped.', '', 'cancelled'));
  }
  return new Promise((resolve, reject) => {
    let content = '';
    let settled = false;
    const channel = new api.core.Channel();
    const stop = () => {
      api.core.invoke('plugin:openrouter|cancel_chat', { streamId: channel.id }).catch(() => {});
    };
    const finish = (outcome) => {
      if (settled) return;
      settled = true;
      if (signal) signal.removeEventListener('abort', stop);
      outcome();
    };
    const fail = (reason) => {
      const error = toError(reason);
      error.partialContent = content;
      finish(() => reject(error));
    };
    channel.onmessage = (message) => {
      if (!message || settled) return;
      switch (message.type) {
        case 'delta':
          content += message.content;
          if (onDelta) onDelta(message.content, message);
          break;
        case 'keepAlive':
          if (onKeepAlive) onKeepAlive();
          break;
        case 'done':
          finish(() => resolve(message.result));
          break;
        case 'failed':
          fail(message.error);
          break;
        default:
          break;
      }
    };
    if (signal) signal.addEventListener('abort', stop, { once: true });
    api.core.invoke('plugin:openrouter|chat', { request, onEvent: channel }).catch(fail);
  });
}
