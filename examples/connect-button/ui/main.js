import * as openrouter from './openrouter.js';

const line = document.getElementById('status');
let seen = false;
const show = (status) => {
  seen = true;
  line.dataset.state = status.state;
  line.textContent = status.key ? `Connected: ${status.key.masked}` : status.error?.message ?? status.state;
};
await openrouter.onStatus(show);
const first = await openrouter.status();
if (!seen) show(first);
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
