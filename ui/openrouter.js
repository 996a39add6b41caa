// The plugin's bindings (tauri-plugin-openrouter-api), as the plugin adds
// them to every page of an app with `app.withGlobalTauri`: the panel has
// no build step to import the npm package with.
const bindings = window.__TAURI_PLUGIN_OPENROUTER__;
if (!bindings) throw new Error('The OpenRouter plugin\'s bindings are missing: open this page in the app.');

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
  openRevokePage,
  models,
  chat,
} = bindings;
