// The plugin's bindings, which it adds to the page (`app.withGlobalTauri`).
// With a bundler, `import * as openrouter from 'tauri-plugin-openrouter-api'`.
const openrouter = window.__TAURI_PLUGIN_OPENROUTER__;

const line = document.getElementById('status');
await openrouter.subscribe((status) => {
  line.dataset.state = status.state;
  line.textContent = status.key ? `Connected: ${status.key.masked}` : status.error?.message ?? status.state;
});
document.getElementById('connect').onclick = () => openrouter.connect().catch((e) => { line.textContent = e.message; });

// Each Ask streams its own reply; several may run at once.
document.getElementById('ask').onsubmit = async (event) => {
  event.preventDefault();
  const item = document.createElement('li');
  const text = item.appendChild(document.createElement('span'));
  const stop = item.appendChild(document.createElement('button'));
  const note = item.appendChild(document.createElement('small'));
  stop.textContent = 'Stop';
  document.getElementById('replies').append(item);
  const controller = new AbortController();
  stop.onclick = () => controller.abort();
  item.dataset.state = 'streaming';
  try {
    const reply = await openrouter.chat(
      { model: 'openrouter/auto', messages: [{ role: 'user', content: document.getElementById('prompt').value }] },
      { onDelta: (delta) => { text.textContent += delta; }, signal: controller.signal },
    );
    item.dataset.state = 'done';
    note.textContent = ` ${reply.usage?.totalTokens ?? '?'} tokens`;
  } catch (error) {
    item.dataset.state = 'failed';
    item.dataset.code = error.code;
    note.textContent = ` ${error.message} ${error.nextStep}`;
  } finally {
    stop.remove();
  }
};
