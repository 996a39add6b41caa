// The settings panel: keeps the latest AppStatus, wires the buttons to the
// app's commands and moves focus sensibly when the flow changes state.

import * as openrouter from './openrouter.js';
import { createView, healthKind, matchingModels, viewState } from './view.js';
import { copyShortcut, perToken, retryWhen } from './format.js';

const view = createView(document);
const { el } = view;

/** The latest status, or null before the first one. `subscribe` is its
 * one source: commands answer only their errors. */
let status = null;
let prefilled = false;
let ticker = null;
/** Stops the reply under way, or null when none streams. */
let replyController = null;
/** Counts the replies asked for: callbacks of a reply that was stopped or
 * cleared see a newer number and do nothing. */
let replyRun = 0;
/** The window is shown once, on the first status. */
let windowShown = false;

/** What the panel knows that the app does not. */
const local = {
  busy: new Set(),
  commandError: null,
  dismissedStoreNotice: null,
  dismissedForgotten: null,
  confirmOpen: false,
  // Try it: OpenRouter's models, loaded once (state: idle, loading, ready or failed) ...
  models: { state: 'idle', list: [], error: null },
  // ... the chosen model's id, the filter's text ...
  tryModel: '',
  tryFilter: '',
  // ... the reply under way or the last one: {text, streaming, phase, outcome
  // (null, done, stopped or error), usage, model, finishReason, error, retry} ...
  reply: null,
  // ... and what the live region says once a reply ends.
  announce: '',
  copyFeedback: null,
  // The address Copy link got last: each works once, so none is kept
  // past the attempt.
  link: null,
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
      clearTry();
    }
    if (after !== 'awaiting') {
      local.copyFeedback = null;
      local.link = null;
      local.codeError = null;
    }
  }
  const keyBefore = previous && previous.key ? previous.key.keySha256 : null;
  const keyAfter = next.key ? next.key.keySha256 : null;
  if (keyBefore !== keyAfter) clearTry();

  prefillOptions(next);
  // The loopback port could not be opened: pasting the code needs none.
  if (after === 'failed' && next.error && next.error.code === 'listen-failed') {
    for (const radio of el.modeRadios) radio.checked = radio.value === 'paste';
  }
  // Asked first: the window is mapped and painted only after this task,
  // by which time the panel below has rendered the status.
  if (previous === null) showWindow();
  render();
  updateTicker(after);
  if (before !== null && before !== after) moveFocus(after, before);
  // Fetched when first needed, and again on coming back if it failed.
  if (after === 'connected' && (local.models.state === 'idle' || (before !== after && local.models.state === 'failed'))) {
    loadModels();
  }
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
      // Send, not the prompt: Enter tries the key at once, and no caret
      // blinks (and repaints) in a panel left open.
      target = healthKind(status) === 'invalid' ? el.reconnect : el.trySend;
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

/** Asks the app for a fresh address of the consent page (each works
 * once) and copies it, or selects it for the user to copy. */
function copyLink() {
  run('copy-link', async () => {
    const url = await openrouter.browserUrl();
    local.link = url;
    local.copyFeedback = null;
    render();
    try {
      await navigator.clipboard.writeText(url);
      local.copyFeedback = { text: "Link copied. Paste it into your browser's address bar; it works once.", manual: false };
    } catch {
      el.authUrl.focus();
      el.authUrl.select();
      local.copyFeedback = {
        text: `The link is selected: press ${copyShortcut()} to copy it, then paste it into your browser; it works once.`,
        manual: true,
      };
    }
  });
}

// ---- Try it ----

/** The cheapest model with both prices known (free first), ties by list order; else the first. */
function cheapestModel(list) {
  let best = null;
  let bestPrice = Infinity;
  for (const model of list) {
    const prompt = perToken(model.pricing && model.pricing.prompt);
    const completion = perToken(model.pricing && model.pricing.completion);
    // Unknown and variable (-1, the auto router) prices can't be compared.
    if (prompt === null || completion === null || prompt < 0 || completion < 0) continue;
    if (prompt + completion < bestPrice) {
      best = model;
      bestPrice = prompt + completion;
    }
  }
  return best || list[0] || null;
}

