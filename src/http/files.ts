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
