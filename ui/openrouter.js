// The plugin's bindings (tauri-plugin-openrouter-api), as the plugin adds
// them to every page of an app with `app.withGlobalTauri`: the panel has
// no build step to import the npm package with. A page opened outside the
// app has none: every call then fails as the bindings' own do there.
const bindings = window.__TAURI_PLUGIN_OPENROUTER__ ?? outsideTheApp();

function outsideTheApp() {
  class OpenRouterError extends Error {
    constructor(message, nextStep = '', code = 'unknown') {
      super(message);
      this.name = 'OpenRouterError';
      this.code = code;
      this.nextStep = nextStep;
    }
  }
  const isOpenRouterError = (value) => value instanceof OpenRouterError;
  const toError = (reason) =>
    isOpenRouterError(reason)
      ? reason
      : new OpenRouterError(reason?.message || 'Something went wrong in the app.', reason?.nextStep || '');
  const noIpc = async () => {
    throw new OpenRouterError("This page can't reach the app.", "Open it in the app's window.", 'no-ipc');
  };
  return {
    STATUS_EVENT: 'openrouter://status',
    OpenRouterError,
    isOpenRouterError,
    toError,
    subscribe: noIpc,
    status: noIpc,
    connect: noIpc,
    cancel: noIpc,
    submitCode: noIpc,
    disconnect: noIpc,
    refresh: noIpc,
    dismiss: noIpc,
    reload: noIpc,
    openAgain: noIpc,
    browserUrl: noIpc,
    openRevokePage: noIpc,
    models: noIpc,
    chat: noIpc,
  };
}

export const {
  STATUS_EVENT,
  OpenRouterError,
  isOpenRouterError,
  toError,
  subscribe,
  status,
  connect,
  cancel,
  submitCode,
  disconnect,
  refresh,
  dismiss,
  reload,
  openAgain,
  browserUrl,
  openRevokePage,
  models,
  chat,
} = bindings;