async function loadModels() {
  if (local.models.state === 'loading') return;
  local.models = { state: 'loading', list: [], error: null };
  render();
  try {
    const answer = await openrouter.models();
    const list = Array.isArray(answer)
      ? answer.filter((model) => model && typeof model.id === 'string' && model.id !== '')
      : [];
    if (list.length === 0) {
      throw new openrouter.OpenRouterError('OpenRouter listed no models.', 'Try again later.', 'no-models');
    }
    local.models = { state: 'ready', list, error: null };
    // A model typed while the list was missing stays chosen if it is listed.
    if (!list.some((model) => model.id === local.tryModel.trim())) local.tryModel = cheapestModel(list).id;
    else local.tryModel = local.tryModel.trim();
  } catch (reason) {
    local.models = { state: 'failed', list: [], error: openrouter.toError(reason) };
  }
  render();
}

/** "Load the list again": its button goes away meanwhile, so focus moves to the model. */
async function reloadModels() {
  await loadModels();
  const active = document.activeElement;
  if (!active || active === document.body || active.closest('[hidden]') !== null) {
    (el.tryModelTyped.hidden ? el.tryModelList : el.tryModelTyped).focus();
  }
}

function chooseModel(id) {
  local.tryModel = id;
  render();
}

/** Narrows the list; when the chosen model drops out, the first match takes its place. */
function filterModels() {
  local.tryFilter = el.tryFilter.value;
  const matches = matchingModels(local.models.list, local.tryFilter);
  if (matches.length > 0 && !matches.some((model) => model.id === local.tryModel)) {
    local.tryModel = matches[0].id;
  }
  render();
}

/** Up and Down in the filter move through the matches, so the list needs no second stop. */
function stepModel(event) {
  if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
  const options = Array.from(el.tryModelList.options).filter((option) => option.value !== '');
  if (options.length === 0) return;
  event.preventDefault();
  const at = options.findIndex((option) => option.value === local.tryModel);
  const step = event.key === 'ArrowDown' ? 1 : -1;
  const next = Math.min(options.length - 1, Math.max(0, at + step));
  chooseModel(options[next].value);
}

/** The longest reply Try it asks for, in tokens. */
const TRY_MAX_TOKENS = 1024;

function streaming() {
  return Boolean(local.reply && local.reply.streaming);
}

async function sendPrompt() {
  if (streaming()) return;
  const prompt = el.tryPrompt.value;
  const model = local.tryModel.trim();
  // Send looks disabled then; pressing it shows what is missing.
  if (model === '') {
    (el.tryModelTyped.hidden ? el.tryModelList : el.tryModelTyped).focus();
    return;
  }
  if (prompt.trim() === '') {
    el.tryPrompt.focus();
    return;
  }
  const controller = new AbortController();
  const run = ++replyRun;
  replyController = controller;
  local.reply = { text: '', streaming: true, phase: 'sending', outcome: null };
  local.announce = '';
  render();
  keepReplyInView();
  const current = () => run === replyRun;
  try {
    // A bounded reply: OpenRouter checks the credit against the most a
    // reply may cost, so an unbounded one can be refused for a small balance.
    const request = { model, messages: [{ role: 'user', content: prompt }], max_tokens: TRY_MAX_TOKENS };
    const result = await openrouter.chat(request, {
      signal: controller.signal,
      onDelta: (text, delta) => {
        if (current()) receive(text, delta);
      },
      onKeepAlive: () => {
        // Before any text only: OpenRouter is still looking for a provider.
        if (!current() || local.reply.text !== '' || local.reply.phase === 'waiting') return;
        local.reply.phase = 'waiting';
        render();
      },
    });
    if (!current()) return;
    endReply({
      text: typeof result.content === 'string' ? result.content : local.reply.text,
      outcome: 'done',
      usage: result.usage || null,
      model: result.model || model,
      finishReason: result.finishReason || null,
    }, 'Reply finished.');
  } catch (reason) {
    if (!current()) return;
    const error = openrouter.toError(reason);
    const partial = typeof error.partialContent === 'string' && error.partialContent.length > local.reply.text.length
      ? error.partialContent : local.reply.text;
    // Cancelled elsewhere (the app stopped it): a stop, not a failure.
    if (error.code === 'cancelled') {
      endReply({ text: partial, outcome: 'stopped' }, 'Stopped.');
      return;
    }
    const retry = error.code === 'rate-limited' ? retryWhen(error.retryAfterSeconds) : '';
    // The alert reads the error out; the live region only says it ended.
    endReply({ text: partial, outcome: 'error', error, retry }, 'Reply failed.');
  }
}

/** The reply is below the fold in a small window: bring it up as it starts. */
function keepReplyInView() {
  if (!el.tryReply.hidden) el.tryReply.scrollIntoView({ block: 'nearest' });
}

