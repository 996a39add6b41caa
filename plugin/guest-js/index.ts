// tauri-plugin-openrouter's bindings for the page: "Connect with
// OpenRouter", the connection's status, and streamed replies with the key,
// which never leaves the app. Every rejection is an OpenRouterError with a
// sentence a user can read and what to do next.

import { Channel, invoke, isTauri, type InvokeArgs } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

/** The event that carries every change of the status. */
export const STATUS_EVENT = 'openrouter://status';

// ---- Errors ----

/**
 * Every code an error may carry: the core's (`Error::code`), the plugin's,
 * and the two these bindings give (`no-ipc`: the page is not in the app;
 * `unknown`: a failure that said nothing readable).
 */
const ERROR_CODES = [
  // The flow and its configuration.
  'invalid-base-url',
  'insecure-base-url',
  'invalid-attribution',
  'listen-failed',
  'random-failed',
  'no-tokio-runtime',
  'busy',
  'cancelled',
  'timed-out',
  'denied',
  'stray-callback',
  'start-address-reused',
  'malformed-callback',
  'pasted-code-invalid',
  'invalid-relay-url',
  'no-flow',
  'not-connected',
  'key-issued-elsewhere',
  'invalid-option',
  // OpenRouter's answers.
  'challenge-method-rejected',
  'invalid-code',
  'code-expired',
  'method-not-allowed',
  'rate-limited',
  'no-credits',
  'moderated',
  'request-refused',
  'stream-error',
  'idle-timeout',
  'stream-interrupted',
  'service-error',
  'unexpected-status',
  'timeout',
  'dns-failed',
  'connection-refused',
  'tls-failed',
  'unreachable',
  'malformed-response',
  'response-too-large',
  'key-invalid',
  'forbidden',
  // The store and the keychain.
  'storage',
  'vault-corrupt',
  'data-key-mismatch',
  'data-key-missing',
  'keychain',
  // The plugin's own.
  'too-many-streams',
  // These bindings' own.
  'no-ipc',
  'unknown',
] as const;

/** What went wrong, stable for an app to choose its words by. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error as the plugin sends it: its code, what happened, what to do. */
export interface ErrorView {
  code: ErrorCode;
  /** What happened, a sentence for the user. */
  message: string;
  /** What the user can do, a sentence. */
  nextStep: string;
  /** For a rate limit: when to try again, if OpenRouter said. */
  retryAfterSeconds?: number;
}

/**
 * An error to show the user: a sentence, and what to do next. A reply
 * that ends early also has `partialContent` (the text that came), and a
 * rate limit may have `retryAfterSeconds`.
 */
export class OpenRouterError extends Error {
  code: ErrorCode;
  nextStep: string;
  retryAfterSeconds?: number;
  partialContent?: string;

  constructor(message: string, nextStep = '', code: ErrorCode = 'unknown') {
    super(message);
    this.name = 'OpenRouterError';
    this.code = code;
    this.nextStep = nextStep;
  }
}

/** Whether `value` is an error of these bindings, with its `code`. */
export function isOpenRouterError(value: unknown): value is OpenRouterError {
  return value instanceof OpenRouterError;
}

const GENERIC_MESSAGE = 'Something went wrong in the app.';
const GENERIC_NEXT_STEP = 'Try again. If it keeps happening, restart the app.';

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

