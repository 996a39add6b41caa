// Renders an AppStatus (plus the panel's own local state) into the page.
// Only textContent, attributes, classes and `hidden`: never markup from data.

import {
  count, countdown, date, dateTime, daysUntil, hostOf, isAmount, money, parseTime, preciseMoney,
  pricePerMillion, when, WEEK_MS,
} from './format.js';

const OFFLINE_CODES = new Set(['unreachable', 'dns-failed', 'connection-refused', 'tls-failed', 'timeout']);

/** The panel's name for a core state. */
export function viewState(status) {
  switch (status && status.state) {
    case 'awaitingCallback': return 'awaiting';
    case 'exchanging': return 'exchanging';
    case 'connected': return 'connected';
    case 'failed': return 'failed';
    default: return 'disconnected';
  }
}

/** How the last health check went: unchecked, ok, invalid, offline or problem. */
export function healthKind(status) {
  const health = status && status.health;
  if (!health) return 'unchecked';
  if (!health.error) return 'ok';
  if (health.error.code === 'key-invalid') return 'invalid';
  if (OFFLINE_CODES.has(health.error.code)) return 'offline';
  return 'problem';
}

/** The models whose id or name holds every word of `filter`, in list order. */
export function matchingModels(list, filter) {
  const words = String(filter || '').toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return list;
  return list.filter((model) => {
    const haystack = `${model.id} ${model.name || ''}`.toLowerCase();
    return words.every((word) => haystack.includes(word));
  });
}

/** What the line above a streaming reply says, by how far it has come. */
const REPLY_PHASES = {
  sending: 'Sending…',
  waiting: 'Waiting for the model…',
  thinking: 'The model is thinking…',
  replying: 'Replying…',
};

const STATUS_TEXT = {
  disconnected: 'Not connected',
  awaiting: 'Waiting for you to approve in your browser',
  exchanging: 'Approved. Getting your key…',
  failed: 'Connection failed',
};

const CONNECTED_TEXT = {
  unchecked: 'Connected',
  ok: 'Connected',
  invalid: 'Connected · this key is no longer valid',
  offline: "Connected · can't reach OpenRouter",
  problem: "Connected · the last check didn't work",
};

function sentence(...parts) {
  return parts.filter((p) => typeof p === 'string' && p.trim() !== '').map((p) => p.trim()).join(' ');
}

function show(element, visible) {
  element.hidden = !visible;
}

function setText(element, value) {
  const next = value == null ? '' : String(value);
  if (element.textContent !== next) element.textContent = next;
}

function setBusy(button, busy, busyLabel, idleLabel) {
  button.setAttribute('aria-disabled', busy ? 'true' : 'false');
  if (busy) button.setAttribute('aria-busy', 'true');
  else button.removeAttribute('aria-busy');
  if (busyLabel && idleLabel) setText(button, busy ? busyLabel : idleLabel);
}

