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
