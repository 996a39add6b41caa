// The relay: OpenRouter sends the browser here after the consent page
// (so that page shows this site's title instead of 127.0.0.1:PORT), and
// this page hands the answer to the app that is waiting on this computer.
//
// It forwards to two places only: the app's loopback listener,
// http://127.0.0.1:<port>/callback, with `port` a plain number the app put
// in its callback URL; or the app's own scheme, SCHEME below, fixed in
// this file. No parameter can name any other destination: this is not an
// open redirector. Only `code`, `state` and `error` are passed on.
'use strict';

/** The app's private-use scheme (reverse DNS of its identifier). */
const SCHEME = 'io.github.openrouterconnect';

/** Where the answer in `search` goes, or an error message. */
function destination(search) {
  const params = new URLSearchParams(search);
  for (const name of ['port', 'to', 'code', 'state', 'error']) {
    if (params.getAll(name).length > 1) return { refused: `the parameter ${name} appears twice` };
  }
  const forwarded = new URLSearchParams();
  for (const name of ['code', 'state', 'error']) {
    const value = params.get(name);
    if (value !== null) {
      if (value.length === 0 || value.length > 512) return { refused: `the ${name} is not valid` };
      forwarded.set(name, value);
    }
  }
  if (!forwarded.has('code') && !forwarded.has('error')) return { refused: 'there is no answer to pass on' };

  const port = params.get('port');
  const to = params.get('to');
  if (port !== null && to === null) {
    if (!/^[1-9][0-9]{0,4}$/.test(port) || Number(port) < 1024 || Number(port) > 65535) {
      return { refused: 'the port is not valid' };
    }
    return { url: `http://127.0.0.1:${port}/callback?${forwarded}` };
  }
  if (to === 'app' && port === null) {
    return { url: `${SCHEME}:/callback?${forwarded}` };
  }
  return { refused: 'it does not say which way the app waits' };
}

function relay() {
  const target = destination(window.location.search);
  // The code leaves this page's address and history at once.
  window.history.replaceState(null, '', window.location.pathname);
  if (target.url) {
    window.location.replace(target.url);
    return;
  }
  document.getElementById('title').textContent = 'This link could not be passed on';
  document.getElementById('text').textContent =
    `The answer from OpenRouter could not be handed to the app: ${target.refused}. Go back to the app and connect again.`;
  document.title = 'Could not return to the app';
}

relay();
