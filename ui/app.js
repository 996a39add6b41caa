// The settings panel: keeps the latest AppStatus, wires the buttons to the
// app's commands and moves focus sensibly when the flow changes state.

import * as openrouter from './openrouter.js';
import { createView, healthKind, viewState } from './view.js';
import { copyShortcut } from './format.js';

const view = createView(document);
const { el } = view;

/** The latest status, or null before the first one. Status events are
 * its one source: commands answer only their errors. */
let status = null;
let prefilled = false;
let ticker = null;

/** What the panel knows that the app does not. */
const local = {
  busy: new Set(),
  commandError: null,
  dismissedStoreNotice: null,
  dismissedForgotten: null,
  confirmOpen: false,
  test: null,
  copyFeedback: null,
  codeError: null,
};

function render() {
  view.render(status, local);
}

function apply(next) {
  if (!next || typeof next !== 'object') return;
  const previous = status;
  const before = previous ? viewState(previous) : null;
  const after = viewState(next);
  status = next;

  if (before !== after) {
    local.commandError = null;
    if (after !== 'connected') {
      local.confirmOpen = false;
      local.test = null;
    }
    if (after !== 'awaiting') {
      local.copyFeedback = null;
      local.codeError = null;
    }
  }
  const keyBefore = previous && previous.key ? previous.key.keySha256 : null;
  const keyAfter = next.key ? next.key.keySha256 : null;
  if (keyBefore !== keyAfter) local.test = null;

  prefillOptions(next);
  // The loopback port could not be opened: pasting the code needs none.
  if (after === 'failed' && next.error && next.error.code === 'listen-failed') {
    for (const radio of el.modeRadios) radio.checked = radio.value === 'paste';
  }
  render();
  updateTicker(after);
  if (before !== null && before !== after) moveFocus(after, before);
}

function prefillOptions(s) {
  if (prefilled) return;
  prefilled = true;
  if (el.labelInput.value === '' && typeof s.defaultLabel === 'string') {
    el.labelInput.value = s.defaultLabel;
  }
  // Where the browser can't reach the app (WSL, SSH, a sandbox), pasting
  // the code comes first.
  const modes = ['loopback', 'deepLink', 'paste'];
  const mode = s.pasteSuggested ? 'paste' : modes.includes(s.callbackMode) ? s.callbackMode : 'loopback';
  for (const radio of el.modeRadios) radio.checked = radio.value === mode;
}

function updateTicker(state) {
  if (state === 'awaiting' && ticker === null) {
    ticker = setInterval(() => view.tick(status), 500);
  } else if (state !== 'awaiting' && ticker !== null) {
    clearInterval(ticker);
    ticker = null;
  }
}

/** After a state change, focus the new view's main action, unless the user is elsewhere. */
function moveFocus(state, before) {
  const active = document.activeElement;
  const card = el.status.closest('.card');
  const lost = !active || active === document.body || active.closest('[hidden]') !== null;
  if (!lost && !card.contains(active)) return;

  let target;
  switch (state) {
    case 'disconnected':
      target = before === 'connected' && !el.forgottenNotice.hidden ? el.revoke : el.connect;
      break;
    case 'failed':
      target = el.connect;
      break;
    case 'awaiting':
      target = status.callbackMode === 'paste' ? el.codeInput : status.browserError ? el.copyLink : el.openAgain;
      break;
    case 'exchanging':
      target = el.exchangingTitle;
      break;
    case 'connected':
      target = healthKind(status) === 'invalid' ? el.reconnect : el.testRequest;
      break;
    default:
      target = null;
  }
  if (target && !target.hidden) target.focus();
}

/** Runs a command with a busy state; what it changes arrives as a status event. */
async function run(name, call) {
  if (local.busy.has(name)) return;
  local.busy.add(name);
  local.commandError = null;
  render();
  try {
    await call();
  } catch (reason) {
    const error = openrouter.toError(reason);
    // A failed flow already shows its error in the page; don't say it twice.
    const shown = status && status.state === 'failed' && status.error && status.error.code === error.code;
    if (!shown) local.commandError = error;
  } finally {
    local.busy.delete(name);
    render();
  }
}

