/**
 * The rules of uploads and downloads that need no store: which types are allowed, how big, what a
 * file may be called, how a Range header reads, and how a file is offered to the browser. Pure, so
 * they are unit-tested without R2 (files.test.ts).
 */
import { limits } from "../protocol/limits";

/** Served inline: raster images a browser shows and never runs. Everything else (SVG included) downloads. */
const INLINE_TYPES: ReadonlySet<string> = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/** A media type's essence, lower-cased, without parameters (`Image/PNG; x=y` → `image/png`); null if malformed. */
export function essence(contentType: string | undefined): string | null {
  const type = contentType?.split(";")[0]!.trim().toLowerCase() ?? "";
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : null;
}

/** The allow-list from `ATTACHMENT_TYPES` (comma-separated). */
export function allowedTypes(configured: string): Set<string> {
  return new Set(configured.split(",").flatMap((t) => essence(t) ?? []));
}

/** The upload limit from `ATTACHMENT_MAX_BYTES`; anything but a positive integer means the default. */
export function maxUploadBytes(configured: string | undefined): number {
  const n = /^[1-9][0-9]{0,15}$/.test(configured ?? "") ? Number(configured) : NaN;
  return Number.isSafeInteger(n) ? n : limits.attachmentMaxBytesDefault;
}

/** Format characters that reorder or hide text (bidi overrides, zero-width): a name must look like what it is. */
const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

/**
 * The name an upload is stored under, from `X-File-Name` (percent-encoded UTF-8): no control or
 * format characters, no path separators, at most 200 characters (the extension kept when cut).
 * Null when the header is missing or not valid percent-encoding.
 */
export function fileName(header: string | undefined): string | null {
  if (header === undefined) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(header);
  } catch {
    return null;
  }
  const cleaned = decoded.toWellFormed().normalize("NFC").replace(INVISIBLE, "").replace(/[/\\]/g, "_").trim();
  const chars = [...cleaned];
  if (chars.length <= limits.attachmentNameMax) return cleaned || "file";
  const dot = cleaned.lastIndexOf(".");
  const ext = dot > 0 && cleaned.length - dot <= 16 ? [...cleaned.slice(dot)] : [];
  return chars.slice(0, limits.attachmentNameMax - ext.length).join("") + ext.join("");
}

/** How a download is offered: inline only for the safe image types; always with the name (RFC 6266). */
export function contentDisposition(name: string, contentType: string): string {
  const kind = INLINE_TYPES.has(contentType) ? "inline" : "attachment";
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

export const isInline = (contentType: string) => INLINE_TYPES.has(contentType);

/**
 * A `Range` header against a file of `size` bytes: the one byte range it asks for, "unsatisfiable"
 * (it starts past the end: 416), or null to send the whole file (no header, another unit, several
 * ranges or a malformed one, which RFC 9110 lets a server ignore).
 */
export function byteRange(header: string | undefined, size: number): { offset: number; length: number } | "unsatisfiable" | null {
  const m = header === undefined ? null : /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== "" && Number(m[2]) < start) return null;
  if (start >= size) return "unsatisfiable";
  return { offset: start, length: end - start + 1 };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const IMF_FIXDATE = /^([A-Z][a-z]{2}), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850_DATE = /^([A-Z][a-z]{5,8}), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME_DATE = /^([A-Z][a-z]{2}) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/** Milliseconds since the epoch for a calendar time, or null when a field is out of range (31 Feb, 25:00). */
function utc(year: number, month: number, day: number, h: number, m: number, s: number, weekday: number): number | null {
  if (month < 0 || h > 23 || m > 59 || s > 60) return null;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: years 0–99 stay themselves.
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(h, m, Math.min(s, 59), 0);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month || date.getUTCDate() !== day) return null;
  // A weekday that does not go with the date: not a date any server sent.
  if (date.getUTCDay() !== weekday) return null;
  return date.getTime();
}

/**
 * An HTTP-date (RFC 9110 §5.6.7) in milliseconds since the epoch, or null when the value is not one.
 * IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms recipients must still
 * read, rfc850-date (`Sunday, 06-Nov-94 08:49:37 GMT`, a two-digit year more than 50 years ahead
 * being in the past) and asctime-date (`Sun Nov  6 08:49:37 1994`). Any year 0001–9999 is read
 * exactly: the caller decides what a date far off means, nothing here throws.
 */
export function parseHttpDate(value: string | undefined, now = Date.now()): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[4]), MONTHS.indexOf(m[3]!), Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]), DAYS.indexOf(m[1]!));
  m = RFC850_DATE.exec(text);
  if (m) {
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(m[4]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, MONTHS.indexOf(m[3]!), Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]), LONG_DAYS.indexOf(m[1]!));
  }
  m = ASCTIME_DATE.exec(text);
  if (m) return utc(Number(m[7]), MONTHS.indexOf(m[2]!), Number(m[3]!.trim()), Number(m[4]), Number(m[5]), Number(m[6]), DAYS.indexOf(m[1]!));
  return null;
}

/** The entity-tags of an `If-Match` / `If-None-Match` list, as sent (`W/` kept); "*" for any; null when malformed. */
function entityTags(header: string): string[] | "*" | null {
  const text = header.trim();
  if (text === "*") return "*";
  const tags: string[] = [];
  for (const part of text.split(",")) {
    const tag = part.trim();
    if (tag === "") continue;
    if (!/^(?:W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/.test(tag)) return null;
    tags.push(tag);
  }
  return tags.length > 0 ? tags : null;
}

const opaque = (tag: string) => (tag.startsWith("W/") ? tag.slice(2) : tag);

/** What a file's conditional request is answered with (RFC 9110 §13.2.2). */
export type Precondition = "send" | "not_modified" | "failed";

/**
 * Evaluates a GET's preconditions against a file (its strong ETag, quoted, and when it was stored),
 * in RFC 9110's order: If-Match, else If-Unmodified-Since (412 when it fails); then If-None-Match,
 * else If-Modified-Since (304 when the client's copy is current). Dates compare at whole seconds, as
 * `Last-Modified` states them. A header that does not parse is ignored, and so is an
 * If-Modified-Since later than `now` (RFC 9110 §13.1.3); nothing here can fail on what a client sends.
 */
export function evaluatePreconditions(
  header: (name: string) => string | undefined,
  file: { etag: string; uploaded: number },
  now = Date.now(),
): Precondition {
  const modifiedSeconds = Math.floor(file.uploaded / 1000);
  // A list that does not parse counts as no header at all.
  const ifMatch = entityTags(header("If-Match") ?? "");
  if (ifMatch !== null) {
    // Strong comparison: a weak tag never matches.
    if (ifMatch !== "*" && !ifMatch.includes(file.etag)) return "failed";
  } else {
    const since = parseHttpDate(header("If-Unmodified-Since"), now);
    if (since !== null && modifiedSeconds > Math.floor(since / 1000)) return "failed";
  }
  const ifNoneMatch = entityTags(header("If-None-Match") ?? "");
  if (ifNoneMatch !== null) {
    // Weak comparison.
    return ifNoneMatch === "*" || ifNoneMatch.some((t) => opaque(t) === opaque(file.etag)) ? "not_modified" : "send";
  }
  const since = parseHttpDate(header("If-Modified-Since"), now);
  if (since === null || since > now) return "send";
  return modifiedSeconds <= Math.floor(since / 1000) ? "not_modified" : "send";
}
