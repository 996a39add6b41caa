// The app's IPC: thin wrappers around Tauri's global API (`withGlobalTauri`).
// Every rejection becomes a UserError with words a user can read.

export const STATUS_EVENT = 'connect://status';

/** An error to show the user: a sentence, and what to do next. */
export class UserError extends Error {
  constructor(message, nextStep = '', code = 'unknown') {
    super(message);
    this.name = 'UserError';
    this.code = code;
    this.nextStep = nextStep;
  }
}

const GENERIC_MESSAGE = 'Something went wrong in the app.';
const GENERIC_NEXT_STEP = 'Try again. If it keeps happening, restart the app.';

function text(value) {
  return typeof value === 'string' ? value.trim() : '';
}

/** Turns whatever a command rejected with into a UserError, never raw JSON. */
export function toUserError(reason) {
  if (reason instanceof UserError) return reason;
  let value = reason;
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (trimmed.startsWith('{')) {
      try {
        value = JSON.parse(trimmed);
      } catch {
        return new UserError(GENERIC_MESSAGE, GENERIC_NEXT_STEP);
      }
    } else if (trimmed !== '') {
      return new UserError(trimmed, '');
    }
  }
  if (value && typeof value === 'object' && text(value.message) !== '') {
    return new UserError(text(value.message), text(value.nextStep), text(value.code) || 'unknown');
  }
  return new UserError(GENERIC_MESSAGE, GENERIC_NEXT_STEP);
}

function tauri() {
  const api = window.__TAURI__;
  if (!api || !api.core || !api.event) {
    throw new UserError(
      "This panel can't reach the app.",
      'Open it from the OpenRouter Connect app.',
      'no-ipc',
    );
  }
  return api;
}

async function invoke(command, args) {
  try {
    return await tauri().core.invoke(command, args);
  } catch (reason) {
    throw toUserError(reason);
  }
}

/** Calls `handler(appStatus)` on every status change; resolves to an unlisten function. */
export async function onStatus(handler) {
  try {
    return await tauri().event.listen(STATUS_EVENT, (event) => handler(event.payload));
  } catch (reason) {
    throw toUserError(reason);
  }
}

export const commands = {
  status: () => invoke('status'),
  /** @param {{keyLabel: string|null, limitUsd: number|null, mode: 'loopback'|'deepLink'}} options */
  connect: (options) => invoke('connect', { options }),
  cancel: () => invoke('cancel'),
  dismiss: () => invoke('dismiss'),
  reload: () => invoke('reload'),
  submitCode: (code) => invoke('submit_code', { code }),
  openAgain: () => invoke('open_again'),
  disconnect: () => invoke('disconnect'),
  refreshHealth: () => invoke('refresh_health'),
  testRequest: () => invoke('test_request'),
  openRevokePage: () => invoke('open_revoke_page'),
};
