/**
 * Reads a request body as UTF-8 text (or as bytes), refusing — without buffering further — one
 * longer than the limit (by its declared length, or as it streams in).
 */
import type { IncomingMessage } from 'node:http';

export type BodyText =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: 'too-large' | 'unreadable' | 'not-utf8' };

export type BodyBytes =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly reason: 'too-large' | 'unreadable' };

/** The body's bytes in one buffer of their own (never a slice of a shared pool: transferable). */
export function readBodyBytes(req: IncomingMessage, limit: number): Promise<BodyBytes> {
  return readBody<BodyBytes>(req, limit, (chunks, size) => {
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    return { ok: true, bytes };
  });
}

export function readBodyText(req: IncomingMessage, limit: number): Promise<BodyText> {
  return readBody<BodyText>(req, limit, (chunks) => {
    try {
      return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)) };
    } catch {
      return { ok: false, reason: 'not-utf8' };
    }
  });
}

type Unread = { readonly ok: false; readonly reason: 'too-large' | 'unreadable' };

function readBody<T extends BodyText | BodyBytes>(
  req: IncomingMessage,
  limit: number,
  complete: (chunks: readonly Buffer[], size: number) => T,
): Promise<T | Unread> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit)
    return Promise.resolve({ ok: false, reason: 'too-large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: T | Unread): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      req.pause();
      finish({ ok: false, reason: 'too-large' });
    };
    const onEnd = (): void => finish(complete(chunks, size));
    const onError = (): void => finish({ ok: false, reason: 'unreadable' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