/** A code these bindings know, else `unknown`: the type says what can come. */
function errorCode(value: unknown): ErrorCode {
  return ERROR_CODES.find((code) => code === value) ?? 'unknown';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Turns whatever a command rejected with into an OpenRouterError, never raw JSON. */
export function toError(reason: unknown): OpenRouterError {
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
  if (isRecord(value) && text(value.message) !== '') {
    const error = new OpenRouterError(text(value.message), text(value.nextStep), errorCode(value.code));
    // A rate limit may say when to try again.
    if (typeof value.retryAfterSeconds === 'number') error.retryAfterSeconds = value.retryAfterSeconds;
    return error;
  }
  return new OpenRouterError(GENERIC_MESSAGE, GENERIC_NEXT_STEP);
}

/** A page outside the app has no one to ask: said once, in words. */
function noIpc(): OpenRouterError {
  return new OpenRouterError("This page can't reach the app.", "Open it in the app's window.", 'no-ipc');
}

async function call<T>(command: string, args?: InvokeArgs): Promise<T> {
  if (!isTauri()) throw noIpc();
  try {
    return await invoke<T>(`plugin:openrouter|${command}`, args);
  } catch (reason) {
    throw toError(reason);
  }
}

// ---- The status ----

/** How the browser's answer comes back. */
export type CallbackMode = 'loopback' | 'deepLink' | 'paste';

/** What may be known about the stored key without the key itself. */
export interface KeyMeta {
  /** `sk-or-v1-…abcd`. */
  masked: string;
  /** The label asked for at consent. */
  label: string | null;
  /** The spending limit asked for at consent, in USD; the key's own is `Health.info.limit`. */
  limit: number | null;
  /** OpenRouter's user id, when the exchange returned one. */
  userId: string | null;
  /** When the key was stored, in milliseconds since the Unix epoch. */
  connectedAtMs: number;
  /** SHA-256 of the key in hex: names the key's page on OpenRouter, where it is revoked. */
  keySha256: string;
  /**
   * The base URL of the OpenRouter that issued the key: it is sent nowhere
   * else. Absent for a key stored before it was kept (OpenRouter's own).
   */
  origin?: string;
}

/** What OpenRouter says of the key (`GET /api/v1/key`); amounts in USD. */
export interface KeyInfo {
  label: string | null;
  /** The key's credit limit; null is no limit. */
  limit: number | null;
  limitRemaining: number | null;
  /** `daily`, `weekly` or `monthly`, when the limit resets. */
  limitReset: string | null;
  usage: number | null;
  usageDaily: number | null;
  usageWeekly: number | null;
  usageMonthly: number | null;
  /** The account has never bought credits. */
  isFreeTier: boolean;
  /** ISO 8601, or null for a key that does not expire. */
  expiresAt: string | null;
}

/** The last word from OpenRouter on the stored key. */
export interface Health {
  /** When, in milliseconds since the Unix epoch. */
  checkedAtMs: number;
  info: KeyInfo | null;
  /** Why it could not be asked, or refused. */
  error: ErrorView | null;
}

/** How well the data key that unlocks the stored key is protected. */
export interface ProtectionView {
  level: 'keychain' | 'fallback' | 'unavailable';
  /** A few words, for a badge. */
  label: string;
  /** A sentence that says what it means. */
  detail: string;
}

/** What every status has, whatever the state. */
export interface StatusCommon {
  /**
   * Grows with every change: a status with a revision at or below one
   * already seen is stale. `subscribe` drops those.
   */
  revision: number;
  /** The stored key's description (never the key). */
  key: KeyMeta | null;
  /** The last health check. */
  health: Health | null;
  protection: ProtectionView;
  /** The OpenRouter in use; the key's page is under it. */
  baseUrl: string;
  /** `OPENROUTER_BASE_URL` points elsewhere than OpenRouter. */
  customBaseUrl: boolean;
  /** The browser could not be opened: offer the URL to copy. */
  browserError: string | null;
  /** Something to tell the user about the store or the configuration. */
  storeNotice: string | null;
  /** The label a new key gets when none is given. */
  defaultLabel: string;
  /** The callback mode of the last connect. */
  callbackMode: CallbackMode;
  /** Why pasting the code is the better way back here (WSL, SSH, a sandbox), when it is. */
  pasteSuggested: string | null;
  /**
   * The key forgotten last, for its revoke page: by a disconnect, or replaced
   * by a new connection (its record is cleared; it stays active on OpenRouter).
   */
  forgotten: KeyMeta | null;
  /** The app's version. */
  appVersion: string;
}

/** No flow; a key may be stored (`key`) or not. */
export interface DisconnectedStatus extends StatusCommon {
  state: 'disconnected';
}

/**
 * Waiting for the browser's answer. The consent page's address is not in
 * the status (it holds the attempt's secret): `browserUrl()` gives one to
 * copy, and `openAgain()` opens it again.
 */
export interface AwaitingCallbackStatus extends StatusCommon {
  state: 'awaitingCallback';
  /** When the attempt gives up, in milliseconds since the Unix epoch. */
  expiresAtMs: number;
}

/** The code is being exchanged for a key and stored. */
export interface ExchangingStatus extends StatusCommon {
  state: 'exchanging';
}

/** A key is stored, no flow. */
export interface ConnectedStatus extends StatusCommon {
  state: 'connected';
}

/** The last attempt, or the store's read, failed; a key stored before stays. */
export interface FailedStatus extends StatusCommon {
  state: 'failed';
  error: ErrorView;
}

/** Where the connection is, and what the panel shows of it; discriminated on `state`. */
export type Status = DisconnectedStatus | AwaitingCallbackStatus | ExchangingStatus | ConnectedStatus | FailedStatus;

/** The status now; `subscribe` follows it. */
export const status = (): Promise<Status> => call<Status>('status');

/**
 * Calls `handler` with the current status, then with every newer one,
 * never with a stale one (events sent from different threads may arrive
 * out of order; the revision tells). Resolves with the function that
 * stops it; rejects only when the status event can't be listened to. If
 * the current status can't be read, the next status event brings it.
 */
export async function subscribe(handler: (status: Status) => void): Promise<() => void> {
  if (!isTauri()) throw noIpc();
  let delivered = -1;
  let active = true;
  const deliver = (next: Status): void => {
    if (!active || next.revision <= delivered) return;
    delivered = next.revision;
    handler(next);
  };
  // An answer of `status()` reaches the handler as an event does: an
  // exception the handler throws is reported as uncaught, not taken for a
  // failed call.
  const deliverAnswer = (next: Status): void => {
    try {
      deliver(next);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  };
  // Asked before listening, so a first answer waits for one round trip.
  const first = status().then(deliverAnswer, () => {});
  let unlisten: UnlistenFn;
  try {
    unlisten = await listen<Status>(STATUS_EVENT, (event) => deliver(event.payload));
  } catch (reason) {
    active = false;
    throw toError(reason);
  }
  await first;
  // A change made before the listener existed was sent to no one.
  await status().then(deliverAnswer, () => {});
  return () => {
    active = false;
    unlisten();
  };
}

// The commands below answer nothing but their errors: what they change
// arrives through `subscribe`.

/** Options for one Connect. */
export interface ConnectOptions {
  /** The new key's label; blank or null means the app's default. */
  keyLabel?: string | null;
  /** A credit limit in USD for the new key; null is none. */
  limitUsd?: number | null;
  /** How the answer comes back; `loopback` unless said. */
  mode?: CallbackMode;
}

/** Starts connecting (or finds the attempt under way) and opens the consent page. */
export const connect = (options: ConnectOptions = {}): Promise<void> => call('connect', { options });
/** Stops the attempt under way; a stored key stays. */
export const cancel = (): Promise<void> => call('cancel');
/** Hands over the code OpenRouter showed (paste mode). */
export const submitCode = (code: string): Promise<void> => call('submit_code', { code });
/** Forgets the key here; `forgotten` then names its page for revoking. */
export const disconnect = (): Promise<void> => call('disconnect');
/** Asks OpenRouter about the key now (usage, limit). */
export const refresh = (): Promise<void> => call('refresh');
/** Leaves a failure for the state before it. */
export const dismiss = (): Promise<void> => call('dismiss');
/** Reads the store again, after the keychain was unlocked. */
export const reload = (): Promise<void> => call('reload');
/** Opens the consent page of the attempt under way again, at a fresh address. */
export const openAgain = (): Promise<void> => call('open_again');
/**
 * A fresh address of the consent page of the attempt under way, for the
 * user to copy into a browser. Each works once (opened a second time, it
 * stops the attempt, in case someone else opened it): ask again for each
 * copy.
 */
export const browserUrl = (): Promise<string> => call<string>('browser_url');
/**
 * Opens a key's page on OpenRouter, where it is revoked (needs
 * `openrouter:allow-open-revoke-page`): the key whose `keySha256` is given,
 * which must be the connected key or `forgotten`; without it, the connected
 * key's, or else the forgotten one's.
 */
export const openRevokePage = (keySha256?: string): Promise<void> =>
  call('open_revoke_page', keySha256 === undefined ? {} : { keySha256 });

// ---- Using the key ----
// The key stays in the app: these ask the plugin to call OpenRouter with
// it and hand the page what comes back.

/** A model OpenRouter offers. Prices are USD per token, as OpenRouter writes them (`"0"` free, `"-1"` varies). */
export interface Model {
  id: string;
  name: string;
  contextLength: number | null;
  pricing: { prompt: string | null; completion: string | null };
}

/** What a reply used. */
export interface Usage {
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  /** In USD. */
  cost: number | null;
}

/** The text that came in one message: one model delta or several, joined. */
export interface Delta {
  content: string;
  /** Reasoning text, for a model that shows it. */
  reasoning: string;
  /** Tool-call deltas as OpenRouter sent them, to merge by their `index`. */
  toolCalls: unknown[];
}

/** One message of a chat request. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  /** Text, or OpenRouter's content parts. */
  content: string | unknown[];
  [field: string]: unknown;
}

/** OpenRouter's chat request; the plugin asks for a stream. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  /** OpenRouter's other fields: `max_tokens`, `temperature`, … */
  [field: string]: unknown;
}

