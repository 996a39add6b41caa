// The relay: OpenRouter sends the browser here after the consent page
// (so that page shows this site's title instead of 127.0.0.1:PORT), and
// this page hands the answer to the app that is waiting on this computer.
//
// It forwards to two places only: the app's loopback listener,
// http://127.0.0.1:<port>/callback/<s>, with `port` a plain number the app
// put in its callback URL; or the app's own scheme, SCHEME below, fixed in
// this file: SCHEME:/callback/<s>, when the callback URL says `to=app`. No
// parameter can name any other destination: this is not an open
// redirector.
//
// `s` is the flow's secret, drawn by the app for each flow (43 characters
// of base64url) and put in the callback URL it gave OpenRouter. OpenRouter
// documents no `state` round trip, so the secret rides in the address
// itself: the app accepts an answer only at /callback/<its secret>. A
// stranger can therefore neither end nor steer a flow: without `s` this
// page forwards nothing, and with a wrong `s` the app turns the answer away
// and keeps waiting. `s` must appear exactly once and be 22 to 128
// characters of A-Z a-z 0-9 - _, so that it can't leave the callback path.
//
// Only `code` and `error` are passed on. The app neither sends a `state`
// nor needs one back, so a `state` that comes along is dropped, like any
// other parameter. The code leaves this page's address (and history)
// before the browser moves on; the page loads nothing, and sends no
// referrer (see index.html).
'use strict';

/** The app's private-use scheme (reverse DNS of its identifier). */
const SCHEME = 'io.github.openrouterconnect';

/** The flow's secret as the app draws it: base64url, nothing else. */
const SECRET = /^[A-Za-z0-9_-]{22,128}$/;

/** The parameters passed on to the app. */
const FORWARDED = ['code', 'error'];

/** Where the answer in `search` goes, or why it goes nowhere. */
function destination(search) {
  const params = new URLSearchParams(search);
  for (const name of ['port', 'to', 's', ...FORWARDED]) {
    if (params.getAll(name).length > 1) return { refused: `the parameter ${name} appears twice` };
  }
  const secret = params.get('s');
  if (secret === null || !SECRET.test(secret)) {
    return { refused: 'it does not carry the secret of the app\u2019s sign-in' };
  }
  const forwarded = new URLSearchParams();
  for (const name of FORWARDED) {
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
    return { url: `http://127.0.0.1:${port}/callback/${secret}?${forwarded}` };
  }
  if (to === 'app' && port === null) {
    return { url: `${SCHEME}:/callback/${secret}?${forwarded}` };
  }
  return { refused: 'it does not say which way the app waits' };
}

function relay() {
  const target = destination(window.location.search);
  // The code leaves this page's address and history at once.
  window.history.replaceState(null, '', window.location.pathname);
  if (target.url) {
    if (target.url.startsWith(`${SCHEME}:`)) {
      // The browser may ask before it opens the app, and the user may
      // dismiss that: the address no longer holds the answer, so a link
      // kept in this page offers it again.
      const link = document.createElement('a');
      link.href = target.url;
      link.textContent = 'Open the app';
      link.dataset.testid = 'open-app';
      const text = document.getElementById('text');
      text.textContent = 'If the app did not open, ';
      text.append(link, '.');
    }
    window.location.replace(target.url);
    return;
  }
  document.getElementById('title').textContent = 'This link could not be passed on';
  document.getElementById('text').textContent =
    `The answer from OpenRouter could not be handed to the app: ${target.refused}. Go back to the app and connect again.`;
  document.title = 'Could not return to the app';
}

relay();