// ---- Options ----

function limitProblem() {
  const input = el.limitInput;
  if (input.validity.badInput) return 'Enter an amount in dollars, such as 5 or 12.50, or leave it empty for no limit.';
  const raw = input.value.trim();
  if (raw === '') return null;
  const amount = Number(raw);
  if (!Number.isFinite(amount)) return 'Enter an amount in dollars, such as 5 or 12.50, or leave it empty for no limit.';
  if (amount < 0) return "The limit can't be negative. Enter 0 or more, or leave it empty for no limit.";
  return null;
}

function showLimitProblem(problem) {
  el.limitError.textContent = problem || '';
  el.limitError.hidden = !problem;
  if (problem) {
    el.limitInput.setAttribute('aria-invalid', 'true');
    el.limitInput.setAttribute('aria-describedby', 'limit-error limit-hint');
  } else {
    el.limitInput.removeAttribute('aria-invalid');
    el.limitInput.setAttribute('aria-describedby', 'limit-hint');
  }
}

/** The connect options, or null (with the problem shown) when the limit is wrong. */
function readOptions() {
  const problem = limitProblem();
  showLimitProblem(problem);
  if (problem) {
    if (el.form.hidden) {
      local.commandError = openrouter.toError({ message: problem, nextStep: 'Correct the spending limit under Options.' });
      render();
    } else {
      el.options.open = true;
      el.limitInput.focus();
    }
    return null;
  }
  const raw = el.limitInput.value.trim();
  const checked = el.modeRadios.find((radio) => radio.checked);
  return {
    // Trimmed by the core; a blank label means the app's default.
    keyLabel: el.labelInput.value,
    limitUsd: raw === '' ? null : Number(raw),
    mode: checked && ['deepLink', 'paste'].includes(checked.value) ? checked.value : 'loopback',
  };
}

// ---- Actions ----

function connect() {
  const options = readOptions();
  // A keychain that did not answer: Try again asks it again. A stored
  // connection it unlocks is back at once; with none stored, the connect
  // that failed goes on (and asks the keychain before any flow starts).
  if (status && status.state === 'failed' && status.error && status.error.code === 'keychain') {
    run('reload', async () => {
      await openrouter.reload();
      const reloaded = await openrouter.status();
      if (reloaded.key || reloaded.state !== 'disconnected' || !options) return;
      await openrouter.connect(options);
    });
    return;
  }
  if (options) run('connect', () => openrouter.connect(options));
}

/** Paste mode: hands the code over; the field is emptied at once, so the code stays in the page no longer than needed. */
function submitCode() {
  const code = el.codeInput.value;
  el.codeInput.value = '';
  local.codeError = null;
  run('submit-code', async () => {
    try {
      await openrouter.submitCode(code);
    } catch (reason) {
      const error = openrouter.toError(reason);
      if (error.code === 'pasted-code-invalid') {
        local.codeError = error;
        return;
      }
      throw error;
    }
  });
}

async function copyLink() {
  const url = status && status.authUrl;
  if (!url) return;
  try {
    await navigator.clipboard.writeText(url);
    local.copyFeedback = { text: "Link copied. Paste it into your browser's address bar.", manual: false };
  } catch {
    el.authUrl.focus();
    el.authUrl.select();
    local.copyFeedback = {
      text: `The link is selected: press ${copyShortcut()} to copy it, then paste it into your browser.`,
      manual: true,
    };
  }
  render();
}

async function testRequest() {
  if (local.busy.has('test')) return;
  local.busy.add('test');
  local.test = null;
  render();
  try {
    const reply = await openrouter.testRequest();
    local.test = {
      content: reply && typeof reply.content === 'string' ? reply.content : '',
      model: reply && typeof reply.model === 'string' ? reply.model : null,
    };
  } catch (reason) {
    local.test = { error: openrouter.toError(reason) };
  } finally {
    local.busy.delete('test');
    render();
  }
}