export function createView(doc = document) {
  const $ = (selector) => doc.querySelector(selector);
  const byId = (id) => $(`[data-testid="${id}"]`);
  const part = (root, name) => root.querySelector(`[data-part="${name}"]`);

  const el = {
    sandboxBadge: byId('sandbox-badge'),
    commandError: byId('command-error'),
    storeNotice: byId('store-notice'),
    forgottenNotice: byId('forgotten-notice'),
    revoke: byId('revoke'),
    status: byId('status'),
    statusText: $('[data-testid="status"] .status-text'),
    views: {
      failed: $('[data-view="failed"]'),
      connect: $('[data-view="connect"]'),
      awaiting: $('[data-view="awaiting"]'),
      exchanging: $('[data-view="exchanging"]'),
      connected: $('[data-view="connected"]'),
    },
    errorMessage: byId('error-message'),
    errorNextStep: byId('error-next-step'),
    form: $('[data-view="connect"]'),
    intro: part($('[data-view="connect"]'), 'intro'),
    options: byId('options'),
    labelInput: byId('label-input'),
    limitInput: byId('limit-input'),
    limitError: byId('limit-error'),
    pasteForm: byId('paste-form'),
    codeInput: byId('code-input'),
    codeError: byId('code-error'),
    submitCode: byId('submit-code'),
    comeBack: $('[data-view="awaiting"] [data-part="come-back"]'),
    pasteSuggested: byId('paste-suggested'),
    modeRadios: Array.from(doc.querySelectorAll('[data-testid="callback-mode"] input[type="radio"]')),
    connect: byId('connect'),
    awaitingTitle: $('[data-view="awaiting"] .view-title'),
    browserError: byId('browser-error'),
    countdownRow: part($('[data-view="awaiting"]'), 'countdown-row'),
    countdown: byId('countdown'),
    authUrl: byId('auth-url'),
    linkField: part($('[data-view="awaiting"]'), 'link-field'),
    copyFeedback: byId('copy-feedback'),
    openAgain: byId('open-again'),
    copyLink: byId('copy-link'),
    cancel: byId('cancel'),
    exchangingTitle: $('[data-view="exchanging"] .view-title'),
    healthAlert: byId('health-alert'),
    reconnect: byId('reconnect'),
    newKey: byId('new-key'),
    maskedKey: byId('masked-key'),
    freeTier: byId('free-tier'),
    openKeyPage: byId('open-key-page'),
    keyLabel: byId('key-label'),
    usage: byId('usage'),
    limit: byId('limit'),
    limitMeter: byId('limit-meter'),
    limitNote: byId('limit-note'),
    limitKeyPage: byId('limit-key-page'),
    expiry: byId('expiry'),
    connectedAt: byId('connected-at'),
    checkedAt: byId('checked-at'),
    refresh: byId('refresh'),
    disconnect: byId('disconnect'),
    trySection: byId('try'),
    tryModelLabel: part(byId('try'), 'model-label'),
    tryPicker: part(byId('try'), 'picker'),
    tryFilter: byId('try-filter'),
    // Only one of the two carries the `try-model` test id: the one in use.
    tryModelList: $('#try-model-list'),
    tryModelTyped: $('#try-model-typed'),
    tryPrice: byId('try-price'),
    tryNoMatch: part(byId('try'), 'no-match'),
    tryPrompt: byId('try-prompt'),
    trySend: byId('try-send'),
    tryStop: byId('try-stop'),
    tryProgress: byId('try-progress'),
    tryReply: byId('try-reply'),
    tryUsage: byId('try-usage'),
    tryStopped: byId('try-stopped'),
    tryError: byId('try-error'),
    tryLoadModels: byId('try-load-models'),
    tryAnnounce: byId('try-announce'),
    confirm: byId('disconnect-confirm'),
    confirmDisconnect: byId('confirm-disconnect'),
    keepConnected: byId('keep-connected'),
    dismiss: byId('dismiss'),
    currentKeyNote: byId('current-key-note'),
    protection: byId('protection'),
    protectionLabel: $('[data-testid="protection"] .protection-label'),
    protectionDetail: $('[data-testid="protection"] .protection-detail'),
    version: byId('version'),
    baseUrl: byId('base-url'),
  };

  function renderHeader(s) {
    const custom = Boolean(s.customBaseUrl && s.baseUrl);
    show(el.sandboxBadge, custom);
    show(el.baseUrl, custom);
    if (custom) {
      setText(el.sandboxBadge, `Using ${hostOf(s.baseUrl)}`);
      el.sandboxBadge.title = `This app talks to ${s.baseUrl} instead of OpenRouter`;
      setText(el.baseUrl, `Talking to ${s.baseUrl}`);
    }
    setText(el.version, s.appVersion ? `Version ${s.appVersion}` : '');
  }

  function renderNotices(s, local) {
    const error = local.commandError;
    show(el.commandError, Boolean(error));
    if (error) {
      setText(part(el.commandError, 'message'), error.message);
      setText(part(el.commandError, 'next-step'), error.nextStep);
    }

    const storeNotice = typeof s.storeNotice === 'string' && s.storeNotice !== '' ? s.storeNotice : null;
    show(el.storeNotice, Boolean(storeNotice) && local.dismissedStoreNotice !== storeNotice);
    if (storeNotice) setText(part(el.storeNotice, 'text'), storeNotice);

    const forgotten = s.forgotten;
    const showForgotten = Boolean(forgotten) && local.dismissedForgotten !== forgotten.keySha256;
    show(el.forgottenNotice, showForgotten);
    if (showForgotten) setText(part(el.forgottenNotice, 'masked'), forgotten.masked);
    setBusy(el.revoke, local.busy.has('revoke'));
  }

  function renderStatus(s, state) {
    el.status.dataset.state = state;
    const kind = state === 'connected' ? healthKind(s) : 'none';
    el.status.dataset.health = kind;
    let text = state === 'connected' ? CONNECTED_TEXT[kind] : STATUS_TEXT[state];
    // Not a failed connection: the stored one can't be unlocked.
    if (state === 'failed' && s.error && s.error.code === 'keychain') text = 'System keychain not answering';
    setText(el.statusText, text);
  }

  function renderFailed(s) {
    const error = s.error || {};
    setText(el.errorMessage, error.message || "Couldn't connect to OpenRouter.");
    setText(el.errorNextStep, error.nextStep || 'Try again.');
  }

  function renderConnectForm(state, local, s) {
    const suggested = typeof s.pasteSuggested === 'string' && s.pasteSuggested !== '' ? s.pasteSuggested : null;
    show(el.pasteSuggested, Boolean(suggested));
    if (suggested) setText(el.pasteSuggested, `${suggested}: a browser there may not reach this app, so you will paste the code OpenRouter shows (see Options).`);
    show(el.intro, state === 'disconnected');
    const idle = state === 'failed' ? 'Try again' : 'Connect with OpenRouter';
    if (local.busy.has('reload')) setBusy(el.connect, true, 'Checking…', idle);
    else setBusy(el.connect, local.busy.has('connect'), 'Opening your browser…', idle);
  }

  function renderAwaiting(s, local) {
    const paste = s.callbackMode === 'paste';
    show(el.pasteForm, paste);
    show(el.comeBack, !paste);
    show(el.codeError, paste && Boolean(local.codeError));
    setText(el.codeError, local.codeError ? sentence(local.codeError.message, local.codeError.nextStep) : '');
    setBusy(el.submitCode, local.busy.has('submit-code'), 'Connecting…', 'Connect with this code');

    const browserError = typeof s.browserError === 'string' && s.browserError !== '' ? s.browserError : null;
    show(el.browserError, Boolean(browserError));
    if (browserError) setText(part(el.browserError, 'detail'), browserError);
    el.copyLink.classList.toggle('btn-primary', Boolean(browserError));
    setText(el.openAgain, browserError ? 'Try opening again' : 'Open again');

    // Only an address Copy link asked for: the status holds none.
    show(el.linkField, Boolean(local.link));
    if (el.authUrl.value !== (local.link || '')) el.authUrl.value = local.link || '';
    setText(el.copyFeedback, local.copyFeedback ? local.copyFeedback.text : '');
    el.copyFeedback.classList.toggle('copy-feedback-manual', Boolean(local.copyFeedback && local.copyFeedback.manual));
    setBusy(el.openAgain, local.busy.has('open-again'));
    setBusy(el.copyLink, local.busy.has('copy-link'));
    setBusy(el.cancel, local.busy.has('cancel'));
    tick(s);
  }

  /** Updates the countdown only; called every second while waiting. */
  function tick(s, now = Date.now()) {
    const has = isAmount(s && s.expiresAtMs);
    show(el.countdownRow, has);
    if (!has) return;
    const left = s.expiresAtMs - now;
    setText(el.countdown, countdown(left));
    el.countdown.classList.toggle('countdown-low', left < 60 * 1000);
  }

  function renderHealthAlert(s, kind) {
    const alert = el.healthAlert;
    const error = s.health && s.health.error;
    const visible = kind === 'invalid' || kind === 'offline' || kind === 'problem';
    show(alert, visible);
    show(el.reconnect, kind === 'invalid');
    if (!visible) return;
    alert.classList.toggle('alert-error', kind === 'invalid');
    alert.classList.toggle('alert-warning', kind !== 'invalid');
    alert.setAttribute('role', kind === 'invalid' ? 'alert' : 'status');
    const titles = {
      invalid: 'This key is no longer valid',
      offline: "Can't reach OpenRouter; your key is kept",
      problem: "Couldn't check this key",
    };
    const elsewhere = error.code === 'key-issued-elsewhere';
    setText(part(alert, 'title'), elsewhere ? 'This key belongs to another OpenRouter' : titles[kind]);
    setText(part(alert, 'text'), sentence(error.message, error.nextStep));
  }

  function renderUsage(info, kind) {
    const total = part(el.usage, 'total');
    const periods = part(el.usage, 'periods');
    if (info && isAmount(info.usage)) {
      setText(total, `${money(info.usage)} used`);
      const list = [
        ['today', info.usageDaily],
        ['this week', info.usageWeekly],
        ['this month', info.usageMonthly],
      ].filter(([, value]) => isAmount(value)).map(([name, value]) => `${money(value)} ${name}`);
      setText(periods, list.join(' · '));
      show(periods, list.length > 0);
    } else {
      setText(total, kind === 'unchecked' ? 'Not checked yet' : 'Unknown right now');
      setText(periods, '');
      show(periods, false);
    }
  }

  /** The limit OpenRouter reports for the key. What was asked at consent is
   * only a request: the user can change it on the consent page, so it is
   * shown only where the key came back otherwise. */
  function renderLimit(key, info, kind) {
    const meter = el.limitMeter;
    const limit = info && isAmount(info.limit) ? info.limit : null;
    renderLimitNote(isAmount(key.limit) ? key.limit : null, info ? limit : undefined);
    if (!info) {
      setText(el.limit, kind === 'unchecked' ? 'Not checked yet' : 'Unknown right now');
      show(meter, false);
      return;
    }
    if (limit === null) {
      setText(el.limit, 'No limit');
      show(meter, false);
      return;
    }
    const remaining = isAmount(info.limitRemaining) ? info.limitRemaining : null;
    let line = `${money(limit)} limit`;
    if (remaining !== null) line += `, ${money(Math.max(0, remaining))} left`;
    if (typeof info.limitReset === 'string' && info.limitReset !== '') line += `, resets ${info.limitReset}`;
    setText(el.limit, line);

    const used = remaining !== null ? limit - remaining : isAmount(info.usage) ? info.usage : null;
    if (used === null) {
      show(meter, false);
      return;
    }
    const max = limit > 0 ? limit : 1;
    const value = limit > 0 ? Math.min(Math.max(used, 0), limit) : 1;
    meter.max = max;
    meter.value = value;
    const ratio = value / max;
    meter.dataset.level = ratio >= 0.9 ? 'high' : ratio >= 0.75 ? 'medium' : 'low';
    meter.setAttribute('aria-label', 'Spending against the limit');
    meter.setAttribute('aria-valuetext', `${money(Math.max(used, 0))} of ${money(limit)} used`);
    show(meter, true);
  }

  /** Says so when the key's limit (null: none; undefined: not known yet)
   * is not the one asked for. */
  function renderLimitNote(asked, actual) {
    const cents = (amount) => Math.round(amount * 100);
    let words = null;
    if (asked !== null && actual === null) {
      words = `You asked for a ${money(asked)} limit, but this key has none.`;
    } else if (asked !== null && actual !== undefined && cents(actual) !== cents(asked)) {
      words = `You asked for a ${money(asked)} limit; this key's limit is ${money(actual)}.`;
    }
    show(el.limitNote, words !== null);
    setText(part(el.limitNote, 'text'), words || '');
  }

  function renderExpiry(info, kind) {
    delete el.expiry.dataset.level;
    if (!info) {
      setText(el.expiry, kind === 'unchecked' ? 'Not checked yet' : 'Unknown right now');
      return;
    }
    if (info.expiresAt == null || info.expiresAt === '') {
      setText(el.expiry, 'Never expires');
      return;
    }
    const at = parseTime(info.expiresAt);
    if (at === null) {
      setText(el.expiry, `Expires ${info.expiresAt}`);
      return;
    }
    const now = Date.now();
    if (at <= now) {
      setText(el.expiry, `Expired ${date(at)}`);
      el.expiry.dataset.level = 'danger';
    } else if (at - now <= WEEK_MS) {
      const days = daysUntil(at, now);
      setText(el.expiry, `Expires ${dateTime(at)} (${days === 1 ? 'within a day' : `in ${days} days`})`);
      el.expiry.dataset.level = 'warning';
    } else {
      setText(el.expiry, `Expires ${date(at)}`);
    }
  }

  /** The model control in use carries the `try-model` test id and the label. */
  function useModelControl(active) {
    for (const control of [el.tryModelList, el.tryModelTyped]) {
      if (control === active) control.dataset.testid = 'try-model';
      else delete control.dataset.testid;
    }
    el.tryModelLabel.htmlFor = active.id;
  }

  // The options last put in the list: rebuilding hundreds of them on every
  // render would be slow and would close the list under the user's pointer.
  let shownModels = null;

  function renderModelOptions(local) {
    const select = el.tryModelList;
    const { state, list } = local.models;
    const ready = state === 'ready';
    select.disabled = !ready;
    let shown = ready ? matchingModels(list, local.tryFilter) : [];
    // The chosen model stays listed (first) even when the filter leaves it out.
    const chosen = ready ? list.find((model) => model.id === local.tryModel) : null;
    if (chosen && !shown.includes(chosen)) shown = [chosen, ...shown];
    const same = shownModels !== null && shownModels.length === shown.length
      && shown.every((model, index) => model === shownModels[index]);
    if (!same || (!ready && select.options.length === 0)) {
      const options = shown.map((model) => new Option(model.name || model.id, model.id));
      select.replaceChildren(...(ready ? options : [new Option('Loading models…', '')]));
      shownModels = shown;
    }
    if (ready && select.value !== local.tryModel) select.value = local.tryModel;
  }

  function renderModelPicker(local) {
    const { state, list } = local.models;
    el.trySection.dataset.models = state;
    // Without the list, the user types the model's id.
    const typed = state === 'failed';
    show(el.tryPicker, !typed);
    show(el.tryModelTyped, typed);
    useModelControl(typed ? el.tryModelTyped : el.tryModelList);
    if (typed && el.tryModelTyped.value !== local.tryModel) el.tryModelTyped.value = local.tryModel;
    renderModelOptions(local);

    const chosen = list.find((model) => model.id === local.tryModel);
    let price = '';
    if (typed) price = "Type a model's id, as openrouter.ai/models lists it.";
    else if (state !== 'ready') price = 'Loading the list of models…';
    else if (chosen) price = pricePerMillion(chosen.pricing);
    setText(el.tryPrice, price);

    const filter = local.tryFilter.trim();
    const noMatch = state === 'ready' && filter !== '' && matchingModels(list, filter).length === 0;
    setText(el.tryNoMatch, noMatch ? `No model matches “${filter}”.` : '');
    show(el.tryNoMatch, noMatch);
  }

  /** "12 tokens in, 34 out · $0.0001 · openai/gpt-4o-mini" */
  function usageLine(reply) {
    const usage = reply.usage || {};
    const tokens = (n) => `${count(n)} ${n === 1 ? 'token' : 'tokens'}`;
    let words;
    if (isAmount(usage.promptTokens) && isAmount(usage.completionTokens)) {
      words = `${tokens(usage.promptTokens)} in, ${count(usage.completionTokens)} out`;
    } else if (isAmount(usage.totalTokens)) {
      words = tokens(usage.totalTokens);
    } else {
      words = 'Tokens not reported';
    }
    const cost = isAmount(usage.cost) ? preciseMoney(usage.cost) : 'cost not reported';
    const parts = [words, cost];
    if (reply.model) parts.push(reply.model);
    if (reply.finishReason === 'length') parts.push('cut off at the length limit');
    return parts.join(' · ');
  }

  function renderReply(local) {
    const reply = local.reply;
    const streaming = Boolean(reply && reply.streaming);
    const outcome = reply && reply.outcome ? reply.outcome : '';
    const text = reply ? reply.text : '';
    // A finished empty reply still shows its (empty) box: CSS says so in it.
    show(el.tryReply, text !== '' || outcome === 'done');
    setText(el.tryReply, text);
    el.tryReply.dataset.streaming = streaming ? 'true' : 'false';
    el.tryReply.dataset.outcome = outcome;
    el.tryReply.setAttribute('aria-busy', streaming ? 'true' : 'false');

    show(el.tryProgress, streaming);
    setText(part(el.tryProgress, 'text'), streaming ? REPLY_PHASES[reply.phase] : '');
    show(el.tryUsage, outcome === 'done');
    setText(el.tryUsage, outcome === 'done' ? usageLine(reply) : '');
    show(el.tryStopped, outcome === 'stopped');
    setText(el.tryAnnounce, local.announce);
  }

  function renderTryActions(local) {
    const streaming = Boolean(local.reply && local.reply.streaming);
    setBusy(el.trySend, streaming);
    // Nothing to send yet: looks disabled, but stays focusable and says why when pressed.
    const missing = el.tryPrompt.value.trim() === '' || local.tryModel.trim() === '';
    if (!streaming && missing) el.trySend.setAttribute('aria-disabled', 'true');
    show(el.tryStop, streaming);
  }

  /** The reply's failure, else the model list's: one alert at a time. */
  function renderTryError(local) {
    const failed = local.reply && local.reply.outcome === 'error' ? local.reply : null;
    const listError = !failed && local.models.state === 'failed' ? local.models.error : null;
    show(el.tryError, Boolean(failed || listError));
    show(el.tryLoadModels, Boolean(listError));
    const message = part(el.tryError, 'message');
    const next = part(el.tryError, 'next-step');
    if (failed) {
      setText(message, failed.error.message);
      // A known wait says when, in place of the plugin's general advice.
      setText(next, failed.retry || failed.error.nextStep);
    } else if (listError) {
      setText(message, "The list of models didn't load.");
      setText(next, sentence(listError.message, listError.nextStep, 'Meanwhile, you can type a model id.'));
    }
  }

  function renderTry(local) {
    renderModelPicker(local);
    renderReply(local);
    renderTryActions(local);
    renderTryError(local);
  }

  /** Adds a piece of a streaming reply as text, following it down unless the user scrolled up. */
  function appendReply(text) {
    const box = el.tryReply;
    const following = box.scrollHeight - box.scrollTop - box.clientHeight < 8;
    const last = box.lastChild;
    if (last && last.nodeType === Node.TEXT_NODE) last.appendData(text);
    else box.append(text);
    if (following) box.scrollTop = box.scrollHeight;
  }

  function renderConnected(s, local) {
    const key = s.key || {};
    const health = s.health || null;
    const info = health && health.info ? health.info : null;
    const kind = healthKind(s);

    renderHealthAlert(s, kind);
    setBusy(el.reconnect, local.busy.has('connect'), 'Opening your browser…', 'Reconnect');
    setBusy(el.newKey, local.busy.has('connect'), 'Opening your browser…', 'New key');

    setText(el.maskedKey, key.masked || '');
    show(el.freeTier, Boolean(info && info.isFreeTier));
    setBusy(el.openKeyPage, local.busy.has('revoke'));
    setBusy(el.limitKeyPage, local.busy.has('revoke'));

    const label = key.label || (info && info.label) || '';
    setText(el.keyLabel, label !== '' ? label : 'No label');
    el.keyLabel.classList.toggle('muted', label === '');

    renderUsage(info, kind);
    renderLimit(key, info, kind);
    renderExpiry(info, kind);
    setText(el.connectedAt, dateTime(key.connectedAtMs));

  }

  /** The connected view's own controls; rendered in every state so nothing goes stale. */
  function renderConnectedControls(state, local) {
    setBusy(el.refresh, local.busy.has('refresh'), 'Checking…', 'Refresh');
    const confirmOpen = state === 'connected' && local.confirmOpen;
    show(el.confirm, confirmOpen);
    el.disconnect.setAttribute('aria-expanded', confirmOpen ? 'true' : 'false');
    setBusy(el.confirmDisconnect, local.busy.has('disconnect'), 'Disconnecting…', 'Disconnect');
    renderTry(local);
  }

  function renderCurrentKeyNote(s, state) {
    const masked = s.key && s.key.masked;
    let words = null;
    if (masked && (state === 'awaiting' || state === 'exchanging')) {
      words = ['Your current key ', ' stays until the new one is stored.'];
    } else if (masked && state === 'failed') {
      words = ['Your previous key ', ' is still connected.'];
    }
    show(el.currentKeyNote, Boolean(words));
    show(el.dismiss, Boolean(words) && state === 'failed');
    if (!words) return;
    setText(part(el.currentKeyNote, 'before'), words[0]);
    setText(part(el.currentKeyNote, 'masked'), masked);
    setText(part(el.currentKeyNote, 'after'), words[1]);
  }

  function renderProtection(s) {
    const protection = s.protection || null;
    show(el.protection, Boolean(protection));
    if (!protection) return;
    el.protection.dataset.level = protection.level || 'unavailable';
    setText(el.protectionLabel, `Protection: ${protection.label || protection.level}`);
    setText(el.protectionDetail, protection.detail || '');
    show(el.protectionDetail, Boolean(protection.detail));
  }

  /** Renders everything. `status` may be null before the first answer. */
  function render(status, local) {
    if (!status) {
      renderNotices({}, local);
      return;
    }
    const state = viewState(status);
    renderHeader(status);
    renderNotices(status, local);
    renderStatus(status, state);

    show(el.views.failed, state === 'failed');
    show(el.views.connect, state === 'disconnected' || state === 'failed');
    show(el.views.awaiting, state === 'awaiting');
    show(el.views.exchanging, state === 'exchanging');
    show(el.views.connected, state === 'connected');

    const checked = state === 'connected' && status.health && isAmount(status.health.checkedAtMs);
    show(el.checkedAt, Boolean(checked));
    if (checked) setText(el.checkedAt, `Checked ${when(status.health.checkedAtMs)}`);

    if (state === 'failed') renderFailed(status);
    renderConnectForm(state, local, status);
    if (state === 'awaiting') renderAwaiting(status, local);
    if (state === 'connected') renderConnected(status, local);
    renderConnectedControls(state, local);
    renderCurrentKeyNote(status, state);
    renderProtection(status);
  }

  return { el, render, tick, appendReply };
}
