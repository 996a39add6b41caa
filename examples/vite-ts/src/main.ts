import {
  chat,
  connect,
  isOpenRouterError,
  subscribe,
  type Status,
} from "tauri-plugin-openrouter-api";

const connectForm = document.querySelector<HTMLFormElement>("#connect-form")!;
const deepLinkBox = document.querySelector<HTMLInputElement>("#deep-link")!;
const statusLine = document.querySelector<HTMLElement>("#status")!;
const chatSection = document.querySelector<HTMLElement>("#chat")!;
const chatForm = document.querySelector<HTMLFormElement>("#chat-form")!;
const promptInput = document.querySelector<HTMLInputElement>("#prompt-input")!;
const sendButton = document.querySelector<HTMLButtonElement>("#send")!;
const stopButton = document.querySelector<HTMLButtonElement>("#stop")!;
const reply = document.querySelector<HTMLElement>("#reply")!;
const note = document.querySelector<HTMLElement>("#note")!;

function describe(status: Status): string {
  switch (status.state) {
    case "disconnected":
      return "Not connected.";
    case "awaitingCallback":
      return "Waiting for your answer in the browser…";
    case "exchanging":
      return "Getting your key…";
    case "connected":
      return `Connected: ${status.key?.masked}`;
    case "failed":
      return `${status.error.message} ${status.error.nextStep}`;
  }
}

function explain(error: unknown): string {
  return isOpenRouterError(error)
    ? `${error.message} ${error.nextStep}`
    : String(error);
}

// The current status first, then every change.
subscribe((status) => {
  statusLine.dataset.state = status.state;
  statusLine.textContent = describe(status);
  connectForm.hidden = status.state === "connected";
  chatSection.hidden = status.state !== "connected";
}).catch((error: unknown) => {
  statusLine.textContent = explain(error);
});

connectForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const mode = deepLinkBox.checked ? "deepLink" : "loopback";
  connect({ mode }).catch((error: unknown) => {
    statusLine.textContent = explain(error);
  });
});

// The key stays in the app: the plugin calls OpenRouter with it and streams
// the reply to the page.
chatForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const stop = new AbortController();
  stopButton.onclick = () => stop.abort();
  sendButton.disabled = true;
  stopButton.disabled = false;
  reply.textContent = "";
  reply.dataset.state = "streaming";
  note.textContent = "";
  try {
    const result = await chat(
      {
        model: "openrouter/auto",
        messages: [{ role: "user", content: promptInput.value }],
      },
      { onDelta: (text) => reply.append(text), signal: stop.signal },
    );
    reply.dataset.state = "done";
    note.textContent = `${result.usage?.totalTokens ?? "?"} tokens`;
  } catch (error) {
    const stopped = isOpenRouterError(error) && error.code === "cancelled";
    reply.dataset.state = stopped ? "stopped" : "failed";
    note.textContent = explain(error);
  } finally {
    sendButton.disabled = false;
    stopButton.disabled = true;
  }
});