function openConfirm() {
  local.confirmOpen = true;
  render();
  el.confirm.focus();
}

function closeConfirm() {
  if (!local.confirmOpen) return;
  local.confirmOpen = false;
  render();
  el.disconnect.focus();
}

function focusHeading() {
  document.querySelector('h1').focus();
}

function on(element, type, handler) {
  element.addEventListener(type, handler);
}

function bind() {
  on(el.form, 'submit', (event) => {
    event.preventDefault();
    connect();
  });
  on(el.limitInput, 'input', () => {
    if (!el.limitError.hidden) showLimitProblem(limitProblem());
  });
  on(el.limitInput, 'change', () => showLimitProblem(limitProblem()));

  on(el.cancel, 'click', () => run('cancel', openrouter.cancel));
  on(el.dismiss, 'click', () => run('dismiss', openrouter.dismiss));
  on(el.openAgain, 'click', () => run('open-again', openrouter.openAgain));
  on(el.copyLink, 'click', copyLink);
  on(el.pasteForm, 'submit', (event) => {
    event.preventDefault();
    submitCode();
  });
  on(el.authUrl, 'focus', () => el.authUrl.select());

  on(el.reconnect, 'click', connect);
  on(el.newKey, 'click', connect);
  on(el.refresh, 'click', () => run('refresh', openrouter.refresh));
  on(el.testRequest, 'click', testRequest);
  on(el.openKeyPage, 'click', () => run('revoke', openrouter.openRevokePage));
  on(el.limitKeyPage, 'click', () => run('revoke', openrouter.openRevokePage));

  on(el.disconnect, 'click', () => (local.confirmOpen ? closeConfirm() : openConfirm()));
  on(el.keepConnected, 'click', closeConfirm);
  on(el.confirmDisconnect, 'click', () => run('disconnect', openrouter.disconnect));
  on(document, 'keydown', (event) => {
    if (event.key === 'Escape' && local.confirmOpen) {
      event.preventDefault();
      closeConfirm();
    }
  });

  on(el.revoke, 'click', () => run('revoke', openrouter.openRevokePage));

  on(document.querySelector('[data-action="dismiss-command-error"]'), 'click', () => {
    local.commandError = null;
    render();
    focusHeading();
  });
  on(document.querySelector('[data-action="dismiss-store-notice"]'), 'click', () => {
    local.dismissedStoreNotice = status && status.storeNotice;
    render();
    focusHeading();
  });
  on(document.querySelector('[data-action="dismiss-forgotten"]'), 'click', () => {
    local.dismissedForgotten = status && status.forgotten ? status.forgotten.keySha256 : null;
    render();
    focusHeading();
  });
}

async function start() {
  bind();
  // Asked before listening, so the first paint waits for one round trip,
  // not two.
  const first = openrouter.status();
  let events = 0;
  const listening = openrouter.onStatus((next) => {
    events += 1;
    apply(next);
  });
  listening.catch(() => {}); // Awaited below, after the first answer.
  let firstFailed = false;
  try {
    const answer = await first;
    // An event may have come first, and is newer.
    if (status === null) apply(answer);
  } catch (reason) {
    firstFailed = true;
    local.commandError = openrouter.toError(reason);
    render();
  }
  try {
    await listening;
  } catch (reason) {
    // No change will reach the page: say so, over any status shown.
    local.commandError = openrouter.toError(reason);
    render();
    showIfUnavailable();
    return;
  }
  // A change made before the listener existed sent its event to no one
  // (and a first answer may have failed): ask again, unless an event has
  // come since.
  const seen = events;
  try {
    const now = await openrouter.status();
    if (firstFailed) local.commandError = null;
    if (events === seen) apply(now);
    else render();
  } catch {
    // The first answer, or the events to come, stand.
  }
  showIfUnavailable();
}

function showIfUnavailable() {
  if (status !== null) return;
  el.status.dataset.state = 'unavailable';
  el.statusText.textContent = "Couldn't load the connection's status";
}

start();
