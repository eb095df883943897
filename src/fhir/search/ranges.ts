import { isoInstant } from '../instant.js';

/**
 * Dates and numbers as ranges given by their precision — the model the specification uses for both
 * stored values and search values ("2020-03" means the whole of March 2020; "100" means [99.5, 100.5)).
 */

export interface DateRange {
  /** ISO instant, inclusive */
  low: string;
  /** ISO instant, inclusive (the last millisecond of the range) */
  high: string;
}

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export const MIN_INSTANT = '-infinity';
export const MAX_INSTANT = 'infinity';

/**
 * The range a FHIR date, dateTime or instant covers. A value without a timezone is read as UTC, so a day is
 * the whole UTC day. Returns undefined for text that is not a FHIR date.
 */
export function dateRange(value: string): DateRange | undefined {
  const b = dateBounds(value);
  return b && { low: isoInstant(b.start), high: isoInstant(b.end - 1) };
}

/**
 * dateRange of a search value, which must also be a real date and time: Date.UTC would quietly read
 * `2026-13-45` as 14 February 2027, and a client asking for it gets a 400 instead. Stored values keep
 * dateRange's reading: FHIR's own pattern allows `2026-02-30`, and a resource that passed validation with it
 * stays findable where it was found before.
 */
export function searchDateRange(value: string): DateRange | undefined {
  const m = DATE_RE.exec(value);
  return m && onTheCalendar(m) ? dateRange(value) : undefined;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether the fields of a date, as DATE_RE captures them, are on the calendar; a second of 60 is a leap second. */
function onTheCalendar([, y, mo, d, h, mi, s, , zone]: RegExpExecArray): boolean {
  const year = Number(y);
  const tz = zone === 'Z' ? undefined : zone;
  const month = Number(mo ?? 1);
  if (month < 1 || month > 12) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  const day = Number(d ?? 1);
  if (day < 1 || day > days) return false;
  if (Number(h ?? 0) > 23 || Number(mi ?? 0) > 59 || Number(s ?? 0) > 60) return false;
  return tz === undefined || (Number(tz.slice(1, 3)) <= 14 && Number(tz.slice(4, 6)) <= 59);
}

/** dateRange as epoch milliseconds, end exclusive: for callers that need only one end of the range. */
export function dateBounds(value: string): { start: number; end: number } | undefined {
  return fullDateTimeBounds(value) ?? patternDateBounds(value);
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** The number written by `count` ASCII digits at `at`, or -1. */
function digitsAt(v: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const c = v.charCodeAt(i);
    if (!isDigit(c)) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/**
 * dateBounds of the commonest stored form, a dateTime to the second or finer with or without its offset
 * (`2024-05-01T10:00:00Z`, `1989-10-04T06:25:16.5-04:00`), read character by character; undefined for any
 * other text, which patternDateBounds reads. Every write of a dated resource reads its dates, and the regular
 * expression's match (an array and nine strings for each date) cost more than the rest of a date's indexing.
 * test/fhir/search/extract.test.ts checks the two agree.
 */
function fullDateTimeBounds(v: string): { start: number; end: number } | undefined {
  const n = v.length;
  if (n < 19 || v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(10) !== 84 || v.charCodeAt(13) !== 58 || v.charCodeAt(16) !== 58) {
    return undefined;
  }
  const year = digitsAt(v, 0, 4);
  const month = digitsAt(v, 5, 2);
  const day = digitsAt(v, 8, 2);
  const hours = digitsAt(v, 11, 2);
  const minutes = digitsAt(v, 14, 2);
  const seconds = digitsAt(v, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hours < 0 || minutes < 0 || seconds < 0) return undefined;
  let i = 19;
  let ms = -1; // no fraction: the range is the whole second
  if (i < n && v.charCodeAt(i) === 46 /* . */) {
    const from = ++i;
    while (i < n && isDigit(v.charCodeAt(i))) i++;
    if (i === from) return undefined;
    // milliseconds from the first three digits, as `Number((frac + '00').slice(0, 3))`
    ms = 0;
    for (let k = from; k < from + 3; k++) ms = ms * 10 + (k < i ? v.charCodeAt(k) - 48 : 0);
  }
  let offsetMs = 0;
  if (i < n) {
    const c = v.charCodeAt(i);
    if (c === 90 /* Z */) {
      if (i + 1 !== n) return undefined;
    } else if ((c === 43 /* + */ || c === 45) /* - */ && i + 6 === n && v.charCodeAt(i + 3) === 58 /* : */) {
      const offsetHours = digitsAt(v, i + 1, 2);
      const offsetMinutes = digitsAt(v, i + 4, 2);
      if (offsetHours < 0 || offsetMinutes < 0) return undefined;
      offsetMs = (c === 45 ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
    } else return undefined;
  }
  const base = Date.UTC(year, month - 1, day, hours, minutes, seconds) - offsetMs;
  if (Number.isNaN(base)) return undefined;
  return ms < 0 ? { start: base, end: base + 1000 } : { start: base + ms, end: base + ms + 1 };
}

/** dateBounds of any FHIR date, dateTime or instant, read by DATE_RE. */
export function patternDateBounds(value: string): { start: number; end: number } | undefined {
  const m = DATE_RE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  let offsetMs = 0;
  if (tz && tz !== 'Z') {
    const sign = tz[0] === '-' ? -1 : 1;
    offsetMs = sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000;
  }
  let start: number;
  let end: number; // exclusive
  if (mo === undefined) {
    start = Date.UTC(year, 0, 1);
    end = Date.UTC(year + 1, 0, 1);
  } else if (d === undefined) {
    start = Date.UTC(year, Number(mo) - 1, 1);
    end = Date.UTC(year, Number(mo), 1);
  } else if (h === undefined) {
    start = Date.UTC(year, Number(mo) - 1, Number(d));
    end = start + 86_400_000;
  } else {
    const base = Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), s === undefined ? 0 : Number(s)) - offsetMs;
    if (s === undefined) {
      start = base;
      end = base + 60_000;
    } else if (frac === undefined) {
      start = base;
      end = base + 1000;
    } else {
      const ms = Number((frac + '00').slice(0, 3));
      start = base + ms;
      end = start + 1;
    }
  }
  if (Number.isNaN(start) || Number.isNaN(end)) return undefined;
  return { start, end };
}

export interface NumberRange {
  low: number;
  high: number;
}

/** The range of a decimal by its significant digits: "100" → [99.5, 100.5], "1.50" → [1.495, 1.505]. */
export function numberRange(text: string): NumberRange | undefined {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) return undefined;
  const mantissa = text.toLowerCase().split('e')[0];
  const exponent = text.toLowerCase().includes('e') ? Number(text.toLowerCase().split('e')[1]) : 0;
  const dot = mantissa.indexOf('.');
  const decimals = (dot >= 0 ? mantissa.length - dot - 1 : 0) - exponent;
  const half = 0.5 * 10 ** -decimals;
  const digits = Math.min(Math.max(decimals + 1, 0), 20);
  return { low: Number((value - half).toFixed(digits)), high: Number((value + half).toFixed(digits)) };
}
