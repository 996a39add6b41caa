// An app's code against the packed npm package, compiled with `strict` by
// scripts/check-bindings.sh: every export used as the README shows it. It
// is compiled, never run.

import {
  STATUS_EVENT,
  OpenRouterError,
  browserUrl,
  cancel,
  chat,
  connect,
  disconnect,
  dismiss,
  isOpenRouterError,
  models,
  openAgain,
  openRevokePage,
  refresh,
  reload,
  status,
  submitCode,
  subscribe,
  toError,
  type AwaitingCallbackStatus,
  type CallbackMode,
  type ChatMessage,
  type ChatOptions,
  type ChatRequest,
  type ChatResult,
  type ConnectOptions,
  type ConnectedStatus,
  type Delta,
  type DisconnectedStatus,
  type ErrorCode,
  type ErrorView,
  type ExchangingStatus,
  type FailedStatus,
  type Health,
  type KeyInfo,
  type KeyMeta,
  type Model,
  type ProtectionView,
  type Status,
  type StatusCommon,
  type Usage,
} from 'tauri-plugin-openrouter-api';

const event: 'openrouter://status' = STATUS_EVENT;

/** One line for each state: the compiler checks every state is handled. */
function describe(current: Status): string {
  const common: StatusCommon = current;
  const revision: number = common.revision;
  switch (current.state) {
    case 'disconnected': {
      const disconnected: DisconnectedStatus = current;
      return disconnected.forgotten ? `Forgotten: ${disconnected.forgotten.masked}` : 'Not connected';
    }
    case 'awaitingCallback': {
      const waiting: AwaitingCallbackStatus = current;
      const left = Math.round((waiting.expiresAtMs - Date.now()) / 1000);
      return `Waiting ${left} s (mode ${waiting.callbackMode})`;
    }
    case 'exchanging': {
      const exchanging: ExchangingStatus = current;
      return `Storing the key (revision ${revision}, ${exchanging.protection.label})`;
    }
    case 'connected': {
      const connected: ConnectedStatus = current;
      const key: KeyMeta | null = connected.key;
      const health: Health | null = connected.health;
      const info: KeyInfo | null = health ? health.info : null;
      const used = info && info.usage !== null ? `$${info.usage.toFixed(2)}` : 'unknown';
      return `Connected: ${key ? key.masked : '?'} (${used} used)`;
    }
    case 'failed': {
      const failed: FailedStatus = current;
      const error: ErrorView = failed.error;
      return `${error.message} ${error.nextStep}`;
    }
    default: {
      const never: never = current;
      return never;
    }
  }
}

/** An app's own words for the codes it cares about. */
function words(code: ErrorCode): string | null {
  switch (code) {
    case 'no-credits':
      return 'Add credits on OpenRouter.';
    case 'rate-limited':
      return 'Slow down.';
    case 'key-invalid':
      return 'Connect again.';
    default:
      return null;
  }
}

function explain(reason: unknown): string {
  const error: OpenRouterError = isOpenRouterError(reason) ? reason : toError(reason);
  const retry: number | undefined = error.retryAfterSeconds;
  const partial: string | undefined = error.partialContent;
  return `${words(error.code) ?? error.message} ${error.nextStep} ${retry ?? ''} ${partial ?? ''}`;
}

export async function app(): Promise<void> {
  const stop: () => void = await subscribe((next) => {
    console.log(event, describe(next));
  });
  const now: Status = await status();
  const protection: ProtectionView = now.protection;
  const mode: CallbackMode = now.callbackMode;
  console.log(protection.level, mode, now.baseUrl, now.appVersion);

  const options: ConnectOptions = { keyLabel: null, limitUsd: 5, mode: 'deepLink' };
  const done: Promise<void>[] = [
    connect(options),
    connect(),
    cancel(),
    submitCode('code'),
    disconnect(),
    refresh(),
    dismiss(),
    reload(),
    openAgain(),
    browserUrl().then((url: string) => console.log(url)),
    openRevokePage(),
  ];
  await Promise.allSettled(done);

  const list: Model[] = await models();
  const cheapest = list.find((model) => model.pricing.prompt === '0') ?? list[0];
  const message: ChatMessage = { role: 'user', content: 'Say hello' };
  const request: ChatRequest = { model: cheapest ? cheapest.id : 'openrouter/auto', messages: [message], max_tokens: 64 };
  const controller = new AbortController();
  const chatOptions: ChatOptions = {
    onDelta: (text: string, delta: Delta) => console.log(text, delta.reasoning, delta.toolCalls.length),
    onKeepAlive: () => console.log('waiting'),
    signal: controller.signal,
  };
  try {
    const result: ChatResult = await chat(request, chatOptions);
    const usage: Usage | null = result.usage;
    console.log(result.content, result.reasoning, result.generationId, result.finishReason, result.model, usage?.cost);
  } catch (reason) {
    if (reason instanceof OpenRouterError && reason.code === 'rate-limited') {
      console.log(reason.retryAfterSeconds);
    }
    console.log(explain(reason));
  }
  stop();
}