/** A finished reply. */
export interface ChatResult {
  content: string;
  reasoning: string;
  usage: Usage | null;
  /** OpenRouter's id of the generation. */
  generationId: string | null;
  /** Why the reply ended (`stop`, `length`, `tool_calls`, …). */
  finishReason: string | null;
  /** The model that answered. */
  model: string | null;
}

export interface ChatOptions {
  /** Each piece of text as it arrives (several model deltas may come in one piece). */
  onDelta?: (text: string, delta: Delta) => void;
  /** The model is at work and nothing else has come yet. */
  onKeepAlive?: () => void;
  /** Aborting it stops the reply; OpenRouter takes the closed connection as a cancel. */
  signal?: AbortSignal;
}

/** What the plugin sends over a reply's Channel. */
type ChatEvent =
  | { type: 'started'; generationId: string | null }
  | ({ type: 'delta' } & Delta)
  | { type: 'keepAlive' }
  | { type: 'done'; result: ChatResult }
  | { type: 'failed'; error: ErrorView };

/**
 * The models OpenRouter offers (needs `openrouter:allow-models`, in the
 * default set).
 */
export const models = (): Promise<Model[]> => call<Model[]>('models');

/**
 * Streams a chat reply with the connected key (needs
 * `openrouter:allow-chat`: it spends the user's credit). Resolves with the
 * whole reply; rejects with an OpenRouterError whose `code` says why
 * (`no-credits`, `rate-limited` with `retryAfterSeconds`, `moderated`,
 * `key-invalid`, `stream-error`, `cancelled`, `idle-timeout`, …) and whose
 * `partialContent` keeps the text that came before.
 */
