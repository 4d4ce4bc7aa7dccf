/** sha256 of downloaded bytes: Web Crypto where the context has it (fast, native), else @noble/hashes
 * (pages served over plain http outside localhost have no crypto.subtle). */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { IntegrityError } from './errors';
import type { FileSpec } from './manifest';

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle) {
    const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
    return bytesToHex(new Uint8Array(digest));
  }
  return bytesToHex(sha256(bytes));
}

/** Throws IntegrityError naming the file and the field (bytes or sha256) that differ. */
export async function verifyFile(spec: FileSpec, bytes: Uint8Array): Promise<void> {
  if (bytes.byteLength !== spec.bytes)
    throw new IntegrityError(spec.path, 'bytes', spec.bytes, bytes.byteLength);
  const digest = await sha256Hex(bytes);
  if (digest !== spec.sha256) throw new IntegrityError(spec.path, 'sha256', spec.sha256, digest);
}
