import * as openrouter from './openrouter.js';

const line = document.getElementById('status');
const show = (status) => {
  line.dataset.state = status.state;
  line.textContent = status.key ? `Connected: ${status.key.masked}` : status.error?.message ?? status.state;
};
openrouter.onStatus(show);
openrouter.status().then(show);
document.getElementById('connect').onclick = () => openrouter.connect().catch((e) => { line.textContent = e.message; });
