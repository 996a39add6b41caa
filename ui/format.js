// Formatting of money, dates, times and the countdown, in the user's locale.

// Made on first use: building them loads the locale data, which delays a
// cold start's first paint by tens of milliseconds while the panel shows
// no amount or date at all (not connected).
let made = null;
function formatters() {
  if (made === null) {
    made = {
      usd: new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' }),
      date: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' }),
      dateTime: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }),
      time: new Intl.DateTimeFormat(undefined, { timeStyle: 'short' }),
      count: new Intl.NumberFormat(undefined),
      // By how many decimals: a reply's cost is often a tiny fraction of a cent.
      precise: new Map(),
    };
  }
  return made;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** True for a finite number. */
export function isAmount(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

/** "$1.23"; amounts above zero but under a cent read "< $0.01". */
export function money(value) {
  if (!isAmount(value)) return '';
  if (value > 0 && value < 0.01) return `< ${formatters().usd.format(0.01)}`;
  return formatters().usd.format(value);
}

/** Like `money`, with enough decimals to show tiny amounts: "$0.000084", "$0.50", "$12.00". */
export function preciseMoney(value) {
  if (!isAmount(value)) return '';
  // Two significant digits below a dollar, capped where the figure stops meaning anything.
  const decimals = value > 0 && value < 1 ? Math.min(10, Math.max(2, Math.ceil(-Math.log10(value)) + 1)) : 2;
  const cache = formatters().precise;
  if (!cache.has(decimals)) {
    cache.set(decimals, new Intl.NumberFormat(undefined, {
      style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: decimals,
    }));
  }
  return cache.get(decimals).format(value);
}

/** A whole number with the locale's grouping: "1,234". */
export function count(value) {
  return isAmount(value) ? formatters().count.format(value) : '';
}

/** A price as OpenRouter writes it (a string of USD per token) as a number, or null when unknown. */
export function perToken(price) {
  if (isAmount(price)) return price;
  if (typeof price !== 'string' || price.trim() === '') return null;
  const value = Number(price);
  return Number.isFinite(value) ? value : null;
}

/** A model's price in words: "$0.15 in / $0.60 out per million tokens", "Free", "Price varies". */
export function pricePerMillion(pricing) {
  const prompt = perToken(pricing && pricing.prompt);
  const completion = perToken(pricing && pricing.completion);
  if (prompt === null || completion === null) return 'Price not listed';
  // OpenRouter writes -1 where the price depends on the model it routes to.
  if (prompt < 0 || completion < 0) return 'Price varies';
  if (prompt === 0 && completion === 0) return 'Free';
  const million = (perTokenUsd) => preciseMoney(perTokenUsd * 1e6);
  return `${million(prompt)} in / ${million(completion)} out per million tokens`;
}

/** When a rate limit ends, in words: "You can send again in 20 seconds." or "… after 4:05 PM." */
export function retryWhen(seconds, now = Date.now()) {
  if (!isAmount(seconds) || seconds < 0) return '';
  const whole = Math.max(1, Math.ceil(seconds));
  if (whole <= 90) return `You can send again in ${whole} ${whole === 1 ? 'second' : 'seconds'}.`;
  return `You can send again after ${when(now + whole * 1000, now)}.`;
}

/** A date such as "Mar 12, 2026". */
export function date(ms) {
  return isAmount(ms) ? formatters().date.format(new Date(ms)) : '';
}

/** A date and time such as "Mar 12, 2026, 4:05 PM". */
export function dateTime(ms) {
  return isAmount(ms) ? formatters().dateTime.format(new Date(ms)) : '';
}

/** Only the time when `ms` is today, else date and time. */
export function when(ms, now = Date.now()) {
  if (!isAmount(ms)) return '';
  const a = new Date(ms);
  const b = new Date(now);
  const sameDay = a.getFullYear() === b.getFullYear()
    && a.getMonth() === b.getMonth()
    && a.getDate() === b.getDate();
  return sameDay ? formatters().time.format(a) : formatters().dateTime.format(a);
}

/** Milliseconds since the epoch from an ISO 8601 string, or null. */
export function parseTime(text) {
  if (typeof text !== 'string' || text === '') return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}

/** Whole days from now until `ms`, rounded up (0 when past). */
export function daysUntil(ms, now = Date.now()) {
  return Math.max(0, Math.ceil((ms - now) / DAY_MS));
}

export const WEEK_MS = 7 * DAY_MS;

/** "14:05" (mm:ss), or "1:02:03" from an hour on. Never negative. */
export function countdown(msLeft) {
  const total = Math.max(0, Math.ceil(msLeft / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const two = (n) => String(n).padStart(2, '0');
  return hours > 0 ? `${hours}:${two(minutes)}:${two(seconds)}` : `${two(minutes)}:${two(seconds)}`;
}

/** The host (with port) of a URL, or the text itself when it is not one. */
export function hostOf(url) {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

/** The copy shortcut of this platform. */
export function copyShortcut() {
  const platform = (navigator.userAgentData && navigator.userAgentData.platform)
    || navigator.platform || navigator.userAgent || '';
  return /mac|iphone|ipad/i.test(platform) ? '⌘C' : 'Ctrl+C';
}
