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