/** One piece of the reply: appended as text, without redrawing the panel each time. */
function receive(text, delta) {
  const reply = local.reply;
  if (typeof text !== 'string' || text === '') {
    // Reasoning comes before the answer on some models.
    if (reply.text === '' && delta && delta.reasoning && reply.phase !== 'thinking') {
      reply.phase = 'thinking';
      render();
    }
    return;
  }
  const first = reply.text === '';
  reply.text += text;
  if (first) {
    reply.phase = 'replying';
    render();
    keepReplyInView();
  } else {
    view.appendReply(text);
  }
}

/** Ends the reply under way with `fields`, and says so once. */
function endReply(fields, announce) {
  replyController = null;
  local.reply = { ...local.reply, ...fields, streaming: false, phase: null };
  local.announce = announce;
  const stopHadFocus = document.activeElement === el.tryStop;
  render();
  // Stop is gone now: keep the keyboard in the section.
  if (stopHadFocus) el.tryPrompt.focus();
  // What came after the reply (its usage, or why it ended) is in view too.
  const after = local.reply.outcome === 'error' ? el.tryError : el.tryUsage;
  if (after && !after.hidden) after.scrollIntoView({ block: 'nearest' });
}

/** Stops the reply under way; the text so far stays. */
function stopReply() {
  if (!streaming()) return;
  const controller = replyController;
  // Shown as stopped at once; whatever the stream still sends is ignored.
  replyRun += 1;
  endReply({ outcome: 'stopped' }, 'Stopped.');
  controller.abort();
}

/** Leaving the connected view, or a new key: the reply goes, and a stream under way stops. */
function clearTry() {
  if (replyController) replyController.abort();
  replyController = null;
  replyRun += 1;
  local.reply = null;
  local.announce = '';
  local.tryFilter = '';
  el.tryFilter.value = '';
}

function onPromptKey(event) {
  // Enter sends, Shift+Enter is a new line; not while an input method composes.
  if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  sendPrompt();
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
  on(el.tryFilter, 'input', filterModels);
  on(el.tryFilter, 'keydown', stepModel);
  on(el.tryModelList, 'change', () => chooseModel(el.tryModelList.value));
  on(el.tryModelList, 'input', () => chooseModel(el.tryModelList.value));
  on(el.tryModelTyped, 'input', () => chooseModel(el.tryModelTyped.value));
  on(el.tryModelTyped, 'change', () => chooseModel(el.tryModelTyped.value));
  on(el.tryLoadModels, 'click', reloadModels);
  on(el.tryPrompt, 'keydown', onPromptKey);
  // Send looks disabled while the prompt is empty.
  on(el.tryPrompt, 'input', render);
  on(el.trySend, 'click', sendPrompt);
  on(el.tryStop, 'click', stopReply);
  on(el.openKeyPage, 'click', () => run('revoke', openrouter.openRevokePage));
  on(el.limitKeyPage, 'click', () => run('revoke', openrouter.openRevokePage));

  on(el.disconnect, 'click', () => (local.confirmOpen ? closeConfirm() : openConfirm()));
  on(el.keepConnected, 'click', closeConfirm);
  on(el.confirmDisconnect, 'click', () => run('disconnect', openrouter.disconnect));
  on(document, 'keydown', (event) => {
    if (event.key !== 'Escape') return;
    if (local.confirmOpen) {
      event.preventDefault();
      closeConfirm();
    } else if (streaming()) {
      event.preventDefault();
      stopReply();
    }
  });

  // The forgotten key's page: after a new connection, the key it replaced.
  on(el.revoke, 'click', () => {
    const forgotten = status && status.forgotten;
    run('revoke', () => openrouter.openRevokePage(forgotten ? forgotten.keySha256 : undefined));
  });

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
  // The status the page's head asked for, if it is here before the one
  // subscribe asks for (which follows every later change).
  window.earlyStatus?.then((first) => {
    if (first && status === null) apply(first);
  });
  try {
    // The status now, then every newer one (never an older one that
    // arrives late); the first paint waits for one round trip.
    await openrouter.subscribe(apply);
  } catch (reason) {
    // No change will reach the page: say so, over any status shown.
    local.commandError = openrouter.toError(reason);
    render();
  }
  showIfUnavailable();
  showWindow();
}

/** The window waits hidden for this, so that its first frame is the panel
 * with its first status, or with the reason it has none (the app shows it
 * anyway after a few seconds). */
function showWindow() {
  const core = window.__TAURI__?.core;
  if (windowShown || !core) return;
  windowShown = true;
  core.invoke('show_window').catch(() => {});
}

function showIfUnavailable() {
  if (status !== null) return;
  el.status.dataset.state = 'unavailable';
  el.statusText.textContent = "Couldn't load the connection's status";
}

start();
