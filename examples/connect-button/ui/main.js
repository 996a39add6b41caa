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