export function chat(request: ChatRequest, options: ChatOptions = {}): Promise<ChatResult> {
  const { onDelta, onKeepAlive, signal } = options;
  if (!isTauri()) return Promise.reject(noIpc());
  if (signal?.aborted) {
    return Promise.reject(new OpenRouterError('The reply was stopped.', '', 'cancelled'));
  }
  return new Promise<ChatResult>((resolve, reject) => {
    let content = '';
    let settled = false;
    const channel = new Channel<ChatEvent>();
    // The stream is named by its Channel's id, known before it is asked
    // for: Stop works from the first moment.
    const stop = (): void => {
      invoke('plugin:openrouter|cancel_chat', { streamId: channel.id }).catch(() => {});
    };
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', stop);
      outcome();
    };
    const fail = (reason: unknown): void => {
      const error = toError(reason);
      error.partialContent = content;
      finish(() => reject(error));
    };
    channel.onmessage = (message) => {
      if (settled) return;
      switch (message.type) {
        case 'delta':
          content += message.content;
          onDelta?.(message.content, message);
          break;
        case 'keepAlive':
          onKeepAlive?.();
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
    signal?.addEventListener('abort', stop, { once: true });
    invoke('plugin:openrouter|chat', { request, onEvent: channel }).catch(fail);
  });
}
